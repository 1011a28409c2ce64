#!/usr/bin/env bash
# llama.cpp as the engine benchmark's peer (issue #6): runs llama.cpp's llama-bench on the same
# Nemotron-H model, with the same thread count, so that its prefill (pp) and decode (tg) tokens/s
# sit next to the engine's. Airlock itself does not depend on any of this.
#
#   tests/bench/run_llamacpp_peer.sh MODEL_DIR [THREADS]     # THREADS default: 2
#
# MODEL_DIR is an HF-format folder (config.json, tokenizer.json, *.safetensors), e.g. one written
# by `airlock model synth DIR --preset bench`. Steps:
#   1. scripts/llamacpp-venv.sh: the venv (PyPI gguf, numpy) and llama.cpp's llama-bench, built
#      from the llama.cpp vendored in PyPI's llama-cpp-python sdist (idempotent);
#   2. tests/bench/hf_to_gguf.py: MODEL_DIR -> build/llamacpp-peer/<name>-<hash>/model.gguf (BF16,
#      redone only when the model's files change);
#   3. llama-bench -t THREADS -p PROMPT -n GEN -b BATCH (markdown table on stdout).
# Environment: PROMPT (default 512), GEN (32), BATCH (2048, llama-bench's default; a comma list
# runs several), REPS (llama-bench -r, default 3), OUT_DIR (default build/).
# Exits 0 on success, 77 (skip) when PyPI cannot be reached, non-zero on any other failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 MODEL_DIR [THREADS]" >&2
  exit 2
fi
MODEL_DIR="$(cd "$1" && pwd)"
THREADS="${2:-2}"
OUT="${OUT_DIR:-$ROOT/build}"
for f in config.json tokenizer.json; do
  [[ -f "$MODEL_DIR/$f" ]] || { echo "run_llamacpp_peer: $MODEL_DIR has no $f" >&2; exit 2; }
done

# 1. venv and llama.cpp (exits 77 itself when PyPI cannot be reached)
rc=0
"$ROOT/scripts/llamacpp-venv.sh" "$OUT" >&2 || rc=$?
if [[ $rc -eq 77 ]]; then
  echo "run_llamacpp_peer: PyPI cannot be reached (it provides gguf, numpy and the" \
    "llama-cpp-python sdist); skipping the llama.cpp peer" >&2
  exit 77
elif [[ $rc -ne 0 ]]; then
  exit "$rc"
fi
PY="$OUT/llamacpp-venv/bin/python"
BENCH="$OUT/llamacpp/build/bin/llama-bench"

# 2. the GGUF, keyed by the model folder and its files' sizes and times
key="$(cd "$MODEL_DIR" && stat -c '%n %s %Y' config.json tokenizer.json ./*.safetensors \
  | sha256sum | cut -c1-12)"
GGUF="$OUT/llamacpp-peer/$(basename "$MODEL_DIR")-$key/model.gguf"
if [[ ! -f "$GGUF" ]]; then
  "$PY" "$ROOT/tests/bench/hf_to_gguf.py" "$MODEL_DIR" "$GGUF" >&2
fi

# 3. the benchmark
echo "llama.cpp peer: $(basename "$MODEL_DIR") as $GGUF, $THREADS threads" >&2
"$BENCH" -m "$GGUF" -t "$THREADS" -p "${PROMPT:-512}" -n "${GEN:-32}" -b "${BATCH:-2048}" \
  -r "${REPS:-3}" -o md
