"""The `airlock` command line: `airlock classify`, `airlock policy` (lint, explain, test, print),
`airlock model` (synth, inspect), `airlock engine logits|tokenize|run` and `airlock eval detectors`.

Environment (set by CTest): AIRLOCK_CLI (path of the `airlock` binary).
"""
import json
import os
import subprocess

import pytest

CLI = os.environ.get("AIRLOCK_CLI")

pytestmark = pytest.mark.skipif(not CLI, reason="AIRLOCK_CLI is not set (run through ctest)")


def airlock(*args, stdin=b""):
    return subprocess.run([CLI, *map(str, args)], input=stdin, capture_output=True, timeout=120)


def classify_json(data, *args):
    r = airlock("classify", "--json", *args, stdin=data)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


# ---------------------------------------------------------------------------------------------
# classify: input forms


def test_plain_text_is_one_user_message_and_the_table_masks_values():
    text = b"Mail jane.doe@example.com and bob@example.org now"
    r = airlock("classify", stdin=text)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    header = out.splitlines()[0].split()
    assert header == ["LEVEL", "CATEGORY", "DETECTOR", "CONFIDENCE", "LOCATION", "EXCERPT"]
    rows = [line for line in out.splitlines() if "pii.email" in line]
    assert len(rows) == 2
    assert rows[0].startswith("confidential")
    assert "messages[0].content [5,25)" in rows[0]
    assert "messages[0].content [30,45)" in rows[1]
    # The values never appear; their first two characters do, then ***.
    assert "jane.doe@example.com" not in out and "bob@example.org" not in out
    assert "Mail ja***" in rows[0] and "bo*** now" in rows[1]
    assert "\nlevel: confidential\n" in out
    assert "\nfindings: 2\n" in out
    assert "\ndifficulty: " in out and "\n  length " in out


def test_file_argument_and_dash_read_the_same_request(tmp_path):
    path = tmp_path / "request.txt"
    path.write_bytes(b"write to ops@corp.example.com")
    from_file = airlock("classify", "--json", path)
    from_stdin = airlock("classify", "--json", "-", stdin=path.read_bytes())
    assert from_file.returncode == 0 and from_stdin.returncode == 0
    assert json.loads(from_file.stdout) == json.loads(from_stdin.stdout)


def test_json_request_every_field_is_assessed():
    request = {
        "messages": [
            {"role": "system", "content": "You are a mail assistant."},
            {"role": "USER", "content": "forward it to bob@example.org"},
            {"role": "ASSISTANT", "tool_calls": [
                {"id": "c1", "name": "send_mail", "arguments": "{\"to\": \"alice@example.com\"}"}]},
            {"role": "TOOL", "tool_call_id": "c1", "content": "sent to alice@example.com"},
        ],
        "tools": [{"name": "send_mail", "description": "Sends as ops@corp.example.com",
                   "parameters": "{\"type\": \"object\"}"}],
    }
    a = classify_json(json.dumps(request).encode())
    assert a["level"] == "confidential"
    locations = [(f["location"], f["begin"], f["end"]) for f in a["findings"]]
    assert locations == [
        ("messages[1].content", 14, 29),
        ("messages[2].tool_calls[0].arguments", 8, 25),
        ("messages[3].content", 8, 25),
        ("tools[0].description", 9, 29),
    ]
    for f in a["findings"]:
        assert f["category"] == "pii.email" and f["level"] == "confidential"
        assert f["detector"] and 0 < f["confidence"] <= 1
    assert 0 <= a["difficulty"] <= 1
    assert "length" in a["difficulty_signals"]
    assert a["estimated_tokens"] > 0


def test_json_output_without_findings_prints_every_field():
    a = classify_json(b"What is the capital of France?")
    assert a["level"] == "public"
    assert a["findings"] == []
    assert set(a) >= {"level", "findings", "difficulty", "difficulty_signals", "estimated_tokens"}


