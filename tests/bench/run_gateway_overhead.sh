#!/usr/bin/env bash
# One run of the gateway-overhead benchmark (see README.md in this folder):
#
#   tests/bench/run_gateway_overhead.sh [BUILD_DIR] [extra bench_gateway_overhead args...]
#
# Starts bench_fake_upstream, airlockd in front of it (when BUILD_DIR/gateway/airlockd
# exists) and LiteLLM's proxy in front of it (when the venv from scripts/bench-venv.sh exists,
# by default BUILD_DIR/bench-venv), runs bench_gateway_overhead against all of them, prints
# the table and stops everything it started. Everything listens on 127.0.0.1; nothing is
# contacted outside this machine. BUILD_DIR defaults to ./build.
#
# Environment: BENCH_DURATION_S (3), BENCH_WARMUP_S (0.5), BENCH_CLIENTS (1,16,64),
# BENCH_MODES (unary,stream), BENCH_VENV (BUILD_DIR/bench-venv), LITELLM_WORKERS (nproc).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
[[ $# -gt 0 ]] && shift
if [[ ! -d "$BUILD" ]]; then
  echo "run_gateway_overhead: no build folder $BUILD" >&2
  exit 1
fi
BUILD="$(cd "$BUILD" && pwd)"
FAKE="$BUILD/tests/bench/bench_fake_upstream"
LOADGEN="$BUILD/tests/bench/bench_gateway_overhead"
AIRLOCKD="$BUILD/gateway/airlockd"
VENV="${BENCH_VENV:-$BUILD/bench-venv}"
DURATION="${BENCH_DURATION_S:-3}"
WARMUP="${BENCH_WARMUP_S:-0.5}"
CLIENTS="${BENCH_CLIENTS:-1,16,64}"
MODES="${BENCH_MODES:-unary,stream}"
LITELLM_WORKERS="${LITELLM_WORKERS:-$(nproc)}"
BENCH_KEY="airlock-bench-key"
LITELLM_KEY="sk-airlock-bench"

for bin in "$FAKE" "$LOADGEN"; do
  if [[ ! -x "$bin" ]]; then
    echo "run_gateway_overhead: $bin is missing; build it first:" >&2
    echo "  cmake -S $ROOT -B $BUILD -G Ninja && ninja -C $BUILD bench_fake_upstream bench_gateway_overhead bench_grpc_floor airlockd" >&2
    exit 1
  fi
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench.XXXXXX")"
PIDS=()  # each started with setsid: its pid is also its process group
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME LOG CMD...: runs CMD in its own session (so that cleanup reaches its children).
start() {
  local name="$1" log="$2"
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  PIDS+=("$!")
  eval "${name}_PID=$!"
}

# wait_port_file FILE PID SECONDS: prints the port written to FILE, or fails.
wait_port_file() {
  local file="$1" pid="$2" deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    if [[ -s "$file" ]]; then
      cat "$file"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# Bench upstream.
start FAKE "$TMP/fake.log" "$FAKE" --port-file "$TMP/fake.port" --threads 2
if ! UP_PORT="$(wait_port_file "$TMP/fake.port" "$FAKE_PID" 10)"; then
  echo "run_gateway_overhead: bench_fake_upstream did not start:" >&2
  cat "$TMP/fake.log" >&2
  exit 1
fi
ARGS=(--upstream-port "$UP_PORT" --duration-s "$DURATION" --warmup-s "$WARMUP"
      --clients "$CLIENTS" --modes "$MODES")
echo "fake upstream on 127.0.0.1:$UP_PORT" >&2

# airlockd.
if [[ -x "$AIRLOCKD" ]]; then
  KEY_SHA="$(printf '%s' "$BENCH_KEY" | sha256sum | cut -d' ' -f1)"
  cat >"$TMP/policy.yaml" <<EOF
version: 1
default:
  route: upstream
EOF
  cat >"$TMP/airlockd.yaml" <<EOF
listen: 127.0.0.1:0
principals:
  - tenant: bench
    subject: bench-client
    api_key_sha256: $KEY_SHA
targets:
  - name: upstream
    kind: openai
    base_url: http://127.0.0.1:$UP_PORT/v1
    model: bench-model
    clearance: restricted
egress_allowlist: [127.0.0.1]
policy: policy.yaml
audit: { path: $TMP/audit.jsonl }  # the default fsync policy (interval)
logging: { level: info }
workers: 2
EOF
  start AIRLOCKD "$TMP/airlockd.log" "$AIRLOCKD" --config "$TMP/airlockd.yaml" \
    --port-file "$TMP/airlockd.port"
  if AL_PORT="$(wait_port_file "$TMP/airlockd.port" "$AIRLOCKD_PID" 20)"; then
    ARGS+=(--airlock-port "$AL_PORT" --api-key "$BENCH_KEY")
    echo "airlockd on 127.0.0.1:$AL_PORT" >&2
  else
    echo "run_gateway_overhead: airlockd did not start; measuring without it:" >&2
    tail -n 20 "$TMP/airlockd.log" >&2
  fi
else
  echo "run_gateway_overhead: $AIRLOCKD not built; measuring without it" >&2
fi

# The gRPC floor: a Gateway server that answers at once (what gRPC itself costs).
FLOOR="$BUILD/tests/bench/bench_grpc_floor"
if [[ -x "$FLOOR" ]]; then
  start FLOOR "$TMP/floor.log" "$FLOOR" --port-file "$TMP/floor.port"
  if FL_PORT="$(wait_port_file "$TMP/floor.port" "$FLOOR_PID" 10)"; then
    ARGS+=(--floor-port "$FL_PORT")
    echo "grpc floor on 127.0.0.1:$FL_PORT" >&2
  fi
else
  echo "run_gateway_overhead: $FLOOR not built; measuring without the gRPC floor" >&2
fi

# LiteLLM proxy, offline: no cost-map download, no telemetry, and any other outbound HTTP(S)
# attempt goes to a dead local proxy instead of the network.
if [[ -x "$VENV/bin/litellm" ]]; then
  LL_PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  cat >"$TMP/litellm.yaml" <<EOF
model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:$UP_PORT/v1
      api_key: sk-fake-upstream
litellm_settings:
  telemetry: false
  drop_params: true
  set_verbose: false
general_settings:
  master_key: $LITELLM_KEY
  disable_spend_logs: true
EOF
  (
    export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False LITELLM_LOG=ERROR
    export DISABLE_ADMIN_UI=True LITELLM_DONT_SHOW_FEEDBACK_BOX=True
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1
    export HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9
    export http_proxy=$HTTP_PROXY https_proxy=$HTTPS_PROXY all_proxy=$ALL_PROXY
    export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
    unset DATABASE_URL OPENAI_API_KEY
    cd "$TMP"
    exec setsid "$VENV/bin/litellm" --config "$TMP/litellm.yaml" --host 127.0.0.1 \
      --port "$LL_PORT" --num_workers "$LITELLM_WORKERS" --telemetry False \
      >"$TMP/litellm.log" 2>&1 </dev/null
  ) &
  LITELLM_PID=$!
  PIDS+=("$LITELLM_PID")
  ready=0
  deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)) && kill -0 "$LITELLM_PID" 2>/dev/null; do
    if "$VENV/bin/python" - "$LL_PORT" "$LITELLM_KEY" >/dev/null 2>&1 <<'EOF'
import json, sys, urllib.request
port, key = sys.argv[1], sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
req = urllib.request.Request(
    f"http://127.0.0.1:{port}/v1/chat/completions",
    data=json.dumps({"model": "bench", "messages": [{"role": "user", "content": "hi"}]}).encode(),
    headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
with opener.open(req, timeout=5) as r:
    assert r.status == 200 and json.load(r)["choices"]
EOF
    then
      ready=1
      break
    fi
    sleep 0.5
  done
  if [[ $ready -eq 1 ]]; then
    ARGS+=(--litellm-port "$LL_PORT" --litellm-key "$LITELLM_KEY" --litellm-model bench)
    echo "litellm proxy on 127.0.0.1:$LL_PORT ($LITELLM_WORKERS workers)" >&2
  else
    echo "run_gateway_overhead: LiteLLM proxy did not become ready; measuring without it:" >&2
    tail -n 20 "$TMP/litellm.log" >&2
  fi
else
  echo "run_gateway_overhead: no LiteLLM venv at $VENV (scripts/bench-venv.sh $VENV makes" \
    "one); measuring without it" >&2
fi

timeout 900 "$LOADGEN" "${ARGS[@]}" "$@"
exit 0
