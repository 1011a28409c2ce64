#!/usr/bin/env bash
# Creates the benchmark virtualenv with LiteLLM's proxy (PyPI `litellm[proxy]`), the peer that
# tests/bench/run_gateway_overhead.sh measures side by side with airlockd. Nothing in the build
# or in Airlock itself needs it.
#
#   scripts/bench-venv.sh [VENV_DIR]     # default: build/bench-venv
#
# Idempotent (scripts/lib/venv.sh). The pin predates the compromised LiteLLM releases of 2026
# (1.82.7 / 1.82.8); change it only to a release you have reviewed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/lib/venv.sh"
make_venv bench-venv "${1:-$ROOT/build/bench-venv}" '"$VENV/bin/litellm" --version' \
  "litellm[proxy]==1.77.7"
