"""Writes the model stage's goldens (tests/data/classifier/model_stage_goldens.json) with the
numpy reference (nemotron_h.py) and Hugging Face `tokenizers`.

    scripts/tokenizer-venv.sh          # numpy, tokenizers
    build/tokenizer-venv/bin/python tests/reference/model_stage_goldens.py build/gateway/airlock

`airlock model synth DIR --seed 0` writes the tiny preset model (the same bytes as
engine::SynthesizeModel(PresetConfig("tiny"), DIR, {})). For each fixed request:
  - the conversation as the engine renders it (classifier/chat_prompt.h RenderConversation,
    reproduced below for system / user messages) and its ids from `tokenizers` on the model's
    tokenizer.json;
  - label scoring (classifier/model_stage.h): for each default question (QUESTIONS, copied
    from DefaultModelQuestions in classifier/model_stage.cc), the prompt is the conversation's
    ids followed by the question turn's, encoded separately ("<|im_start|>user\\n" + text +
    "<|im_end|>\\n<|im_start|>assistant\\n<think></think>"); the reference logits of the last
    position are kept, and each label's probability is the softmax over the labels' first
    tokens' logits;
  - heads (classifier/heads.h): the residual stream after layer HEADS_LAYER, mean-pooled over
    the conversation's tokens, standardised ((x - mean) * scale), softmax(W x + b), for the
    head file under "heads" (weights from a seeded numpy RNG, float32 values).
The script checks that the goldens tell the documented computation from the likely mistakes
(a softmax over the whole vocabulary, the last token's hidden state instead of the mean).
tests/unit/classifier/model_stage_golden_test.cc synthesizes the same model and holds
ModelStage to these numbers.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tokenizers

import nemotron_h

YES_NO = ["yes", "no"]
# DefaultModelQuestions() (classifier/model_stage.cc): id, text, labels (in order).
QUESTIONS = [
    ("level",
     "How sensitive is the conversation above for the company it comes from: could it be "
     "published, shared inside the company, only with those who need it, or with no one "
     "outside a small group? Answer with one word: public, internal, confidential or "
     "restricted.",
     ["public", "internal", "confidential", "restricted"]),
    ("difficulty",
     "How hard is the task in the conversation above for a small language model? Answer "
     "with one word: easy or hard.",
     ["easy", "hard"]),
    ("confidential.business",
     "Does the conversation above contain confidential business information, such as "
     "unannounced deals, finances, strategy or customers? Answer yes or no.",
     YES_NO),
    ("pii.health",
     "Does the conversation above contain health information about a person? Answer yes or "
     "no.",
     YES_NO),
    ("pii.person",
     "Does the conversation above name a private person? Answer yes or no.",
     YES_NO),
]
REQUESTS = [
    {"name": "system and user",
     "messages": [{"role": "system", "content": "You help the finance team."},
                  {"role": "user", "content": "Draft a note on the Q3 acquisition of Harbor "
                                              "Foods; Dr. Lee's results are in."}]},
    {"name": "user only",
     "messages": [{"role": "user", "content": "What is the capital of France, and why?"}]},
]
# Of the tiny preset's 8 (MEM*E-ME): the second Mamba layer, which moves the residual stream
# enough that the layer before or after it would give other probabilities (checked below).
HEADS_LAYER = 2
HEADS = [
    ("level", ["public", "internal", "confidential", "restricted"]),
    ("difficulty", ["easy", "hard"]),
    ("pii.person", ["no", "yes"]),
]


def render_conversation(messages):
    """engine::RenderNemotron3Chat with enable_thinking off and no generation prompt, for a
    leading system message and user messages (no tools, no assistant or tool turns)."""
    system = ""
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    out = "<|im_start|>system\n" + system + "<|im_end|>\n"
    for m in messages:
        assert m["role"] in ("user", "system"), "only system / user turns are reproduced here"
        out += "<|im_start|>" + m["role"] + "\n" + m["content"] + "<|im_end|>\n"
    return out


def question_turn(text):
    return "<|im_start|>user\n" + text + "<|im_end|>\n<|im_start|>assistant\n<think></think>"


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def f32(a):
    """float32 values, as the JSON holds them (9 significant digits round-trip a float)."""
    return [float(f"{v:.9g}") for v in np.asarray(a, dtype=np.float32).ravel()]


def make_heads(hidden):
    rng = np.random.default_rng(8)
    heads = []
    for question, classes in HEADS:
        k = len(classes)
        heads.append({
            "question": question, "classes": classes,
            "mean": f32(rng.normal(0.0, 0.05, hidden)),
            "scale": f32(rng.uniform(2.0, 6.0, hidden)),  # the features' spread is about 0.2
            "weights": f32(rng.normal(0.0, 0.5, (k, hidden))),
            "bias": f32(rng.normal(0.0, 0.5, k)),
        })
    return {"layer": HEADS_LAYER, "heads": heads}


def head_probabilities(head, x):
    """Head::Probabilities (classifier/heads.cc), in float64 from the file's float32 values."""
    mean, scale = np.asarray(head["mean"], np.float32), np.asarray(head["scale"], np.float32)
    w = np.asarray(head["weights"], np.float32).astype(np.float64).reshape(len(head["classes"]), -1)
    b = np.asarray(head["bias"], np.float32).astype(np.float64)
    z = w @ ((x - mean.astype(np.float64)) * scale.astype(np.float64)) + b
    return softmax(z)


