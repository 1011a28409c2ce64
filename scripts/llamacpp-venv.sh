#!/usr/bin/env bash
# Makes llama.cpp the engine benchmark's peer (issue #6): a virtualenv with PyPI `gguf` and
# `numpy` (for tests/bench/hf_to_gguf.py), and llama.cpp's `llama-bench` and `llama-completion`
# built from the llama.cpp vendored in PyPI's `llama-cpp-python` source distribution (CPU
# backend, -march=native). tests/bench/run_llamacpp_peer.sh uses it. Nothing in the build or in
# Airlock itself needs any of this.
#
#   scripts/llamacpp-venv.sh [OUT_DIR]     # default: build/
#
# Makes OUT_DIR/llamacpp-venv and OUT_DIR/llamacpp/ (the sdist, its unpacked tree, and the CMake
# build; the binaries land in OUT_DIR/llamacpp/build/bin). Idempotent: a venv with the same pins,
# the downloaded sdist and a build of the same version are kept. JOBS sets the build's
# parallelism (default 2); the first build takes about 10 minutes on 2 cores. Exits 77 when PyPI
# cannot be reached.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/lib/venv.sh"

OUT="${1:-$ROOT/build}"
LLAMA_CPP_PYTHON_VERSION=0.3.36
GGUF_VERSION=0.19.0
NUMPY_VERSION=2.1.3
JOBS="${JOBS:-2}"

VENV="$OUT/llamacpp-venv"
DIR="$OUT/llamacpp"
SDIST="$DIR/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
SRC="$DIR/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
BUILD="$DIR/build"

# A failed pip step exits 77 (skip) when PyPI is what is missing, 1 otherwise.
pip_failed() {
  local probe
  probe="$(mktemp -d)"
  if python3 -m pip download --quiet --disable-pip-version-check --no-deps --dest "$probe" \
    "gguf==$GGUF_VERSION" >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "llamacpp-venv: $1" >&2
    exit 1
  fi
  rm -rf "$probe"
  echo "llamacpp-venv: $1: PyPI cannot be reached" >&2
  exit 77
}

make_venv llamacpp-venv "$VENV" \
  '"$VENV/bin/python" -c "import gguf, numpy; gguf.MODEL_ARCH.NEMOTRON_H_MOE"' \
  "gguf==$GGUF_VERSION" "numpy==$NUMPY_VERSION" || pip_failed "could not make $VENV"

# The sdist, unpacked. pip download fetches only the archive (no build, no dependencies).
mkdir -p "$DIR"
if [[ ! -f "$SDIST" ]]; then
  echo "llamacpp-venv: downloading llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION (sdist)"
  "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: --dest "$DIR" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" \
    || pip_failed "pip download llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION failed"
fi
if [[ ! -f "$SRC/CMakeLists.txt" ]]; then
  tar -xzf "$SDIST" -C "$DIR"
fi

# llama.cpp itself, CPU backend: only the benchmark tool (llama-bench) and the plain prompt runner
# (llama-completion; llama-cli would pull in the server). No HTTPS (LLAMA_CURL is deprecated in
# this llama.cpp; LLAMA_OPENSSL=OFF is what turns downloads off).
STAMP="$BUILD/.airlock-llamacpp"
if [[ -f "$STAMP" && "$(cat "$STAMP")" != "$LLAMA_CPP_PYTHON_VERSION" ]]; then
  rm -rf "$BUILD"  # built from another version
fi
if [[ ! -x "$BUILD/bin/llama-bench" || ! -x "$BUILD/bin/llama-completion" ]]; then
  echo "llamacpp-venv: building llama.cpp ($SRC) into $BUILD with -j$JOBS"
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S "$SRC" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF >/dev/null
  cmake --build "$BUILD" --parallel "$JOBS" --target llama-bench llama-completion
  echo "$LLAMA_CPP_PYTHON_VERSION" >"$STAMP"
fi
echo "llamacpp-venv: ready ($("$BUILD/bin/llama-bench" --version 2>&1 | head -1))"
