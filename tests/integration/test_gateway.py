"""The request path end to end: real airlockd, echo upstream, example Python client."""
import hashlib
import threading
import time

import grpc
import pytest

from airlock_client import WEATHER_TOOL, collect_stream
from conftest import ADMIN_KEY


def policy_hash(gw):
    return hashlib.sha256(open(gw.policy_path, "rb").read()).hexdigest()


@pytest.fixture
def upstream(start_upstream):
    return start_upstream()


@pytest.fixture
def gw(start_gateway, upstream):
    return start_gateway([{"name": "frontier", "url": upstream.url}])


def test_unary_round_trip_and_route_info(gw, upstream):
    r = gw.client().chat([{"role": "user", "content": "hello there"}])
    assert r.content == "You said: hello there"
    assert r.finish_reason == "stop"
    assert r.usage.completion_tokens > 0
    assert r.route.target == "frontier"
    assert r.route.rule_id == "default"
    assert r.route.level == "public"
    assert r.route.transform == "none"
    assert r.route.policy_hash == policy_hash(gw)
    assert len(r.route.request_id) == 32
    sent = upstream.stats()["requests"][0]
    assert sent["stream"] is False and sent["model"] == "m"  # unary: a whole completion
    assert sent["messages"] == [{"role": "user", "content": "hello there"}]


def test_streaming_round_trip(gw, upstream):
    text, calls, last, route = collect_stream(
        gw.client().chat_stream([{"role": "user", "content": "one two three four"}]))
    assert text == "You said: one two three four"
    assert calls == []
    assert last.finish_reason == "stop"
    assert last.usage.completion_tokens == 6
    assert route.target == "frontier" and route.rule_id == "default"
    sent = upstream.stats()["requests"][0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_streaming_delivers_several_deltas(start_upstream, start_gateway):
    # Pieces 50 ms apart: each is written before the next arrives, so none is merged.
    upstream = start_upstream("--chunk-delay", "0.05")
    gw = start_gateway([{"name": "frontier", "url": upstream.url}])
    responses = list(gw.client().chat_stream([{"role": "user", "content": "a b c d e"}]))
    assert len([r for r in responses if r.content_delta]) >= 5
    assert responses[0].HasField("route")
    assert responses[-1].finish_reason == "stop"


def test_tool_call_round_trip(gw, upstream):
    client = gw.client()
    history = [{"role": "user", "content": "weather in Lyon?"}]
    r = client.chat(history, tools=[WEATHER_TOOL])
    assert r.finish_reason == "tool_calls"
    assert len(r.tool_calls) == 1
    call = r.tool_calls[0]
    assert call.name == "get_weather" and call.id == "call_1"
    assert call.arguments == '{"input": "weather in Lyon?"}'
    history += [{"role": "assistant", "content": "",
                 "tool_calls": [{"id": call.id, "name": call.name, "arguments": call.arguments}]},
                {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    r = client.chat(history, tools=[WEATHER_TOOL])
    assert r.content == "The tool returned: sunny"
    sent = upstream.stats()["requests"][1]
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["input"]
    assert sent["messages"][1]["tool_calls"][0]["function"]["arguments"] == call.arguments
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


def test_streamed_tool_call_is_assembled(gw):
    _, calls, last, _ = collect_stream(gw.client().chat_stream(
        [{"role": "user", "content": "call it"}], tools=[WEATHER_TOOL]))
    assert calls == [{"id": "call_1", "name": "get_weather", "arguments": '{"input": "call it"}'}]
    assert last.finish_reason == "tool_calls"


def test_email_is_pseudonymized_upstream_and_restored(gw, upstream):
    r = gw.client().chat([{"role": "user", "content": "mail jane.doe@example.com now"}])
    assert r.content == "You said: mail jane.doe@example.com now"
    assert r.route.level == "confidential"
    assert r.route.rule_id == "confidential-pseudonymized"
    assert r.route.transform == "pseudonymize"
    sent = upstream.stats()["requests"][0]["messages"][0]["content"]
    assert "jane.doe@example.com" not in sent
    assert sent == "mail <EMAIL_1> now"


def test_mangled_placeholder_passes_unrestored_and_is_audited(gw, upstream):
    # The echo upstream returns "[EMAIL_1]" as it got it: that is a mangled <EMAIL_1>, which
    # must not be restored to the address, and the record counts it.
    r = gw.client().chat([{"role": "user", "content": "mail jane.doe@example.com, not [EMAIL_1]"}])
    assert r.content == "You said: mail jane.doe@example.com, not [EMAIL_1]"
    gw.client().chat([{"role": "user", "content": "mail jane.doe@example.com"}])
    gw.stop()  # the audit writer has flushed every record
    assert [r["mangled_placeholders"] for r in gw.audit_records()[-2:]] == [1, 0]


def test_streamed_answer_restores_placeholders(start_upstream, start_gateway):
    upstream = start_upstream("--repeat", "3")
    gw = start_gateway([{"name": "frontier", "url": upstream.url}])
    text, _, _, _ = collect_stream(gw.client().chat_stream(
        [{"role": "user", "content": "to a@b.io and c@d.io"}]))
    assert text == " ".join(["You said: to a@b.io and c@d.io"] * 3)


def test_bad_key_is_unauthenticated_and_audited(gw, upstream):
    with pytest.raises(grpc.RpcError) as e:
        gw.client(api_key="wrong").chat([{"role": "user", "content": "hi"}])
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as e:
        gw.client(api_key=None).chat([{"role": "user", "content": "hi"}])
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert upstream.stats()["requests"] == []
    gw.stop()
    records = gw.audit_records()
    assert [r["outcome"] for r in records] == ["unauthenticated", "unauthenticated"]
    assert "wrong" not in open(gw.audit_path).read()
    assert "wrong" not in gw.log()


def test_invalid_request_names_the_field(gw):
    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "tool", "content": "x"}])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[0].tool_call_id" in e.value.details()


