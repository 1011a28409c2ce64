"""The classifier's model stage (`classifier.model`): the local model assesses each request.

On `airlock model synth`'s tiny model (random weights: its judgements are meaningless, the
mechanics are not): the assessment carries the model's label probabilities and never goes
below the detectors' level; a request the policy keeps on the same model generates from the
stage's prefill and answers what it answers without the stage; a stage that fails fails
closed (restricted) or open as configured, and the audit record says which.
"""
import json
import math
import os
import subprocess

import pytest

from conftest import ADMIN_KEY

CLI = os.environ.get("AIRLOCK_CLI")

pytestmark = pytest.mark.skipif(not CLI, reason="AIRLOCK_CLI is not set (run through ctest)")

POLICY = """\
version: 1
rules:
  - id: confidential-stays-home
    when: { level_at_least: confidential }
    then: { route: nano }
default:
  route: nano
"""

# Long enough that the conversation spans a whole SSD chunk (16 tokens on the tiny model).
MESSAGES = [
    {"role": "system", "content": "You are the finance team's assistant."},
    {"role": "user", "content": "Mail jane.doe@example.com a two-line summary of the Q3 plan "
                                "for the Harbor Foods acquisition, and keep it short."},
]
STAGE = "classifier:\n  model: {target: nano, timeout_ms: 120000}\n"


def test_the_model_assesses_and_the_generation_reuses_its_prefill(start_gateway, model):
    plain = start_gateway([{"name": "nano", "local": model, "clearance": "restricted"}],
                          policy=POLICY)
    want = plain.client().chat(MESSAGES, max_tokens=12, temperature=0.0)
    assert plain.stop() == 0

    gw = start_gateway([{"name": "nano", "local": model, "clearance": "restricted"}],
                       policy=POLICY, extra=STAGE)
    client = gw.client()
    a = client.classify(MESSAGES).assessment
    assert a.model.outcome == "ok" and a.model.error == ""
    assert not a.model.prefill_kept  # Classify generates nothing: no prefill is kept
    levels = {k: v for k, v in a.model.probabilities.items() if k.startswith("level.")}
    assert set(levels) == {"level.public", "level.internal", "level.confidential",
                           "level.restricted"}
    assert math.isclose(sum(levels.values()), 1.0, rel_tol=1e-4)
    # The policy has no `model` section: the model's level is the median of its answer.
    order = ["public", "internal", "confidential", "restricted"]
    median = max(i for i in range(4) if i == 0 or
                 sum(levels["level." + order[j]] for j in range(i, 4)) >= 0.5)
    assert a.model.level == order[median]
    assert a.model.HasField("difficulty") and 0.0 <= a.model.difficulty <= 1.0
    assert a.difficulty == pytest.approx(a.model.difficulty)
    detectors = max((order.index(f.level) for f in a.findings), default=0)
    assert order.index(a.level) >= max(detectors, order.index(a.model.level))  # never lowered

    # Routed to the same model: generated from the stage's prefill, and the same answer.
    r = client.chat(MESSAGES, max_tokens=12, temperature=0.0)
    assert r.route.target == "nano"
    assert r.content == want.content and r.usage == want.usage
    (nano,) = gw.client(api_key=ADMIN_KEY).status().targets
    assert nano.engine.prefills_reused >= 1
    gw.stop()
    records = gw.audit_records()[1:]  # the log goes on from the plain gateway's record
    assert [rec["method"] for rec in records] == ["Classify", "Chat"]
    assert all(rec["model"] == "ok" and "model" in rec["stage_ms"] for rec in records)


@pytest.mark.parametrize("on_failure,level", [("fail_closed", "restricted"),
                                              ("fail_open", "confidential")])
def test_a_failed_stage_fails_closed_or_open(start_gateway, model, on_failure, level):
    # A context too small for any question: the model stage cannot run.
    gw = start_gateway([{"name": "nano", "local": model, "engine": "{max_context: 24}"}],
                       policy=POLICY,
                       extra=f"classifier:\n  model: {{target: nano, on_failure: {on_failure}}}\n")
    a = gw.client().classify(MESSAGES).assessment
    assert a.model.outcome == on_failure.replace("fail_", "failed_")
    assert "context" in a.model.error
    assert a.level == level  # the email makes it confidential; closed raises it to restricted
    gw.stop()
    (rec,) = gw.audit_records()
    assert rec["model"] == a.model.outcome and rec["level"] == level


def test_trained_heads_assess_with_one_prefill(start_gateway, model, tmp_path):
    """`airlock classifier train` writes heads; `classifier.model.heads` serves them: the
    assessment carries each head's class probabilities, and the Chat still reuses the prefill."""
    data = tmp_path / "level.jsonl"
    data.write_text("".join(json.dumps({"text": f"note {i} " + "x " * i,
                                        "label": ["public", "restricted"][i % 2]}) + "\n"
                            for i in range(10)))
    heads = tmp_path / "heads.json"
    r = subprocess.run([CLI, "classifier", "train", model, str(data), "--question", "level",
                        "--out", str(heads), "--iterations", "20"], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    gw = start_gateway([{"name": "nano", "local": model, "clearance": "restricted"}],
                       policy=POLICY,
                       extra=f"classifier:\n  model: {{target: nano, heads: {heads}}}\n")
    client = gw.client()
    a = client.classify(MESSAGES).assessment
    assert a.model.outcome == "ok"
    assert set(a.model.probabilities) == {"level.public", "level.internal",
                                          "level.confidential", "level.restricted"}
    assert math.isclose(sum(a.model.probabilities.values()), 1.0, rel_tol=1e-4)
    assert a.model.level in ("public", "internal", "confidential", "restricted")
    client.chat(MESSAGES, max_tokens=4, temperature=0.0)
    (nano,) = gw.client(api_key=ADMIN_KEY).status().targets
    assert nano.engine.prefills_reused >= 1


def test_the_policy_reads_the_models_answers(start_gateway, model):
    """The policy's `model` section decides what the answers mean: thresholds of 0 make every
    level reach its threshold and every category count, at its level as `levels` sets it."""
    policy = POLICY + ("model:\n  level_at: { internal: 0, confidential: 0, restricted: 0 }\n"
                       "  categories: { \"*\": 0 }\nlevels: { pii.health: internal }\n")
    gw = start_gateway([{"name": "nano", "local": model, "clearance": "restricted"}],
                       policy=policy, extra=STAGE)
    a = gw.client().classify(MESSAGES).assessment
    assert a.model.outcome == "ok"
    assert a.model.level == "restricted" and a.level == "restricted"
    categories = {c.category: c.level for c in a.model.categories}
    assert categories == {"confidential.business": "confidential", "pii.health": "internal",
                          "pii.person": "confidential"}
    gw.stop()
