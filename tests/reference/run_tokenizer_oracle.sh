#!/usr/bin/env bash
# CTest's oracle.tokenizer: makes the oracle's virtualenv (scripts/tokenizer-venv.sh) and runs
# tests/reference/tokenizer_oracle.py against the `airlock` binary. Exit status 77 (CTest: skipped)
# when the virtualenv cannot be made, e.g. on a machine that reaches no PyPI.
#
#   tests/reference/run_tokenizer_oracle.sh AIRLOCK_BINARY VENV_DIR
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
AIRLOCK="$1"
VENV="$2"
if ! bash "$ROOT/scripts/tokenizer-venv.sh" "$VENV"; then
  echo "oracle.tokenizer: skipped: the oracle's virtualenv could not be made (PyPI unreachable?)"
  exit 77
fi
exec "$VENV/bin/python" "$ROOT/tests/reference/tokenizer_oracle.py" "$AIRLOCK" \
  "$(dirname "$VENV")/tekken-tokenizer.json"