def test_oversized_message_is_refused(gw, upstream):
    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "user", "content": "x" * 100_000}])
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in e.value.details()
    assert upstream.stats()["requests"] == []


def test_deadline_closes_the_upstream_request(start_upstream, start_gateway):
    upstream = start_upstream("--first-byte-delay", "3", "--chunk-delay", "0.2")
    gw = start_gateway([{"name": "frontier", "url": upstream.url}])
    started = time.time()
    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "user", "content": "slow"}], timeout=0.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The upstream notices the closed connection on its first write after the delay.
    s = upstream.wait_stats(lambda s: s["closed_early"] == 1)
    assert s["closed_early"] == 1 and s["completed"] == 0
    assert time.time() - started < 10


def test_client_cancel_mid_stream_closes_the_upstream(start_upstream, start_gateway):
    # 200 chunks at 50 ms: the full stream would take 10 s.
    upstream = start_upstream("--chunk-delay", "0.05", "--repeat", "200")
    gw = start_gateway([{"name": "frontier", "url": upstream.url}])
    call = gw.client().chat_stream([{"role": "user", "content": "go"}], timeout=60)
    started = time.time()
    it = iter(call)
    next(it)
    next(it)
    call.cancel()
    s = upstream.wait_stats(lambda s: s["closed_early"] == 1)
    assert s["closed_early"] == 1 and s["completed"] == 0
    assert time.time() - started < 5  # long before the stream's 10 s
    gw.stop()
    assert gw.audit_records()[-1]["outcome"] == "cancelled"


def test_upstream_500_then_200_is_retried(start_upstream, start_gateway):
    upstream = start_upstream("--fail-first", "1")
    gw = start_gateway([{"name": "frontier", "url": upstream.url, "retries": 1}])
    r = gw.client().chat([{"role": "user", "content": "again"}])
    assert r.content == "You said: again"
    assert len(upstream.stats()["requests"]) == 2


def test_upstream_error_is_mapped_with_its_message(start_upstream, start_gateway):
    upstream = start_upstream("--fail-first", "5")
    gw = start_gateway([{"name": "frontier", "url": upstream.url, "retries": 1}])
    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "user", "content": "x"}])
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "injected failure" in e.value.details()
    gw.stop()
    # The upstream's message may echo prompt text: the audit record keeps the code only.
    record = gw.audit_records()[-1]
    assert record["outcome"] == "error" and record["fallbacks"] == ["frontier: UNAVAILABLE"]
    assert "injected failure" not in open(gw.audit_path).read()


