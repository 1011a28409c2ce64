#!/usr/bin/env bash
# Creates the virtualenv of Hugging Face transformers' own NemotronHForCausalLM (PyPI
# `transformers` + `torch`), the second independent reference for the engine's golden logits
# (tests/reference/transformers_goldens.py writes tests/data/engine/transformers_goldens.json).
# Only regenerating those goldens needs it; the build and the tests do not. Large: torch and its
# CUDA libraries are several GB.
#
#   scripts/transformers-venv.sh [VENV_DIR]     # default: build/transformers-venv
#
# Idempotent (scripts/lib/venv.sh). Versions are pinned: the reference implementations still
# move (docs/nemotron-h-spec.md §7.13).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/lib/venv.sh"
make_venv transformers-venv "${1:-$ROOT/build/transformers-venv}" \
  '"$VENV/bin/python" -c "import torch, transformers; from transformers import NemotronHForCausalLM"' \
  "torch==2.15.0" "transformers==5.24.0" "numpy==2.1.3"
