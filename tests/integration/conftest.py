"""Fixtures for the integration tests: the real airlockd binary, the echo upstream and the
example Python client, all on 127.0.0.1 with ports picked by the kernel (port 0).

Environment (set by CTest): AIRLOCKD (path of the binary), AIRLOCK_PYTHON_STUBS (generated
stubs), AIRLOCK_SOURCE_DIR (the repository root).
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

SOURCE = os.environ.get("AIRLOCK_SOURCE_DIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SOURCE, "examples", "python"))
from airlock_client import AirlockClient  # noqa: E402

API_KEY = "integration-key"
ADMIN_KEY = "integration-admin-key"

DEFAULT_POLICY = """\
version: 1
rules:
  - id: confidential-pseudonymized
    when: { level_at_least: confidential }
    then: { route: frontier, transform: pseudonymize }
default:
  route: frontier
"""


def _wait_port_file(path, proc, what, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path) and open(path).read().strip():
            return int(open(path).read())
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not start within {timeout}s")


class Upstream:
    """The echo upstream (examples/upstream/echo_upstream.py) in its own process."""

    def __init__(self, tmp, *args):
        port_file = os.path.join(tmp, f"upstream-{id(self)}.port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(SOURCE, "examples", "upstream", "echo_upstream.py"),
             "--port-file", port_file, *map(str, args)], stderr=subprocess.DEVNULL)
        self.port = _wait_port_file(port_file, self.proc, "echo upstream")
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stats", timeout=5) as r:
            return json.load(r)

    def wait_stats(self, predicate, timeout=10):
        end = time.time() + timeout
        while True:
            s = self.stats()
            if predicate(s) or time.time() > end:
                return s
            time.sleep(0.05)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Gateway:
    """airlockd with a generated config; `client()` connects the example client."""

    def __init__(self, tmp, targets, policy=DEFAULT_POLICY, extra=""):
        self.tmp = tmp
        self.policy_path = os.path.join(tmp, "policy.yaml")
        with open(self.policy_path, "w") as f:
            f.write(policy)
        self.audit_path = os.path.join(tmp, "audit.jsonl")
        lines = ["listen: 127.0.0.1:0", "principals:"]
        for subject, key, labels in (("agent", API_KEY, "{}"), ("ops", ADMIN_KEY, "{role: admin}")):
            lines += [f"  - tenant: test", f"    subject: {subject}", f"    labels: {labels}",
                      f"    api_key_sha256: {hashlib.sha256(key.encode()).hexdigest()}"]
        lines.append("targets:")
        for t in targets:
            if "local" in t:  # the in-process engine on a model folder
                lines += [f"  - name: {t['name']}", "    kind: local", f"    model: {t['local']}",
                          f"    clearance: {t.get('clearance', 'public')}"]
                if "engine" in t:
                    lines.append(f"    engine: {t['engine']}")
                continue
            lines += [f"  - name: {t['name']}", "    kind: openai",
                      f"    base_url: {t['url']}", f"    model: {t.get('model', 'm')}",
                      f"    clearance: {t.get('clearance', 'public')}",
                      f"    retries: {t.get('retries', 1)}"]
            lines += [f"    {key}: {t[key]}" for key in ("eject_after_failures", "eject_for_ms")
                      if key in t]
        lines += ["egress_allowlist: [127.0.0.1]", "policy: policy.yaml",
                  "audit: { path: audit.jsonl, fsync: record }",
                  "limits: { max_message_bytes: 65536, max_concurrent_streams: 100, "
                  "max_in_flight: 64 }",
                  "shutdown_grace_ms: 5000", "workers: 2", extra]
        self.config_path = os.path.join(tmp, "airlockd.yaml")
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        port_file = os.path.join(tmp, "airlockd.port")
        if os.path.exists(port_file):  # a gateway started before in this folder
            os.remove(port_file)
        self.log_path = os.path.join(tmp, "airlockd.log")
        self.proc = subprocess.Popen(
            [os.environ["AIRLOCKD"], "--config", self.config_path, "--port-file", port_file],
            stderr=open(self.log_path, "w"))
        self.port = _wait_port_file(port_file, self.proc, "airlockd")
        self.address = f"127.0.0.1:{self.port}"
        self.clients = []

    def client(self, api_key=API_KEY):
        c = AirlockClient(self.address, api_key)
        self.clients.append(c)
        return c

    def audit_records(self):
        if not os.path.exists(self.audit_path):
            return []
        with open(self.audit_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def log(self):
        return open(self.log_path).read()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        for c in self.clients:
            c.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="airlock-it-") as d:
        yield d


@pytest.fixture
def model(tmp_path):
    """`airlock model synth`'s tiny model (random weights) in a fresh folder."""
    path = tmp_path / "tiny"
    subprocess.run([os.environ["AIRLOCK_CLI"], "model", "synth", str(path)], check=True,
                   capture_output=True)
    return str(path)


@pytest.fixture
def start_upstream(tmp):
    started = []

    def start(*args):
        u = Upstream(tmp, *args)
        started.append(u)
        return u
    yield start
    for u in started:
        u.stop()


@pytest.fixture
def start_gateway(tmp):
    started = []

    def start(targets, **kw):
        g = Gateway(tmp, targets, **kw)
        started.append(g)
        return g
    yield start
    for g in started:
        g.stop(signal.SIGKILL if g.proc.poll() is None else signal.SIGTERM)
