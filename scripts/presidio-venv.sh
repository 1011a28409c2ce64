#!/usr/bin/env bash
# Creates the virtualenv with Microsoft Presidio's analyzer (PyPI `presidio-analyzer`), the peer
# that tests/bench/presidio_pii.py measures side by side with Airlock's PII detectors on
# ../shared/data/pii. Nothing in the build or in Airlock itself needs it.
#
#   scripts/presidio-venv.sh [VENV_DIR]     # default: build/presidio-venv
#
# Idempotent (scripts/lib/venv.sh). Presidio's spaCy NER needs a spaCy model (en_core_web_lg by
# default); spaCy's models are not published on PyPI, so an offline machine gets only Presidio's
# pattern recognizers, which is what tests/bench/presidio_pii.py runs (see its header).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/lib/venv.sh"
make_venv presidio-venv "${1:-$ROOT/build/presidio-venv}" \
  '"$VENV/bin/python" -c "import presidio_analyzer"' "presidio-analyzer==2.2.358"
