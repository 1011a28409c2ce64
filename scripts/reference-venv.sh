#!/usr/bin/env bash
# Creates the virtualenv of the engine's numpy reference (tests/reference/), which writes the
# golden logits that the engine's tests compare against (tests/data/engine/). Only regenerating
# the goldens needs it; the build and the tests do not.
#
#   scripts/reference-venv.sh [VENV_DIR]     # default: build/reference-venv
#
# Idempotent (scripts/lib/venv.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/lib/venv.sh"
make_venv reference-venv "${1:-$ROOT/build/reference-venv}" \
  '"$VENV/bin/python" -c "import numpy"' "numpy==2.1.3"
