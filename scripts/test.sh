#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: formatting, the warning-free build
# (-Werror) with unit and integration tests, then the same tests under ASan+UBSan.
# Build folders: build-test/ and build-asan/ (override with BUILD_TEST / BUILD_ASAN).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_TEST=${BUILD_TEST:-build-test}
BUILD_ASAN=${BUILD_ASAN:-build-asan}
JOBS=${JOBS:-$(nproc)}

scripts/install-deps.sh
scripts/check-format.sh

echo "== build (-Werror) and test"
cmake -S . -B "$BUILD_TEST" -G Ninja -DAIRLOCK_WERROR=ON >/dev/null
cmake --build "$BUILD_TEST" -j "$JOBS"
ctest --test-dir "$BUILD_TEST" --output-on-failure -j "$JOBS"

# Without CUDA here: the first build compiled the CUDA code, and this one builds and tests the
# library as a machine without the toolkit has it.
echo "== build and test under ASan+UBSan"
cmake -S . -B "$BUILD_ASAN" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DAIRLOCK_WERROR=ON \
  -DAIRLOCK_SANITIZE=ON -DAIRLOCK_BUILD_BENCH=OFF -DAIRLOCK_CUDA=OFF >/dev/null
cmake --build "$BUILD_ASAN" -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$BUILD_ASAN" -L 'unit|integration' --output-on-failure -j "$JOBS"
