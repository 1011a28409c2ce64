#!/usr/bin/env bash
# Creates the benchmark virtualenv with LiteLLM's proxy (PyPI `litellm[proxy]`), the peer that
# tests/bench/run_gateway_overhead.sh measures side by side with airlockd. Nothing in the build
# or in Airlock itself needs it.
#
#   scripts/bench-venv.sh [VENV_DIR]     # default: build/bench-venv
#
# Idempotent: when the venv already holds the pinned version it prints nothing and exits 0.
# The pin predates the compromised LiteLLM releases of 2026 (1.82.7 / 1.82.8); change it only
# to a release you have reviewed.
set -euo pipefail

LITELLM_VERSION="1.77.7"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/build/bench-venv}"
STAMP="$VENV/.airlock-bench-litellm-$LITELLM_VERSION"

if [[ -f "$STAMP" && -x "$VENV/bin/litellm" ]]; then
  exit 0
fi

# A Python 3 whose venv module works: the one on PATH first (pyenv), then Debian's.
PY=""
for cand in "$(command -v python3 || true)" /usr/bin/python3; do
  [[ -n "$cand" && -x "$cand" ]] || continue
  probe="$(mktemp -d)"
  if "$cand" -m venv "$probe/v" >/dev/null 2>&1 && [[ -x "$probe/v/bin/pip" ]]; then
    PY="$cand"
  fi
  rm -rf "$probe"
  [[ -n "$PY" ]] && break
done
if [[ -z "$PY" ]]; then
  echo "bench-venv: no python3 with a working venv module (apt-get install python3-venv)" >&2
  exit 1
fi

echo "bench-venv: installing litellm[proxy]==$LITELLM_VERSION into $VENV (with $PY)"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "litellm[proxy]==$LITELLM_VERSION"
"$VENV/bin/litellm" --version >/dev/null 2>&1 || {
  echo "bench-venv: litellm installed but does not start" >&2
  exit 1
}
touch "$STAMP"
echo "bench-venv: ready"