def test_host_not_on_allowlist_is_refused_without_connecting(upstream, start_gateway):
    gw = start_gateway([{"name": "frontier", "url": f"http://localhost:{upstream.port}/v1"}])
    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "user", "content": "hi"}])
    assert e.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAVAILABLE)
    assert "allowlist" in e.value.details()
    assert upstream.stats()["connections"] == 1  # only our own /_stats request


def test_clearance_is_enforced_by_the_dispatcher(start_upstream, start_gateway):
    frontier = start_upstream()
    onprem = start_upstream()
    # A wrong policy: confidential content to the public frontier, untransformed.
    policy = "version: 1\ndefault:\n  route: frontier\n  fallbacks: [onprem]\n"
    gw = start_gateway([{"name": "frontier", "url": frontier.url, "clearance": "public"},
                        {"name": "onprem", "url": onprem.url, "clearance": "confidential"}],
                       policy=policy)
    r = gw.client().chat([{"role": "user", "content": "write to x@example.org"}])
    assert r.route.target == "onprem"
    assert list(r.route.fallbacks) == ["frontier: not cleared for confidential (clearance public)"]
    assert frontier.stats()["requests"] == []
    assert onprem.stats()["requests"][0]["messages"][0]["content"] == "write to x@example.org"


def test_no_cleared_target_is_denied(start_upstream, start_gateway):
    frontier = start_upstream()
    gw = start_gateway([{"name": "frontier", "url": frontier.url, "clearance": "public"}],
                       policy="version: 1\ndefault:\n  route: frontier\n")
    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "user", "content": "write to x@example.org"}])
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not cleared for confidential" in e.value.details()
    assert frontier.stats()["requests"] == []
    gw.stop()
    assert gw.audit_records()[-1]["outcome"] == "denied"


def test_policy_deny_rule(start_upstream, start_gateway):
    upstream = start_upstream()
    policy = ("version: 1\nrules:\n  - id: no-email\n    when: { level_at_least: confidential }\n"
              "    then: { deny: \"no e-mail addresses\" }\ndefault:\n  route: frontier\n")
    gw = start_gateway([{"name": "frontier", "url": upstream.url}], policy=policy)
    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "user", "content": "x@example.org"}])
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "no-email" in e.value.details() and "no e-mail addresses" in e.value.details()


def test_classify_and_route_dispatch_nothing(gw, upstream):
    c = gw.client()
    a = c.classify([{"role": "user", "content": "ping bob@corp.example.com"}]).assessment
    assert a.level == "confidential"
    assert [(f.category, f.location, f.begin, f.end) for f in a.findings] == [
        ("pii.email", "messages[0].content", 5, 25)]
    r = c.route([{"role": "user", "content": "ping bob@corp.example.com"}])
    assert r.route.target == "frontier" and r.route.transform == "pseudonymize"
    assert not r.denied and "confidential-pseudonymized" in r.explanation
    assert upstream.stats()["requests"] == []


def test_every_request_is_audited_once_without_content(gw):
    c = gw.client()
    c.chat([{"role": "user", "content": "secret words jane@example.com"}])
    list(c.chat_stream([{"role": "user", "content": "more words"}]))
    c.classify([{"role": "user", "content": "x"}])
    gw.stop()
    records = gw.audit_records()
    assert [r["method"] for r in records] == ["Chat", "ChatStream", "Classify"]
    assert records[0]["outcome"] == "ok" and records[0]["target"] == "frontier"
    assert records[0]["categories"] == {"pii.email": 1}
    assert records[0]["tenant"] == "test" and records[0]["subject"] == "agent"
    text = open(gw.audit_path).read()
    assert "secret words" not in text and "jane@example.com" not in text


def test_concurrent_requests(gw):
    c = gw.client()
    errors = []

    def worker(i):
        try:
            r = c.chat([{"role": "user", "content": f"n{i}"}])
            assert r.content == f"You said: n{i}"
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_admin_status_needs_admin(gw):
    with pytest.raises(grpc.RpcError) as e:
        gw.client().status()
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    s = gw.client(api_key=ADMIN_KEY).status()
    assert [(t.name, t.kind, t.clearance, t.healthy) for t in s.targets] == [
        ("frontier", "openai", "public", True)]
    assert s.policy_hash == policy_hash(gw)
