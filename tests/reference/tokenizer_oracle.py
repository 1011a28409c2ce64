"""Holds the C++ tokenizer (engine/tokenizer.h) to Hugging Face `tokenizers` on a real vocabulary.

    scripts/tokenizer-venv.sh
    build/tokenizer-venv/bin/python tests/reference/tokenizer_oracle.py build/gateway/airlock \
        [build/tekken-tokenizer.json]

(CTest runs it as oracle.tokenizer through run_tokenizer_oracle.sh.)

The vocabulary is Mistral's Tekken (shipped inside PyPI's mistral-common), from which Nemotron
3's derives, converted to tokenizer.json the way transformers converts it
(transformers.integrations.mistral.convert_tekken_tokenizer). The strings: every prompt of
Arena-Hard v2.0 (multilingual, code), the Presidio PII texts and the detect-secrets test files
from ../shared/data when present, and generated ones (whitespace runs, digit runs, emoji and
ZWJ sequences, contractions, special-token text, random code points, invalid UTF-8). Both
tokenizers encode each one (HF gets the bytes decoded with errors="replace", which is what the
C++ tokenizer does to invalid UTF-8); the ids must be equal, and the C++ decoding of the ids
must equal HF's. Prints a summary; exit status 1 on any difference (the first ten shown).
"""
import base64
import glob
import json
import os
import random
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


def tekken_tokenizer_json(path):
    if os.path.exists(path):
        return path
    import mistral_common
    from transformers.integrations.mistral import convert_tekken_tokenizer
    tekken = os.path.join(os.path.dirname(mistral_common.__file__), "data", "tekken_240911.json")
    convert_tekken_tokenizer(tekken).backend_tokenizer.save(path)
    return path


def real_texts():
    texts = []
    for name in ("arena_hard_v2.0_question.jsonl", "arena_hard_v0.1_question.jsonl"):
        p = os.path.join(DATA, "difficulty", "arena-hard", name)
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    text = row.get("prompt") or (row.get("turns") or [{}])[0].get("content")
                    if isinstance(text, str):
                        texts.append(text.encode("utf-8"))
    p = os.path.join(DATA, "pii", "presidio_synth_dataset_v2.json")
    if os.path.exists(p):
        with open(p, encoding="utf-8") as f:
            texts += [row["full_text"].encode("utf-8") for row in json.load(f)[:600]]
    for p in sorted(glob.glob(os.path.join(DATA, "secrets", "detect-secrets", "test_data", "**", "*"),
                         recursive=True)):
        if os.path.isfile(p) and os.path.getsize(p) < 200_000:
            with open(p, "rb") as f:
                texts.append(f.read())
    return texts


def generated_texts(n, seed=20261202):
    rng = random.Random(seed)
    pieces = [
        "Hello", " world", "I'm", "they'LL", "we've", "DON'T", "x's", "  ", "\t", "\n", "\r\n",
        "\n\n\n", "    ", "1234567", "3.14159", "1,000,000", "٣٤٥", "ⅫⅣ", "²³", "🤗", "👩‍👩‍👧‍👦",
        "🇫🇷", "e\u0301", "naïve", "Straße", "Ελληνικά", "русский текст", "中文文本测试", "日本語のテキスト",
        "한국어", "العربية", "हिन्दी", "ภาษาไทย", "def f(x):\n    return x**2\n", "if (a && b) { return; }",
        "<s>", "</s>", "[INST]", "[/INST]", "<unk>", "<<SYS>>", "$$\\frac{a}{b}$$", "http://x.y/z?q=1",
        "\u00a0", "\u2003", "\u3000", "\u200b", "\ufeff", "—", "…", "«»", "\u0000", "\x7f",
    ]
    out = []
    for _ in range(n):
        k = rng.randint(1, 8)
        s = "".join(rng.choice(pieces) for _ in range(k))
        b = s.encode("utf-8")
        r = rng.random()
        if r < 0.15:  # random code points, no surrogates
            cps = [rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0xd7ff),
                               rng.randint(0xe000, 0xfffd), rng.randint(0x10000, 0x10ffff)])
                   for _ in range(rng.randint(1, 12))]
            b = "".join(map(chr, cps)).encode("utf-8")
        elif r < 0.30:  # invalid UTF-8: stray continuation, cut sequences, overlongs, surrogates
            bad = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                   b"\xe2\x82", b"\xf0\x9f\xa4", b"\xff", b"\xfe"]
            at = rng.randint(0, len(b))
            b = b[:at] + rng.choice(bad) + b[at:]
        elif r < 0.40:  # long runs
            b = rng.choice([" ", "\n", "7", "a", "é", "🤗", " \n"]).encode("utf-8") * rng.randint(20, 600)
        out.append(b)
    return out


def main():
    airlock = sys.argv[1]
    cache = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build", "tekken-tokenizer.json")
    os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
    path = tekken_tokenizer_json(cache)  # converted once, then reused
    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(path)
    texts = real_texts() + generated_texts(3000)
    lines = "".join(json.dumps({"b64": base64.b64encode(t).decode()}) + "\n" for t in texts)
    r = subprocess.run([airlock, "engine", "tokenize", path, "--jsonl"], input=lines.encode(),
                       capture_output=True, check=True)
    ours = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(ours) == len(texts), (len(ours), len(texts))
    bad = []
    tokens = 0
    for text, mine in zip(texts, ours):
        s = text.decode("utf-8", errors="replace")
        want = hf.encode(s, add_special_tokens=False).ids
        tokens += len(want)
        decoded = base64.b64decode(mine["decoded_b64"])
        want_decoded = hf.decode(want, skip_special_tokens=False).encode("utf-8")
        if mine["ids"] != want or decoded != want_decoded:
            bad.append((text, want, mine["ids"], decoded, want_decoded))
    print(f"tokenizer oracle: {len(texts)} strings, {tokens} tokens, {len(bad)} differ "
          f"(Tekken vocabulary, HF tokenizers as the oracle)")
    for text, want, got, decoded, want_decoded in bad[:10]:
        print(f"  text {text[:80]!r}\n    hf  {want[:30]}\n    ours {got[:30]}")
        if decoded != want_decoded:
            print(f"    decoded {decoded[:60]!r} vs hf {want_decoded[:60]!r}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