def test_table_without_findings_says_so():
    r = airlock("classify", stdin=b"Nothing to see here.")
    assert r.returncode == 0
    assert r.stdout.decode().startswith("no findings\n")
    assert "\nlevel: public\n" in r.stdout.decode()


def test_text_that_merely_starts_with_a_brace_is_json():
    # The first non-blank byte decides: '{' means JSON, so broken JSON is an error, not text.
    r = airlock("classify", stdin=b"  \n{ not json at all bob@example.org")
    assert r.returncode == 2
    assert b"invalid JSON for a ChatRequest" in r.stderr


def test_excerpt_of_control_bytes_and_line_breaks_stays_on_one_line():
    r = airlock("classify", stdin=b"line one\nmail\tbob@example.org\r\nend\n")
    assert r.returncode == 0, r.stderr.decode()
    rows = [line for line in r.stdout.decode().splitlines() if "pii.email" in line]
    assert len(rows) == 1
    assert rows[0].endswith("  line one mail bo***  end")


# ---------------------------------------------------------------------------------------------
# classify: bad input -> a clear message on stderr and exit status 2


@pytest.mark.parametrize("data, message", [
    (b"", b"empty input"),
    (b"  \n\t ", b"empty input"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", b"binary input (control byte 0x02 at byte 4)"),
    (b"text\x00with a NUL", b"binary input (control byte 0x00 at byte 4)"),
    (b"caf\xc3 au lait", b"binary input (not UTF-8 at byte 3)"),
    (b"\xed\xa0\x80 surrogate", b"binary input (not UTF-8 at byte 0)"),
    (b'{"messages": [', b"invalid JSON for a ChatRequest"),
    (b'{"messages": [{"role": "USER", "contnt": "x"}]}', b"contnt"),
    (b'{"messages": [{"role": "KING", "content": "x"}]}', b"invalid JSON for a ChatRequest"),
    (b'{"messages": "not a list"}', b"invalid JSON for a ChatRequest"),
])
def test_bad_input_exits_2_with_a_message(data, message):
    r = airlock("classify", stdin=data)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == b""
    assert message in r.stderr, r.stderr
    assert r.stderr.startswith(b"airlock classify: stdin: ")


def test_unreadable_file_names_the_path(tmp_path):
    missing = tmp_path / "missing.json"
    r = airlock("classify", missing)
    assert r.returncode == 2
    assert str(missing).encode() in r.stderr and b"No such file or directory" in r.stderr
    r = airlock("classify", tmp_path)
    assert r.returncode == 2
    assert b"is a directory" in r.stderr


def test_deeply_nested_tool_arguments_are_text_not_a_crash():
    args = "[" * 20000 + "\"x@example.org\"" + "]" * 20000
    request = {"messages": [{"role": "ASSISTANT",
                             "tool_calls": [{"id": "c", "name": "f", "arguments": args}]}]}
    a = classify_json(json.dumps(request).encode())
    assert [f["location"] for f in a["findings"]] == ["messages[0].tool_calls[0].arguments"]


def test_usage_errors_exit_2():
    assert airlock().returncode == 2
    assert airlock("frobnicate").returncode == 2
    r = airlock("classify", "--no-such-flag", stdin=b"x")
    assert r.returncode == 2 and b"--no-such-flag" in r.stderr
    assert airlock("--help").returncode == 0
    assert airlock("classify", "--help").returncode == 0


# ---------------------------------------------------------------------------------------------
# classify --policy: the policy's detectors and level overrides

POLICY = """\
version: 1
detectors:
  - category: custom.project
    level: restricted
    terms: [Nightingale, "Project Apollo"]
  - category: custom.customer_id
    level: internal
    pattern: 'CUST-[0-9]{8}'
levels:
  pii.email: internal
rules:
  - id: restricted-home
    when: { level_at_least: restricted }
    then: { route: onprem, fallbacks: [nano] }
default:
  route: frontier
  transform: pseudonymize
"""


def test_policy_detectors_and_levels_apply(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    text = b"Project Apollo: mail bob@example.org about CUST-12345678"
    a = classify_json(text, "--policy", policy)
    found = {f["category"]: f["level"] for f in a["findings"]}
    assert found == {"custom.project": "restricted", "pii.email": "internal",
                     "custom.customer_id": "internal"}
    assert a["level"] == "restricted"
    # Without the policy: only the built-in e-mail, at its own level.
    plain = classify_json(text)
    assert [(f["category"], f["level"]) for f in plain["findings"]] == [
        ("pii.email", "confidential")]


def test_invalid_policy_exits_2_naming_file_line_and_column(tmp_path):
    policy = tmp_path / "bad.yaml"
    policy.write_text(POLICY.replace("level: internal\n    pattern", "level: secretish\n    pattern"))
    r = airlock("classify", "--policy", policy, stdin=b"hello")
    assert r.returncode == 2
    assert f"{policy}:7:12: detectors[1].level: unknown level".encode() in r.stderr, r.stderr
    r = airlock("classify", "--policy", tmp_path / "missing.yaml", stdin=b"hello")
    assert r.returncode == 2
    assert b"missing.yaml" in r.stderr


# ---------------------------------------------------------------------------------------------
# policy lint / explain

SHADOWED = """version: 1
rules:
  - id: top
    when: { level_at_least: confidential }
    then: { route: onprem }
  - id: low
    when: { level_at_most: internal }
    then: { route: frontier, transform: pseudonymize }
  - id: secrets
    when: { level_at_least: restricted }
    then: { deny: "never seen" }
default: { route: frontier }
"""


def test_policy_lint_reports_unreachable_rules_and_passes(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(SHADOWED)
    r = airlock("policy", "lint", policy)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode().splitlines()
    assert out[0] == (f"{policy}:9: warning: rule 'secrets' is never reached: every level it "
                      "matches is taken by rule 'top'")
    assert out[1] == (f"{policy}:12: warning: the default is never reached: the rules match "
                      "every level (rules 'top', 'low')")
    assert out[2].startswith(f"{policy}: ok (3 rules, 2 warnings, policy hash ")
    assert b"target names are not checked" in r.stderr


def test_policy_lint_errors_name_file_line_and_column_and_exit_1(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(SHADOWED.replace("level_at_most: internal", "level_atmost: internal"))
    r = airlock("policy", "lint", policy)
    assert r.returncode == 1
    out = r.stdout.decode()
    assert out.startswith(f"{policy}:7:") and "rules[1].when: unknown key 'level_atmost'" in out


def test_policy_lint_checks_targets_against_the_gateway_config(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(SHADOWED)
    config = tmp_path / "airlockd.yaml"
    config.write_text(f"""listen: 127.0.0.1:0
principals:
  - {{ tenant: t, subject: s, api_key_sha256: {"0" * 64} }}
targets:
  - {{ name: frontier, kind: openai, base_url: "http://127.0.0.1:9/v1", model: m, clearance: public }}
egress_allowlist: [127.0.0.1]
policy: {policy}
audit: {{ path: {tmp_path / "audit.jsonl"} }}
""")
    r = airlock("policy", "lint", policy, "--config", config)
    assert r.returncode == 1, r.stderr.decode()
    assert f"{policy}:5:" in r.stdout.decode() and "onprem" in r.stdout.decode()
    r = airlock("policy", "lint", policy, "--config", tmp_path / "missing.yaml")
    assert r.returncode == 2 and b"missing.yaml" in r.stderr


def test_policy_explain_shows_every_rule_considered_and_the_decision(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(SHADOWED)
    r = airlock("policy", "explain", policy, stdin=b"mail bob@example.org about the plan")
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert out.startswith("level: confidential\ncategories: pii.email x1\ndifficulty: ")
    assert out.endswith("rule 'top': level confidential >= confidential: match\n"
                        "decision: route onprem (transform none) by rule 'top'\n")
    r = airlock("policy", "explain", policy, stdin=b"what is the weather")
    assert r.returncode == 0
    assert "rule 'top': level public < confidential: no match\n" in r.stdout.decode()
    assert r.stdout.decode().endswith("decision: route frontier (transform pseudonymize) by rule "
                                      "'low'\n")
    r = airlock("policy", "explain", tmp_path / "missing.yaml", stdin=b"x")
    assert r.returncode == 2


TESTS = """version: 1
cases:
  - name: mail is confidential
    text: "mail bob@example.org about the plan"
    expect: { rule: top, route: onprem }
  - name: weather goes out
    text: "what is the weather"
    expect: { rule: low, route: frontier, transform: pseudonymize }
"""


def test_policy_test_passes_and_reports_unreached_rules(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(SHADOWED)
    (tmp_path / "policy_test.yaml").write_text(TESTS)  # found next to the policy
    r = airlock("policy", "test", policy)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines() == [
        "PASS  mail is confidential",
        "PASS  weather goes out",
        "coverage: 2 of 4 rules reached (50.0%)",
        f"  not reached: rule 'secrets' ({policy}:9)",
        f"  not reached: rule 'default' ({policy}:12)",
        f"{tmp_path / 'policy_test.yaml'}: 2 passed, 0 failed",
    ]
    # Below the coverage threshold: exit status 1, and the reason.
    r = airlock("policy", "test", policy, "--threshold", "60")
    assert r.returncode == 1
    assert r.stdout.decode().endswith("coverage 50.0% is below --threshold 60.0%\n")


def test_policy_test_failure_shows_a_diff_and_how_the_policy_decided(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(SHADOWED)
    tests = tmp_path / "elsewhere.yaml"
    tests.write_text(TESTS.replace("expect: { rule: top, route: onprem }",
                                   "expect: { rule: low, route: frontier }"))
    r = airlock("policy", "test", policy, "--tests", tests)
    assert r.returncode == 1
    out = r.stdout.decode()
    assert (f"FAIL  mail is confidential ({tests}:3)\n"
            "        - rule: low\n"
            "        + rule: top\n"
            "        - route: frontier\n"
            "        + route: onprem\n"
            "      level confidential; how the policy decided:\n"
            "        rule 'top': level confidential >= confidential: match\n") in out
    assert "PASS  weather goes out\n" in out
    assert out.endswith(": 1 passed, 1 failed\n")


def test_policy_test_bad_test_file_exits_2_naming_line_and_column(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(SHADOWED)
    tests = tmp_path / "policy_test.yaml"
    tests.write_text(TESTS.replace("transform: pseudonymize", "transform: scramble"))
    r = airlock("policy", "test", policy)
    assert r.returncode == 2
    assert (f"{tests}:8:54: cases[1].expect.transform: unknown transform 'scramble'").encode() \
        in r.stderr, r.stderr
    r = airlock("policy", "test", policy, "--tests", tmp_path / "missing.yaml")
    assert r.returncode == 2 and b"missing.yaml" in r.stderr


def test_policy_print_writes_the_canonical_form_that_loads_the_same(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(SHADOWED)
    r = airlock("policy", "print", policy)
    assert r.returncode == 0, r.stderr.decode()
    canonical = r.stdout.decode()
    assert canonical.startswith("version: 1\nrules:\n  - id: \"top\"\n    when:\n"
                                "      level_at_least: confidential\n    then:\n"
                                "      route: \"onprem\"\n      transform: none\n")
    assert canonical.endswith("default:\n  route: \"frontier\"\n  transform: none\n")
    again = tmp_path / "canonical.yaml"
    again.write_text(canonical)
    r = airlock("policy", "print", again)
    assert r.returncode == 0 and r.stdout.decode() == canonical
    # The same decisions, explained the same way.
    for text in (b"mail bob@example.org", b"what is the weather"):
        a = airlock("policy", "explain", policy, stdin=text).stdout
        b = airlock("policy", "explain", again, stdin=text).stdout
        assert a == b and b"decision: " in a
    r = airlock("policy", "print", tmp_path / "missing.yaml")
    assert r.returncode == 2 and b"missing.yaml" in r.stderr


# ---------------------------------------------------------------------------------------------
# model synth / inspect


def test_model_synth_writes_a_model_that_inspect_loads(tmp_path):
    out = tmp_path / "tiny"
    r = airlock("model", "synth", out, "--shard-mb", "0")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().startswith(f"{out}: MEM*E-ME, ")
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()
    config = json.loads((out / "config.json").read_text().replace("Infinity", "1e308"))
    assert config["architectures"] == ["NemotronHForCausalLM"]
    assert config["hybrid_override_pattern"] == "MEM*E-ME"
    r = airlock("model", "inspect", out)
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "layout: MEM*E-ME (8 layers: 3 mamba, 1 attention, 3 moe, 1 mlp)"
    assert "bytes BF16: " in r.stdout.decode() and "bytes F32: " in r.stdout.decode()


def test_model_inspect_names_what_is_wrong(tmp_path):
    out = tmp_path / "m"
    assert airlock("model", "synth", out, "--dtype", "f32", "--seed", "3").returncode == 0
    text = (out / "config.json").read_text()
    (out / "config.json").write_text(text.replace('"hidden_size": 64', '"hidden_size": 96'))
    r = airlock("model", "inspect", out)
    assert r.returncode == 2
    assert b"tensor 'backbone.embeddings.weight': shape [512, 64], expected [512, 96]" in r.stderr
    (out / "config.json").write_text(text.replace('"MEM*E-ME"', '"MEM*E-MX"'))
    r = airlock("model", "inspect", out)
    assert r.returncode == 2 and b"hybrid_override_pattern: unknown layer letter 'X'" in r.stderr
    (out / "config.json").write_text(text)
    data = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").write_bytes(data[:-100])
    r = airlock("model", "inspect", out)
    assert r.returncode == 2 and b"(truncated file?)" in r.stderr, r.stderr
    r = airlock("model", "synth", tmp_path / "x", "--preset", "huge")
    assert r.returncode == 2


def test_engine_logits_json_npy_and_top(tmp_path):
    model = tmp_path / "tiny"
    assert airlock("model", "synth", model).returncode == 0
    r = airlock("engine", "logits", model, "--ids", "1,5,9")
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout)
    assert out["ids"] == [1, 5, 9] and len(out["logits"]) == 1 and len(out["logits"][0]) == 512
    r = airlock("engine", "logits", model, "--ids", "1,5,9", "--all")
    rows = json.loads(r.stdout)["logits"]
    assert len(rows) == 3 and rows[2] == out["logits"][0]
    npy = tmp_path / "l.npy"
    r = airlock("engine", "logits", model, "--ids", "1,5,9", "--all", "--npy", npy)
    assert r.returncode == 0 and r.stdout.decode() == f"{npy}: 3 x 512 float32\n"
    data = npy.read_bytes()
    assert data[:6] == b"\x93NUMPY" and b"'shape': (3, 512)" in data[:128]
    header_len = int.from_bytes(data[8:10], "little")
    assert (10 + header_len) % 64 == 0 and len(data) == 10 + header_len + 3 * 512 * 4
    r = airlock("engine", "logits", model, "--ids", "1,5,9", "--top", "3")
    top = [pair.split(":") for pair in r.stdout.decode().split()]
    best = max(range(512), key=lambda i: out["logits"][0][i])
    assert len(top) == 3 and int(top[0][0]) == best
    r = airlock("engine", "logits", model, "--ids", "1,999")
    assert r.returncode == 2 and b"token 1: id 999 is outside the vocabulary" in r.stderr
    # --text: encoded with the folder's tokenizer.json.
    r = airlock("engine", "logits", model, "--text", "Hello world")
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout)["ids"] == [int(i) for i in airlock(
        "engine", "tokenize", model / "tokenizer.json", stdin=b"Hello world").stdout.split()]
    assert airlock("engine", "logits", model).returncode == 2  # neither --ids nor --text


def test_engine_bench_reports_speed_and_roofline(tmp_path):
    model = tmp_path / "tiny"
    assert airlock("model", "synth", model).returncode == 0
    r = airlock("engine", "bench", model, "--tokens", "4", "--prompt", "8", "--threads", "1")
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert out.startswith("threads 1, kernels ") and "decode:  " in out and "prefill: " in out
    assert "weight bytes per batch-1 token); decode is " in out
    r = airlock("engine", "bench", model, "--tokens", "2", "--prompt", "4", "--batch", "3")
    assert r.returncode == 0, r.stderr.decode()
    assert "(batch 3, 2 steps)" in r.stdout.decode()
    assert airlock("engine", "bench", model, "--batch", "0").returncode != 0


def test_engine_run_chats_with_a_synthetic_model(tmp_path):
    model = tmp_path / "tiny"
    assert airlock("model", "synth", model).returncode == 0
    assert (model / "tokenizer.json").exists()
    r = airlock("engine", "run", model, "--prompt", "Hello", "--max-tokens", "9", "--seed", "4")
    assert r.returncode == 0, r.stderr.decode()
    assert b"9 generated" in r.stderr and b"finish: length" in r.stderr
    again = airlock("engine", "run", model, "--prompt", "Hello", "--max-tokens", "9", "--seed", "4")
    assert again.stdout == r.stdout  # seeded: the same text
    r = airlock("engine", "tokenize", model / "tokenizer.json", stdin="<|im_start|>user\nhi".encode())
    assert r.returncode == 0 and r.stdout.decode().split()[0] == "10"
    r = airlock("engine", "run", tmp_path / "missing", "--prompt", "x")
    assert r.returncode == 2


# ---------------------------------------------------------------------------------------------
# eval detectors


def _has_eval():
    return b"eval" in airlock("--help").stdout


def test_eval_detectors_with_a_missing_data_folder_exits_2(tmp_path):
    if not _has_eval():
        pytest.skip("this build has no detector evaluation (classifier/eval_*.cc)")
    r = airlock("eval", "detectors", "--data", tmp_path / "nowhere")
    assert r.returncode == 2
    assert b"airlock eval detectors: pii evaluation: " in r.stderr
    assert b"airlock eval detectors: secrets evaluation: " in r.stderr
    r = airlock("eval", "detectors", "--only", "nonsense")
    assert r.returncode == 2
    assert airlock("eval").returncode == 2


def test_eval_detectors_prints_tables_and_goals_and_exits_by_them():
    if not _has_eval():
        pytest.skip("this build has no detector evaluation (classifier/eval_*.cc)")
    source = os.environ.get("AIRLOCK_SOURCE_DIR",
                            os.path.join(os.path.dirname(__file__), "..", ".."))
    data = os.path.join(source, "..", "shared", "data")
    if not os.path.isdir(os.path.join(data, "pii")):
        pytest.skip(f"no data folder at {data}")
    r = airlock("eval", "detectors", "--only", "pii", "--data", data)
    out = r.stdout.decode()
    assert r.returncode in (0, 1), r.stderr.decode()
    goals = out.split("\ngoals:\n", 1)[1].splitlines()
    assert goals and all(g.startswith(("met ", "NOT MET ")) for g in goals)
    assert all(" pii " in g for g in goals)
    assert r.returncode == (0 if all(g.startswith("met ") for g in goals) else 1)
    assert "secrets" not in "\n".join(goals)


def test_classifier_train_and_eval_are_deterministic(tmp_path, model):
    """`airlock classifier train|eval` on the tiny model (random weights: the figures are noise,
    the mechanics are not): the same data and seed give the same heads file byte for byte, the
    held-out report is printed, and a bad label names its line."""
    data = tmp_path / "level.jsonl"
    rows = [{"text": f"request {i}: " + ("card number " if i % 2 else "weather ") * (i % 5 + 1),
             "label": "restricted" if i % 2 else "public"} for i in range(20)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outs = []
    for name in ("a.json", "b.json"):
        r = airlock("classifier", "train", model, str(data), "--question", "level",
                    "--layer", "2", "--out", str(tmp_path / name), "--iterations", "50")
        out = r.stdout.decode()
        assert r.returncode == 0, r.stderr.decode()
        assert "4 held out (seed 1)" in out and "test: level: 4 examples, accuracy" in out
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    heads = json.loads(outs[0])
    assert heads["layer"] == 2 and [h["question"] for h in heads["heads"]] == ["level"]
    assert len(heads["heads"][0]["weights"]) == 4 * 64  # four levels x hidden 64
    r = airlock("classifier", "eval", model, str(data), "--question", "level",
                "--heads", str(tmp_path / "a.json"))
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr.decode()
    assert out.startswith("level: 20 examples, accuracy ")
    assert "restricted" in out and "precision" in out

    data.write_text(json.dumps({"text": "x", "label": "public"}) + "\n" +
                    json.dumps({"text": "y", "label": "secret"}) + "\n")
    r = airlock("classifier", "train", model, str(data), "--question", "level",
                "--out", str(tmp_path / "c.json"))
    assert r.returncode == 2
    assert "level.jsonl:2: label 'secret' is not one of the classes" in r.stderr.decode()


def test_classifier_train_on_a_folder_trains_every_question(tmp_path, model):
    """A folder as `airlock classifier data` writes it: one head per QUESTION.train.jsonl,
    reported on QUESTION.test.jsonl (or a held-out part without one), all in one heads file."""
    data = tmp_path / "data"
    data.mkdir()
    def write(name, rows):
        (data / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    level = [{"text": f"note {i}: " + ("salary " if i % 2 else "lunch ") * (i % 4 + 1),
              "label": "confidential" if i % 2 else "public", "source": "t"} for i in range(16)]
    write("level.train.jsonl", level[:12])
    write("level.test.jsonl", level[12:])
    write("pii.health.train.jsonl", [{"text": t["text"], "label": "yes" if i % 3 else "no"}
                                     for i, t in enumerate(level)])
    r = airlock("classifier", "train", model, str(data), "--layer", "2",
                "--out", str(tmp_path / "heads.json"), "--iterations", "20")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr.decode()
    assert f"head 'level' on layer 2: 12 examples to train, 4 in {data}/level.test.jsonl" in out
    assert "head 'pii.health' on layer 2: 13 examples to train, 3 held out (seed 1)" in out
    heads = json.loads((tmp_path / "heads.json").read_bytes())
    assert [h["question"] for h in heads["heads"]] == ["level", "pii.health"]
    r = airlock("classifier", "train", model, str(data), "--question", "level")
    assert r.returncode == 2
    assert "is a folder: its file names give the questions" in r.stderr.decode()


DATA_DIR = os.environ.get("AIRLOCK_DATA_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "data")


@pytest.mark.skipif(not os.path.exists(os.path.join(DATA_DIR, "pii")),
                    reason="no evaluation data next to the repository")
def test_classifier_data_writes_every_question(tmp_path):
    """`airlock classifier data` on the public data: QUESTION.{train,test}.jsonl for level,
    difficulty and the four categories, and a table of what each holds."""
    out = tmp_path / "data"
    r = airlock("classifier", "data", DATA_DIR, "--out", str(out), "--max-per-class", "200")
    assert r.returncode == 0, r.stderr.decode()
    table = r.stdout.decode()
    assert "written.business" in table and "arena-hard" in table and "presidio" in table
    questions = ["level", "difficulty", "confidential.business", "pii.health", "pii.person",
                 "code.secret"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{q}.{s}.jsonl" for q in questions for s in ("train", "test"))
    lines = (out / "difficulty.train.jsonl").read_text().split("\n")  # not splitlines(): U+2028
    assert lines.pop() == ""
    rows = [json.loads(line) for line in lines]
    assert {r["label"] for r in rows} == {"easy", "hard"}
    assert all(set(r) == {"text", "label", "source"} for r in rows)
    r = airlock("classifier", "data", str(tmp_path / "nowhere"), "--out", str(out))
    assert r.returncode == 2
    assert "nowhere/pii/presidio_synth_dataset_v2.json: cannot open" in r.stderr.decode()
