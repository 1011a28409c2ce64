#!/usr/bin/env bash
# Fails (listing the files) when a tracked C++ file differs from what clang-format makes of it.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=()
while IFS= read -r f; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done < <(git ls-files '*.h' '*.cc' '*.cu')
if [[ ${#bad[@]} -gt 0 ]]; then
  echo "check-format: not formatted (run clang-format -i): ${bad[*]}" >&2
  exit 1
fi
