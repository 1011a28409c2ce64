// CPU kernels for the engine's heavy op, the product of a weight matrix stored in place (BF16,
// FP16 or FP32, never copied to FP32) with one vector or a batch of them, with the rows shared
// among a thread pool.
//
// The vector unit is chosen at run time: AVX-512 when the CPU has it, else AVX2 with FMA (and
// F16C for FP16), else portable scalar code; all accumulate in FP32. ThreadPool runs a loop's
// chunks on all cores (the caller's thread takes one).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "engine/safetensors.h"

namespace airlock::engine {

class ThreadPool {
 public:
  // threads: the number of threads a loop uses, the caller's included (0: all cores).
  explicit ThreadPool(size_t threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t threads() const { return workers_.size() + 1; }
  // Runs fn(begin, end) over [0, n) in threads() contiguous chunks and returns when all are
  // done. One loop at a time (a second caller waits).
  //
  // A decode step runs a hundred or more short loops back to back, and waking a sleeping thread
  // costs more than many of them (a futex call and, in a VM, an exit to the hypervisor: a fifth
  // of decode time when every loop woke its workers). So workers spin for kSpin after each loop
  // before they sleep, the caller wakes only workers that sleep, and it spins on the
  // completion count instead of sleeping.
  void ParallelFor(size_t n, const std::function<void(size_t, size_t)>& fn);

 private:
  static constexpr std::chrono::microseconds kSpin{200};
  void Work(size_t index);

  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // one ParallelFor at a time
  std::mutex mu_;      // for sleeping and waking only
  std::condition_variable start_;
  const std::function<void(size_t, size_t)>* fn_ = nullptr;  // set before generation_ moves
  size_t n_ = 0;
  std::atomic<uint64_t> generation_{0};  // one more per loop
  std::atomic<size_t> pending_{0};       // workers still running this loop's chunks
  std::atomic<size_t> sleepers_{0};      // workers waiting on start_
  std::atomic<bool> stop_{false};
};

// The vector units the kernels can use; the best one the CPU has is chosen at run time. AVX2
// and AVX-512 compute each product the same way (16-wide steps into two 8-lane halves, summed
// the same way, then the scalar tail), so between them the choice changes speed, not results:
// AVX-512 holds the two halves in one register and works on tiles of 4 weight rows x 4
// vectors. The scalar fallback sums in order (other rounding).
enum class CpuKernel { kScalar, kAvx2, kAvx512 };
CpuKernel BestCpuKernel();
const char* CpuKernelName(CpuKernel kernel = BestCpuKernel());

// Y = X W^T for a slice of w: y[j][r] = sum_c w[row0 + r][c] * x[j][c] for j < n, r < rows; w
// row-major with `cols` columns, x n rows of `cols`, y n rows of `rows`. The weights are read
// from memory once for all n vectors, and each y[j][r] has the same bits as n = 1 on x[j]
// alone (what makes a batched forward pass equal to the unbatched one).
void MatMulFast(const Tensor& w, size_t row0, size_t rows, size_t cols, const float* x, size_t n,
                float* y, ThreadPool* pool, CpuKernel kernel = BestCpuKernel());

// Vector helpers for the per-token recurrences (FP32, AVX2 when the CPU has it; the same bits
// on AVX2 and AVX-512 machines).
// The SSM update of one (head, channel) row of the state: s[k] = s[k] * decay + b[k] * bx for
// k < n, then returns sum_k s[k] * c[k].
float SsmUpdate(float* s, const float* b, const float* c, float decay, float bx, size_t n);
// sum_k a[k] * b[k].
float Dot(const float* a, const float* b, size_t n);
// y[k] += alpha * x[k].
void Axpy(float alpha, const float* x, float* y, size_t n);

// Several independent products in one parallel loop over all their rows (a MoE layer's experts,
// attention's q, k and v): one wake-up of the threads instead of one per product. Each product
// is computed exactly as MatMulFast computes it alone.
struct MatMul {
  const Tensor* w;
  size_t row0, rows, cols;
  const float* x;
  size_t n;
  float* y;
};
void MatMulGroup(std::span<const MatMul> jobs, ThreadPool* pool,
                 CpuKernel kernel = BestCpuKernel());

}  // namespace airlock::engine
