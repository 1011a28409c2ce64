#!/usr/bin/env bash
# Creates the virtualenv with Microsoft Presidio's analyzer (PyPI `presidio-analyzer`), the peer
# that tests/bench/presidio_pii.py measures side by side with Airlock's PII detectors on
# ../shared/data/pii. Nothing in the build or in Airlock itself needs it.
#
#   scripts/presidio-venv.sh [VENV_DIR]     # default: build/presidio-venv
#
# Idempotent: when the venv already holds the pinned version it prints nothing and exits 0.
# Presidio's spaCy NER needs a spaCy model (en_core_web_lg by default); spaCy's models are not
# published on PyPI, so an offline machine gets only Presidio's pattern recognizers, which is
# what tests/bench/presidio_pii.py runs (see its header).
set -euo pipefail

PRESIDIO_VERSION="2.2.358"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/build/presidio-venv}"
STAMP="$VENV/.airlock-presidio-analyzer-$PRESIDIO_VERSION"

if [[ -f "$STAMP" && -x "$VENV/bin/python" ]]; then
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
  echo "presidio-venv: no python3 with a working venv module (apt-get install python3-venv)" >&2
  exit 1
fi

echo "presidio-venv: installing presidio-analyzer==$PRESIDIO_VERSION into $VENV (with $PY)"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "presidio-analyzer==$PRESIDIO_VERSION"
"$VENV/bin/python" -c "import presidio_analyzer" || {
  echo "presidio-venv: presidio-analyzer installed but does not import" >&2
  exit 1
}
touch "$STAMP"
echo "presidio-venv: ready"
