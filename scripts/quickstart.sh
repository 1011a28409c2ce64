#!/usr/bin/env bash
# The Quickstart's main job: install the Debian packages, build Airlock, write the synthetic
# Nano model (random weights) for the local target, start the echo upstream and airlockd with
# examples/quickstart/, run the example Python client against it (unary, streaming, tool call,
# pseudonymization, a card number kept on the in-process engine), show the audit records, stop.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

scripts/install-deps.sh
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIRLOCK_BUILD_TESTS=OFF \
  -DAIRLOCK_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" --target airlockd airlock airlock_python_stubs
# The local target's model: Nemotron-H's tiny test shape with random weights (its text is
# meaningless). Point the `nano` target's `model:` at real Nemotron weights to change that.
[[ -f build/quickstart-nano/config.json ]] || "$BUILD/gateway/airlock" model synth build/quickstart-nano

run=$(mktemp -d)
cleanup() {
  [[ -n "${AIRLOCKD_PID:-}" ]] && kill "$AIRLOCKD_PID" 2>/dev/null && wait "$AIRLOCKD_PID" || true
  [[ -n "${UPSTREAM_PID:-}" ]] && kill "$UPSTREAM_PID" 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT

wait_for_file() {
  for _ in $(seq 1 100); do [[ -s "$1" ]] && return 0; sleep 0.1; done
  echo "quickstart: $2 did not start; see $run" >&2
  return 1
}

/usr/bin/python3 examples/upstream/echo_upstream.py --port 18080 --port-file "$run/upstream.port" \
  2>"$run/upstream.log" &
UPSTREAM_PID=$!
wait_for_file "$run/upstream.port" "the echo upstream (port 18080 busy?)"

rm -f "$BUILD/quickstart-audit.jsonl"
"$BUILD/gateway/airlockd" --config examples/quickstart/airlockd.yaml --port-file "$run/airlockd.port" \
  2>"$run/airlockd.log" &
AIRLOCKD_PID=$!
wait_for_file "$run/airlockd.port" "airlockd (port 50051 busy?)" || { cat "$run/airlockd.log" >&2; exit 1; }
echo "airlockd is listening on 127.0.0.1:$(cat "$run/airlockd.port")"

/usr/bin/python3 examples/python/airlock_client.py --address "127.0.0.1:$(cat "$run/airlockd.port")" \
  --api-key demo-key --stubs "$BUILD/python" demo

kill -TERM "$AIRLOCKD_PID"; wait "$AIRLOCKD_PID"; AIRLOCKD_PID=
echo "== what the upstream received for the e-mail request (pseudonymized):"
/usr/bin/python3 - "$(cat "$run/upstream.port")" <<'PY'
import json, sys, urllib.request
stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_stats"))
print("  ", stats["requests"][1]["messages"][-1]["content"])
PY
echo "== audit records (no prompt text, only digests and counts): $BUILD/quickstart-audit.jsonl"
head -c 600 "$BUILD/quickstart-audit.jsonl"; echo " ..."