def main():
    airlock = sys.argv[1]
    out_path = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "data",
                                             "classifier", "model_stage_goldens.json"))
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "tiny")
        subprocess.run([airlock, "model", "synth", model, "--seed", "0"], check=True,
                       stdout=subprocess.DEVNULL)
        tok = tokenizers.Tokenizer.from_file(os.path.join(model, "tokenizer.json"))

        def encode(text):  # engine::Tokenizer::Encode: no BOS or template tokens added
            return tok.encode(text, add_special_tokens=False).ids

        hidden = nemotron_h.load_config(model)["hidden_size"]
        heads = make_heads(hidden)
        questions = []
        for qid, text, labels in QUESTIONS:
            firsts = [encode(label)[0] for label in labels]
            assert len(set(firsts)) == len(firsts), f"{qid}: labels share a first token"
            questions.append({"id": qid, "text": text, "labels": labels, "label_ids": firsts,
                              "turn_ids": encode(question_turn(text))})

        requests = []
        margins = {}  # what a likely mistake would move the probabilities by, at the least
        for req in REQUESTS:
            text = render_conversation(req["messages"])
            ids = encode(text)
            answers, last_logits, alone = {}, {}, 0
            for q in questions:
                logits = nemotron_h.forward(model, ids + q["turn_ids"])[-1]
                p = softmax(logits[q["label_ids"]])
                # A softmax over the whole vocabulary would give very different numbers.
                wrong = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
                moved = np.max(np.abs(wrong[q["label_ids"]] - p))
                assert moved > 0.05, (q["id"], moved)
                margins["softmax over the vocabulary"] = min(
                    margins.get("softmax over the vocabulary", 1), moved)
                # The question without the conversation before it: a small but visible change.
                without = softmax(nemotron_h.forward(model, q["turn_ids"])[-1][q["label_ids"]])
                alone = max(alone, np.max(np.abs(without - p)))
                answers[q["id"]] = {label: float(v) for label, v in zip(q["labels"], p)}
                last_logits[q["id"]] = [float(f"{v:.7g}") for v in logits]
            assert alone > 1e-4, alone
            margins["the question without the conversation"] = min(
                margins.get("the question without the conversation", 1), alone)
            states = nemotron_h.hidden_after(model, ids, HEADS_LAYER)  # [len(ids), hidden]
            pooled = states.mean(axis=0)
            head_answers = {}
            for h in heads["heads"]:
                p = head_probabilities(h, pooled)
                head_answers[h["question"]] = {c: float(v) for c, v in zip(h["classes"], p)}
            # The last token's state, or the layer before or after, would give other numbers.
            for what, x in (
                    ("heads: the last token", states[-1]),
                    ("heads: the layer before",
                     nemotron_h.hidden_after(model, ids, HEADS_LAYER - 1).mean(axis=0)),
                    ("heads: the layer after",
                     nemotron_h.hidden_after(model, ids, HEADS_LAYER + 1).mean(axis=0))):
                moved = max(np.max(np.abs(head_probabilities(h, x) -
                                          list(head_answers[h["question"]].values())))
                            for h in heads["heads"])
                assert moved > 0.01, (what, moved)
                margins[what] = min(margins.get(what, 1), moved)
            requests.append({**req, "text": text, "ids": ids, "answers": answers,
                             "last_logits": last_logits,
                             "pooled_hidden": [float(v) for v in pooled],
                             "head_answers": head_answers})
            print(f"{req['name']}: {len(ids)} tokens; " +
                  ", ".join(f"{q}: " + " ".join(f"{l}={v:.4f}" for l, v in a.items())
                            for q, a in answers.items()))

        for what, moved in margins.items():
            print(f"{what}: moves a probability by {moved:.3g} or more")

    with open(out_path, "w") as f:
        json.dump({"generator": "tests/reference/model_stage_goldens.py (numpy, float64; "
                                "HF tokenizers)",
                   "model": {"preset": "tiny", "seed": 0}, "questions": questions,
                   "heads": heads, "requests": requests}, f)
        f.write("\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
