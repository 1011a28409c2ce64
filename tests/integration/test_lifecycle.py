"""airlockd's lifecycle: drain on SIGTERM, policy reload, health, startup errors."""
import os
import signal
import subprocess
import time

import grpc
import pytest

from airlock_client import collect_stream
from conftest import ADMIN_KEY


def test_sigterm_during_a_stream_drains_and_exits_zero(start_upstream, start_gateway):
    upstream = start_upstream("--chunk-delay", "0.05", "--repeat", "20")  # ~2 s stream
    gw = start_gateway([{"name": "frontier", "url": upstream.url}])
    call = gw.client().chat_stream([{"role": "user", "content": "drain me"}], timeout=30)
    it = iter(call)
    first = next(it)
    assert first.HasField("route")
    gw.proc.send_signal(signal.SIGTERM)
    text, _, last, _ = collect_stream(it)
    assert last.finish_reason == "stop"
    assert text.endswith("drain me")
    assert gw.proc.wait(20) == 0
    # No new calls are accepted after the drain.
    assert upstream.stats()["completed"] == 1
    records = gw.audit_records()
    assert len(records) == 1 and records[0]["outcome"] == "ok"


def test_policy_reload_by_sighup_and_admin(start_upstream, start_gateway):
    upstream = start_upstream()
    # The file watch is off, so that only SIGHUP and the Admin call reload.
    gw = start_gateway([{"name": "frontier", "url": upstream.url}], extra="policy_watch_ms: 0")
    admin = gw.client(api_key=ADMIN_KEY)
    old = admin.status().policy_hash
    # A broken policy is refused and the old one keeps serving.
    with open(gw.policy_path, "w") as f:
        f.write("version: 1\ndefault:\n  route: nowhere\n")
    with pytest.raises(grpc.RpcError) as e:
        admin.reload_policy()
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "policy.yaml:3" in e.value.details() and "nowhere" in e.value.details()
    assert admin.status().policy_hash == old
    gw.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert admin.status().policy_hash == old
    # A good one goes live on SIGHUP.
    with open(gw.policy_path, "w") as f:
        f.write("version: 1\nrules:\n  - id: all-denied\n    when: {}\n"
                "    then: { deny: closed }\ndefault:\n  route: frontier\n")
    gw.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 5
    while admin.status().policy_hash == old and time.time() < deadline:
        time.sleep(0.05)
    assert admin.status().policy_hash != old
    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "user", "content": "hi"}])
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "all-denied" in e.value.details()


def wait_until(check, seconds=10):
    deadline = time.time() + seconds
    while not check() and time.time() < deadline:
        time.sleep(0.05)
    return check()


def test_policy_reloads_when_its_file_changes(start_upstream, start_gateway):
    upstream = start_upstream()
    gw = start_gateway([{"name": "frontier", "url": upstream.url}], extra="policy_watch_ms: 50")
    admin = gw.client(api_key=ADMIN_KEY)
    status = admin.status()
    old = status.policy_hash
    assert status.last_reload_error == "" and status.last_reload_unix_ms > 0
    # A broken file is refused: the status says why, the old policy keeps serving.
    with open(gw.policy_path, "w") as f:
        f.write("version: 1\ndefault:\n  route: nowhere\n")
    assert wait_until(lambda: admin.status().last_reload_error != "")
    status = admin.status()
    assert "policy.yaml:3:" in status.last_reload_error and "nowhere" in status.last_reload_error
    assert status.policy_hash == old
    assert gw.client().chat([{"role": "user", "content": "hi"}]).route.target == "frontier"
    # A good one, renamed over the old file as deployment tools do, goes live by itself.
    tmp_path = gw.policy_path + ".new"
    with open(tmp_path, "w") as f:
        f.write("version: 1\nrules:\n  - id: all-denied\n    when: {}\n"
                "    then: { deny: closed }\ndefault:\n  route: frontier\n")
    os.rename(tmp_path, gw.policy_path)
    assert wait_until(lambda: admin.status().policy_hash != old)
    assert admin.status().last_reload_error == ""
    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "user", "content": "hi"}])
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "all-denied" in e.value.details()


def test_health_and_reflection(start_upstream, start_gateway):
    upstream = start_upstream()
    gw = start_gateway([{"name": "frontier", "url": upstream.url}])
    channel = grpc.insecure_channel(gw.address)
    check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                request_serializer=lambda _: b"",
                                response_deserializer=lambda b: b)
    assert check(None, timeout=5) == b"\x08\x01"  # status: SERVING
    reflect = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=lambda _: b"\x3a\x00",  # list_services: ""
        response_deserializer=lambda b: b)
    reply = next(iter(reflect(iter([None]), timeout=5)))
    assert b"airlock.v1.Gateway" in reply and b"airlock.v1.Admin" in reply
    channel.close()


def test_target_health_follows_ejection(start_upstream, start_gateway):
    """grpc.health.v1 has a service per target, "targets/NAME": NOT_SERVING while the target
    is ejected after failures, SERVING again once the ejection is over."""
    upstream = start_upstream("--fail-first", "1")
    gw = start_gateway([{"name": "frontier", "url": upstream.url, "retries": 0,
                         "eject_after_failures": 1, "eject_for_ms": 1500}])
    channel = grpc.insecure_channel(gw.address)
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=lambda name: b"\x0a" + bytes([len(name)]) + name.encode(),
        response_deserializer=lambda b: b)
    serving, not_serving = b"\x08\x01", b"\x08\x02"

    def wait_for(name, status, timeout=10):
        end = time.time() + timeout
        while check(name, timeout=5) != status:
            assert time.time() < end, f"{name} never became {status!r}"
            time.sleep(0.05)
        return time.time()

    assert check("", timeout=5) == serving
    assert check("targets/frontier", timeout=5) == serving
    with pytest.raises(grpc.RpcError) as e:
        check("targets/elsewhere", timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.RpcError) as e:
        gw.client().chat([{"role": "user", "content": "x"}])
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    failed = time.time()
    wait_for("targets/frontier", not_serving)
    assert check("", timeout=5) == serving  # the gateway itself still serves
    assert wait_for("targets/frontier", serving) - failed >= 1.0  # not before the ejection ends
    r = gw.client().chat([{"role": "user", "content": "back"}])
    assert r.content == "You said: back"
    channel.close()


def test_configuration_error_names_file_line_and_key(tmp):
    path = os.path.join(tmp, "bad.yaml")
    with open(path, "w") as f:
        f.write("listen: 127.0.0.1:0\npolicy: p.yaml\nlimits:\n  max_inflight: 3\n")
    r = subprocess.run([os.environ["AIRLOCKD"], "--config", path], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2
    assert "bad.yaml:4:" in r.stderr and "max_inflight" in r.stderr


def test_metrics_endpoint(start_upstream, start_gateway):
    import urllib.request
    upstream = start_upstream()
    gw = start_gateway([{"name": "frontier", "url": upstream.url}],
                       extra="metrics: { listen: 127.0.0.1:0 }")
    gw.client().chat([{"role": "user", "content": "count me"}])
    log = gw.log()
    port = int(log.split('"metrics_port":')[1].split(",")[0].split("}")[0])
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'airlock_requests_total{outcome="ok",rule="default",target="frontier"} 1' in body \
        or 'airlock_requests_total{target="frontier",rule="default",outcome="ok"} 1' in body
    assert "airlock_stage_seconds_bucket" in body
