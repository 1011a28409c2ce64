"""The tamper-evident audit log end to end: requests through the real airlockd, then
`airlock audit verify`, `query`, `prove`, `check-proof` and `report` on the log it wrote; the
HTML report is opened in headless Chromium, whose screenshot is kept as a test artifact.

Environment (set by CTest): AIRLOCKD, AIRLOCK_CLI, AIRLOCK_PYTHON_STUBS, AIRLOCK_SOURCE_DIR;
AIRLOCK_ARTIFACT_DIR (optional): where the report and screenshot are kept (default
$TMPDIR/airlock-audit-artifacts, or the build folder's test-artifacts when run by CTest).
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess

import grpc
import pytest

from conftest import API_KEY, _wait_port_file
from airlock_client import AirlockClient

CLI = os.environ.get("AIRLOCK_CLI")
pytestmark = pytest.mark.skipif(not CLI or not os.environ.get("AIRLOCKD"),
                                reason="AIRLOCK_CLI / AIRLOCKD not set (run through ctest)")

POLICY = """\
version: 1
rules:
  - id: no-email
    when: { level_at_least: confidential }
    then: { deny: "no e-mail addresses" }
default:
  route: frontier
"""


def airlock(*args, stdin=b""):
    return subprocess.run([CLI, *map(str, args)], input=stdin, capture_output=True, timeout=120)


def artifact_dir():
    d = os.environ.get("AIRLOCK_ARTIFACT_DIR")
    if not d:
        cli_dir = os.path.dirname(os.path.abspath(CLI))  # BUILD/gateway
        d = os.path.join(os.path.dirname(cli_dir), "test-artifacts")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture
def audited_gateway(tmp, start_upstream):
    upstream = start_upstream()
    r = airlock("audit", "keygen", "--out", os.path.join(tmp, "signer"))
    assert r.returncode == 0, r.stderr.decode()
    with open(os.path.join(tmp, "policy.yaml"), "w") as f:
        f.write(POLICY)
    config = os.path.join(tmp, "airlockd.yaml")
    with open(config, "w") as f:
        f.write("\n".join([
            "listen: 127.0.0.1:0",
            "principals:",
            "  - tenant: acme", "    subject: agent",
            f"    api_key_sha256: {hashlib.sha256(API_KEY.encode()).hexdigest()}",
            "targets:",
            "  - name: frontier", "    kind: openai", f"    base_url: {upstream.url}",
            "    model: m", "    clearance: public",
            "egress_allowlist: [127.0.0.1]",
            "policy: policy.yaml",
            "audit:",
            "  path: audit/audit.jsonl",
            "  fsync: batch",
            "  signing_key_file: signer.key",
            "  segment_max_bytes: 4096",
            "  checkpoint_every_records: 4",
            "shutdown_grace_ms: 5000",
        ]) + "\n")
    port_file = os.path.join(tmp, "airlockd.port")
    proc = subprocess.Popen([os.environ["AIRLOCKD"], "--config", config, "--port-file", port_file],
                            stderr=open(os.path.join(tmp, "airlockd.log"), "w"))
    port = _wait_port_file(port_file, proc, "airlockd")
    client = AirlockClient(f"127.0.0.1:{port}", API_KEY)
    yield client, proc, tmp
    client.close()
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_requests_through_airlockd_verify_query_prove_and_report(audited_gateway):
    client, proc, tmp = audited_gateway
    served = denied = 0
    for i in range(30):
        if i % 3 == 2:
            with pytest.raises(grpc.RpcError) as e:
                client.chat([{"role": "user", "content": f"mail me at u{i}@example.org"}])
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
            denied += 1
        else:
            assert client.chat([{"role": "user", "content": f"hello {i}"}]).content
            served += 1
    client.close()
    proc.send_signal(signal.SIGTERM)  # drain, flush, sign the shutdown checkpoint
    assert proc.wait(20) == 0
    log = os.path.join(tmp, "audit", "audit.jsonl")
    key = os.path.join(tmp, "signer.pub")
    assert sorted(os.listdir(os.path.join(tmp, "audit")))[0] == "audit.000000.jsonl"  # rotated

    # verify: intact up to the last record.
    r = airlock("audit", "verify", log, "--key", key)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert r.stdout.decode().startswith("intact up to record 29 at checkpoint ")
    result = json.loads(airlock("audit", "verify", os.path.join(tmp, "audit"), "--key", key,
                                "--json").stdout)
    assert result["ok"] and result["records"] == 30 and result["segments"] >= 2

    # query: filters, table and JSON lines.
    r = airlock("audit", "query", log, "--outcome", "denied", "--json")
    assert r.returncode == 0, r.stderr.decode()
    rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(rows) == denied
    assert all(x["rule_id"] == "no-email" and x["categories"] == {"pii.email": 1} for x in rows)
    assert all("example.org" not in json.dumps(x) for x in rows)  # no content at rest
    r = airlock("audit", "query", log, "--tenant", "acme", "--target", "frontier", "--level",
                "public", "--category", "pii.*")
    assert r.returncode == 0 and r.stdout.decode().splitlines()[0].split()[0] == "SEQ"
    assert len(r.stdout.decode().splitlines()) == 1  # served requests had no findings
    r = airlock("audit", "query", log, "--since", "2000-01-01", "--until", "2999", "--limit", "5")
    assert len(r.stdout.decode().splitlines()) == 6
    assert airlock("audit", "query", log, "--since", "yesterday").returncode == 2

    # prove: inclusion of one record, consistency of two checkpoints; checked offline.
    r = airlock("audit", "prove", log, "--key", key, "--seq", 7)
    assert r.returncode == 0, r.stderr.decode()
    proof = json.loads(r.stdout)
    assert proof["seq"] == 7 and proof["tree_size"] == 30 and json.loads(proof["record"])["seq"] == 7
    proof_path = os.path.join(tmp, "proof.json")
    open(proof_path, "w").write(r.stdout.decode())
    r = airlock("audit", "check-proof", proof_path, "--key", key)
    assert r.returncode == 0 and r.stdout.decode().strip() == "valid", r.stdout.decode()
    proof["record"] = proof["record"].replace('"seq":7', '"seq":8')
    r = airlock("audit", "check-proof", "-", "--key", key, stdin=json.dumps(proof).encode())
    assert r.returncode == 1 and r.stdout.decode().startswith("invalid:")
    sizes = [c["size"] for c in map(json.loads, open(os.path.join(tmp, "audit",
                                                                  "audit.checkpoints.jsonl")))]
    r = airlock("audit", "prove", log, "--key", key, "--from", sizes[1], "--to", sizes[-1])
    assert r.returncode == 0, r.stderr.decode()
    r = airlock("audit", "check-proof", "-", "--key", key, stdin=r.stdout)
    assert r.returncode == 0, r.stdout.decode()

    # report: one self-contained page, opened by headless Chromium.
    report = os.path.join(artifact_dir(), "audit-report.html")
    r = airlock("audit", "report", log, "--key", key, "--out", report)
    assert r.returncode == 0, r.stderr.decode()
    html = open(report).read()
    assert "Intact up to record 29" in html and "no-email" in html and "<svg" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html and "src=" not in html
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium is not installed (scripts/install-deps.sh installs it)")
    shot = os.path.join(artifact_dir(), "audit-report.png")
    if os.path.exists(shot):
        os.remove(shot)
    r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--window-size=1000,1800", f"--user-data-dir={tmp}/chromium",
                        f"--screenshot={shot}", "file://" + report],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert os.path.getsize(shot) > 10000
    assert open(shot, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_tampering_is_reported_with_record_and_offset(audited_gateway):
    client, proc, tmp = audited_gateway
    for i in range(6):
        client.chat([{"role": "user", "content": f"hello {i}"}])
    client.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    log = os.path.join(tmp, "audit", "audit.jsonl")
    first = os.path.join(tmp, "audit", "audit.000000.jsonl")
    segment = first if os.path.exists(first) else log
    lines = open(segment, "rb").read().split(b"\n")
    offset = len(lines[0]) + 1
    lines[1] = lines[1].replace(b'"outcome":"ok"', b'"outcome":"no"')
    open(segment, "wb").write(b"\n".join(lines))
    r = airlock("audit", "verify", log, "--key", os.path.join(tmp, "signer.pub"), "--json")
    assert r.returncode == 1
    problem = json.loads(r.stdout)["problems"][0]
    assert problem["kind"] == "modified" and problem["seq"] == 1
    assert problem["offset"] == offset and problem["file"] == segment
