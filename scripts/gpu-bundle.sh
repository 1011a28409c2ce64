#!/usr/bin/env bash
# Packs a CUDA build's GPU tests and CUDA benchmark, with the shared libraries they need (all
# but glibc's, libstdc++'s and cuBLAS's, which a GPU machine with CUDA 13 has), into one folder
# that runs on a machine with an NVIDIA driver and none of the Debian packages (the device
# machine of this workplace, say):
#   scripts/gpu-bundle.sh [BUILD_DIR] [OUT_DIR]    # defaults: build, gpu-bundle
#   bash OUT_DIR/run.sh [bench options]             # there: the gpu tests, then the benchmark
# run.sh writes each program's output to $OUT (or OUT_DIR) as NAME.log too.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
DEST=${2:-gpu-bundle}
bins=("$BUILD/tests/cuda_ops_test" "$BUILD/tests/cuda_model_test"
      "$BUILD/tests/bench/bench_cuda_engine")
for b in "${bins[@]}"; do
  if [[ ! -x $b ]]; then
    echo "gpu-bundle: $b is not built (it needs a CUDA build: cmake found nvcc)" >&2
    exit 1
  fi
done
rm -rf "$DEST"
mkdir -p "$DEST/lib" "$DEST/data"
for b in "${bins[@]}"; do strip -o "$DEST/$(basename "$b")" "$b"; done
ldd "${bins[@]}" | awk '/=> \// {print $3}' | sort -u |
  grep -vE '/(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so|/ld-linux|libcublas' |
  while read -r lib; do cp -L "$lib" "$DEST/lib/"; done
cp tests/data/engine/goldens.json tests/data/engine/transformers_goldens.json "$DEST/data/"
cat > "$DEST/run.sh" <<'EOF'
#!/usr/bin/env bash
# The gpu tests, then bench_cuda_engine (its options: "$@"); logs to $OUT or this folder.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here}
cublas=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu \
         $(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null); do
  if [[ -e $d/libcublas.so.13 ]]; then cublas=$d; break; fi
done
export LD_LIBRARY_PATH="$here/lib${cublas:+:$cublas}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export AIRLOCK_GOLDENS_DIR="$here/data"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/gpu.log"
rc=0
for t in cuda_ops_test cuda_model_test; do
  "$here/$t" 2>&1 | tee "$out/$t.log" || rc=1
done
"$here/bench_cuda_engine" "$@" 2>&1 | tee "$out/bench_cuda_engine.log" || rc=1
exit $rc
EOF
chmod +x "$DEST/run.sh"
du -sh "$DEST"
