#!/usr/bin/env bash
# Creates the virtualenv of the tokenizer oracle: Hugging Face `tokenizers` (the reference BPE
# implementation), `transformers` (to convert Mistral's Tekken vocabulary to tokenizer.json the
# way it does) and `mistral-common` (which ships the Tekken vocabulary that Nemotron 3's derives
# from), and `jinja2` to render the official Nemotron 3 chat template for the chat-template
# goldens (tests/reference/chat_goldens.py). tests/reference/tokenizer_oracle.py uses it; the
# C++ tokenizer and chat template need none of it.
#
#   scripts/tokenizer-venv.sh [VENV_DIR]     # default: build/tokenizer-venv
#
# Idempotent (scripts/lib/venv.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/lib/venv.sh"
make_venv tokenizer-venv "${1:-$ROOT/build/tokenizer-venv}" \
  '"$VENV/bin/python" -c "import tokenizers, transformers, mistral_common, jinja2"' \
  "tokenizers==0.21.1" "transformers==4.51.3" "mistral-common==1.5.4" "sentencepiece==0.2.0" \
  "tiktoken==0.9.0" "protobuf==5.29.4" "jinja2==3.1.6"
