"""`kind: local`: airlockd serves a model folder with its in-process engine, offline.

The model is `airlock model synth`'s tiny one (random weights: the text is meaningless, the
mechanics are not): unary and streamed answers with usage, the same text both ways for the same
seed, deadlines, and a policy that keeps confidential requests on the local target.
"""
import os

import grpc
import pytest

from airlock_client import collect_stream
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


def test_unary_and_stream_answers_from_the_local_engine(start_gateway, model):
    gw = start_gateway([{"name": "nano", "local": model, "clearance": "restricted"}], policy=POLICY)
    client = gw.client()
    messages = [{"role": "user", "content": "mail jane.doe@example.com about the plan"}]
    r = client.chat(messages, max_tokens=12, temperature=0.0)
    assert r.route.target == "nano" and r.route.rule_id == "confidential-stays-home"
    assert r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 10
    assert r.finish_reason in ("stop", "length", "tool_calls")
    chunks = list(client.chat_stream(messages, max_tokens=12, temperature=0.0))
    text = "".join(c.content_delta for c in chunks)
    assert text == r.content  # greedy: the same answer, streamed
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    # Admin.Status shows the engine: what runs it, its load and its memory budget.
    (nano,) = gw.client(api_key=ADMIN_KEY).status().targets
    assert nano.kind == "local" and nano.engine.backend.startswith("cpu: ")
    assert nano.engine.running == 0 and nano.engine.queued == 0 and nano.engine.state_bytes == 0
    assert nano.engine.state_budget_bytes == 8192 << 20
    assert nano.engine.steps > 0 and nano.engine.max_step_requests >= 1
    # The prompt never left the machine: the audit record names the local target.
    gw.stop()
    records = gw.audit_records()
    assert [rec["target"] for rec in records] == ["nano", "nano"]


def test_oversized_request_is_refused_and_the_gateway_keeps_serving(start_gateway, model):
    gw = start_gateway([{"name": "nano", "local": model}], policy=POLICY)
    client = gw.client()
    with pytest.raises(grpc.RpcError) as e:
        client.chat([{"role": "user", "content": "hi"}], max_tokens=40000)
    assert e.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
    assert "context" in e.value.details()
    r = client.chat([{"role": "user", "content": "hi"}], max_tokens=4, temperature=0.0)
    assert r.usage.completion_tokens > 0


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(start_gateway, model):
    """Eight streams at once share the engine's steps; under greedy sampling each answer is the
    one the same request gets alone, and a stream cancelled mid-way changes none of them."""
    import concurrent.futures

    gw = start_gateway([{"name": "nano", "local": model}], policy=POLICY)
    client = gw.client()
    prompts = [f"request {i}: " + "words " * (i * 7) for i in range(8)]

    def ask(p):
        return client.chat([{"role": "user", "content": p}], max_tokens=24, temperature=0.0)

    alone = [ask(p).content for p in prompts]
    doomed = client.chat_stream([{"role": "user", "content": "cancel me"}], max_tokens=4000,
                                temperature=0.0)
    next(iter(doomed))  # it is running
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(ask, p) for p in prompts]
        doomed.cancel()  # while the others run
        together = [f.result().content for f in futures]
    assert together == alone
    with pytest.raises(grpc.RpcError) as e:
        list(doomed)
    assert e.value.code() == grpc.StatusCode.CANCELLED
