#!/usr/bin/env bash
# The engine's decode / prefill benchmark and llama.cpp's on the same model, one after the
# other in one run, with the same thread count, prompt length (512) and decode steps (32).
#
#   tests/bench/run_engine_vs_llamacpp.sh [MODEL_DIR] [THREADS]   # THREADS default: all cores
#
# Without MODEL_DIR it writes the `bench` preset to build/bench-model first (kept for later
# runs). Needs the build (bench_engine_decode, airlock). The llama.cpp half is
# tests/bench/run_llamacpp_peer.sh (PyPI; skipped with a message when PyPI cannot be reached).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build}"
MODEL="${1:-}"
THREADS="${2:-$(nproc)}"
if [[ -z "$MODEL" ]]; then
  MODEL="$BUILD/bench-model"
  if [[ ! -f "$MODEL/config.json" ]]; then
    "$BUILD/gateway/airlock" model synth "$MODEL" --preset bench >/dev/null
  fi
fi
echo "== Airlock engine ($MODEL, $THREADS threads)"
"$BUILD/tests/bench/bench_engine_decode" --model "$MODEL" --threads "$THREADS" --tokens 32 \
  --prompt 512
echo
echo "== llama.cpp ($MODEL as GGUF, $THREADS threads)"
rc=0
PROMPT=512 GEN=32 "$ROOT/tests/bench/run_llamacpp_peer.sh" "$MODEL" "$THREADS" || rc=$?
if [[ $rc -eq 77 ]]; then echo "(skipped: PyPI cannot be reached)"; rc=0; fi
exit "$rc"
