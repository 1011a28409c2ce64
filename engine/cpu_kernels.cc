#include "engine/cpu_kernels.h"

#include <immintrin.h>

#include <cstring>

namespace airlock::engine {
namespace {

float DotScalar(const Tensor& w, size_t base, size_t n, const float* x) {
  float acc = 0;
  switch (w.dtype) {
    case DType::kF32: {
      const auto* p = reinterpret_cast<const float*>(w.data) + base;
      for (size_t i = 0; i < n; ++i) acc += p[i] * x[i];
      break;
    }
    case DType::kBF16: {
      const auto* p = reinterpret_cast<const uint16_t*>(w.data) + base;
      for (size_t i = 0; i < n; ++i) acc += Bf16ToFloat(p[i]) * x[i];
      break;
    }
    case DType::kF16: {
      const auto* p = reinterpret_cast<const uint16_t*>(w.data) + base;
      for (size_t i = 0; i < n; ++i) acc += F16ToFloat(p[i]) * x[i];
      break;
    }
    case DType::kOther:
      break;
  }
  return acc;
}

__attribute__((target("avx2,fma"))) float HorizontalSum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma,f16c"))) float DotAvx2(const Tensor& w, size_t base, size_t n,
                                                       const float* x) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  size_t i = 0;
  if (w.dtype == DType::kBF16) {
    const auto* p = reinterpret_cast<const uint16_t*>(w.data) + base;
    for (; i + 16 <= n; i += 16) {
      const __m256i u0 =
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
      const __m256i u1 =
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 8)));
      a0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(u0, 16)), _mm256_loadu_ps(x + i),
                           a0);
      a1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(u1, 16)),
                           _mm256_loadu_ps(x + i + 8), a1);
    }
    float acc = HorizontalSum(_mm256_add_ps(a0, a1));
    for (; i < n; ++i) acc += Bf16ToFloat(p[i]) * x[i];
    return acc;
  }
  if (w.dtype == DType::kF16) {
    const auto* p = reinterpret_cast<const uint16_t*>(w.data) + base;
    for (; i + 16 <= n; i += 16) {
      a0 =
          _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i))),
                          _mm256_loadu_ps(x + i), a0);
      a1 = _mm256_fmadd_ps(
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 8))),
          _mm256_loadu_ps(x + i + 8), a1);
    }
    float acc = HorizontalSum(_mm256_add_ps(a0, a1));
    for (; i < n; ++i) acc += F16ToFloat(p[i]) * x[i];
    return acc;
  }
  const auto* p = reinterpret_cast<const float*>(w.data) + base;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + i + 8), _mm256_loadu_ps(x + i + 8), a1);
  }
  float acc = HorizontalSum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) acc += p[i] * x[i];
  return acc;
}

bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
}

}  // namespace

const char* CpuKernelName() { return HasAvx2() ? "avx2+fma" : "scalar"; }

ThreadPool::ThreadPool(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this, i] { Work(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Work(size_t index) {
  size_t seen = 0;
  while (true) {
    const std::function<void(size_t, size_t)>* fn;
    size_t n;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
      n = n_;
    }
    const size_t t = threads();
    (*fn)(n * index / t, n * (index + 1) / t);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t, size_t)>& fn) {
  if (workers_.empty() || n < 2 * threads()) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> run(run_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    n_ = n;
    pending_ = workers_.size();
    ++generation_;
  }
  start_.notify_all();
  fn(0, n / threads());
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return pending_ == 0; });
}

void MatVecFast(const Tensor& w, size_t row0, size_t rows, size_t cols, const float* x, float* y,
                ThreadPool* pool) {
  const bool avx2 = HasAvx2();
  auto run = [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      const size_t base = (row0 + r) * cols;
      y[r] = avx2 ? DotAvx2(w, base, cols, x) : DotScalar(w, base, cols, x);
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(rows, run);
  } else {
    run(0, rows);
  }
}

}  // namespace airlock::engine
