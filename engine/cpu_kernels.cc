#include "engine/cpu_kernels.h"

#include <immintrin.h>

#include <algorithm>
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

// The 16 weights at p + i as floats, in two vectors (BF16 widened by a shift, FP16 by F16C).
struct Loaded {
  __m256 lo, hi;
};
__attribute__((target("avx2,fma,f16c"))) inline Loaded Load16(const Tensor& w, size_t at) {
  if (w.dtype == DType::kBF16) {
    const auto* p = reinterpret_cast<const uint16_t*>(w.data) + at;
    const __m256i u0 = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m256i u1 =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(u0, 16)),
            _mm256_castsi256_ps(_mm256_slli_epi32(u1, 16))};
  }
  if (w.dtype == DType::kF16) {
    const auto* p = reinterpret_cast<const uint16_t*>(w.data) + at;
    return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)))};
  }
  const auto* p = reinterpret_cast<const float*>(w.data) + at;
  return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}

// y[j * ldy] = dot(w[base .. base + n), x + j * ldx) for j < NT: the row is read once for NT
// vectors. Each vector's sum is formed exactly as for NT = 1 (two accumulators over 16-wide
// steps, one horizontal sum, then the scalar tail), so a product does not depend on how many
// vectors share the pass: batched and unbatched results are the same bits.
template <size_t NT>
__attribute__((target("avx2,fma,f16c"))) void DotAvx2(const Tensor& w, size_t base, size_t n,
                                                      const float* x, size_t ldx, float* y,
                                                      size_t ldy) {
  __m256 a0[NT], a1[NT];
  for (size_t j = 0; j < NT; ++j) a0[j] = a1[j] = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const Loaded v = Load16(w, base + i);
    for (size_t j = 0; j < NT; ++j) {
      a0[j] = _mm256_fmadd_ps(v.lo, _mm256_loadu_ps(x + j * ldx + i), a0[j]);
      a1[j] = _mm256_fmadd_ps(v.hi, _mm256_loadu_ps(x + j * ldx + i + 8), a1[j]);
    }
  }
  for (size_t j = 0; j < NT; ++j) {
    float acc = HorizontalSum(_mm256_add_ps(a0[j], a1[j]));
    if (i < n) acc += DotScalar(w, base + i, n - i, x + j * ldx + i);
    y[j * ldy] = acc;
  }
}

// GCC 12 reports its own AVX-512 intrinsics' _mm512_undefined_* placeholders as uninitialized
// (a false positive); the warning is silenced for the AVX-512 code only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The 16 weights at `at` as one vector of 16 floats.
template <DType D>
__attribute__((target("avx512f"), always_inline)) inline __m512 Load16x512(const std::byte* data,
                                                                           size_t at) {
  if constexpr (D == DType::kBF16) {
    const auto* p = reinterpret_cast<const uint16_t*>(data) + at;
    const __m512i u =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
  } else if constexpr (D == DType::kF16) {
    const auto* p = reinterpret_cast<const uint16_t*>(data) + at;
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(data) + at);
  }
}

// An R x T tile: y[t * ldy + r] = dot(w row (row + r), x + t * ldx) over n columns. One 16-lane
// accumulator per dot is, lane for lane, DotAvx2's two 8-lane ones side by side, and it is
// summed the same way (low half + high half, then HorizontalSum, then the scalar tail): the
// same bits as DotAvx2<1>, with each weight vector used T times and each x vector R times.
template <DType D, size_t R, size_t T>
__attribute__((target("avx512f,avx2,fma,f16c"))) void TileAvx512(const Tensor& w, size_t row,
                                                                 size_t n, const float* x,
                                                                 size_t ldx, float* y, size_t ldy) {
  __m512 acc[R][T];
#pragma GCC unroll 4
  for (size_t r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (size_t t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 xv[T];
#pragma GCC unroll 4
    for (size_t t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(x + t * ldx + i);
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) {
      const __m512 wv = Load16x512<D>(w.data, (row + r) * n + i);
#pragma GCC unroll 4
      for (size_t t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (size_t r = 0; r < R; ++r) {
    for (size_t t = 0; t < T; ++t) {
      const __m256 lo = _mm512_castps512_ps256(acc[r][t]);
      const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][t]), 1));
      float sum = HorizontalSum(_mm256_add_ps(lo, hi));
      if (i < n) sum += DotScalar(w, (row + r) * n + i, n - i, x + t * ldx + i);
      y[t * ldy + r] = sum;
    }
  }
}

#pragma GCC diagnostic pop

using TileFn = void (*)(const Tensor&, size_t, size_t, const float*, size_t, float*, size_t);
template <DType D, size_t R>
constexpr TileFn kTilesOf[4] = {TileAvx512<D, R, 1>, TileAvx512<D, R, 2>, TileAvx512<D, R, 3>,
                                TileAvx512<D, R, 4>};
// The R-row tile for a dtype and T = 1..4 vectors: Tile<R>(dtype)[T - 1].
template <size_t R>
const TileFn* Tiles(DType d) {
  return d == DType::kBF16  ? kTilesOf<DType::kBF16, R>
         : d == DType::kF16 ? kTilesOf<DType::kF16, R>
                            : kTilesOf<DType::kF32, R>;
}

}  // namespace

CpuKernel BestCpuKernel() {
  static const CpuKernel best = [] {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") ||
        !__builtin_cpu_supports("f16c")) {
      return CpuKernel::kScalar;
    }
    return __builtin_cpu_supports("avx512f") ? CpuKernel::kAvx512 : CpuKernel::kAvx2;
  }();
  return best;
}

const char* CpuKernelName(CpuKernel kernel) {
  switch (kernel) {
    case CpuKernel::kAvx512:
      return "avx512f";
    case CpuKernel::kAvx2:
      return "avx2+fma";
    case CpuKernel::kScalar:
      break;
  }
  return "scalar";
}

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
  uint64_t seen = 0;
  while (true) {
    // Spin for the next loop a while, then sleep until it comes.
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (uint32_t spins = 0; generation_.load() == seen && !stop_.load(); ++spins) {
      _mm_pause();
      if ((spins & 63) != 0 || std::chrono::steady_clock::now() < until) continue;
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);  // seen by ParallelFor before or after it moves generation_
      start_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
      break;
    }
    if (stop_.load()) return;
    seen = generation_.load();
    const size_t t = threads();
    (*fn_)(n_ * index / t, n_ * (index + 1) / t);
    pending_.fetch_sub(1);
  }
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t, size_t)>& fn) {
  if (workers_.empty() || n < 2 * threads()) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> run(run_mu_);
  fn_ = &fn;
  n_ = n;
  pending_.store(workers_.size());
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);  // a worker between its check and its wait
    start_.notify_all();
  }
  fn(0, n / threads());
  for (uint32_t spins = 0; pending_.load() != 0; ++spins) {
    _mm_pause();
    if (spins > (1u << 16)) std::this_thread::yield();  // a worker descheduled: let it run
  }
}

namespace {

// Rows [begin, end) of one product (job.rows of them, from job.row0 in the weights).
void ProductRows(const MatMul& job, size_t begin, size_t end, CpuKernel kernel) {
  const Tensor& w = *job.w;
  const size_t cols = job.cols, rows = job.rows, n = job.n;
  // Rows in blocks that stay in L2 while every group of vectors passes over them: the weights
  // come from memory once per call, whatever n is.
  const size_t row_bytes = cols * DTypeSize(w.dtype);
  const size_t block = std::max<size_t>(4, (size_t{96} << 10) / std::max<size_t>(1, row_bytes));
  for (size_t b = begin; b < end; b += block) {
    const size_t b_end = std::min(end, b + block);
    for (size_t j = 0; j < n; j += 4) {
      const size_t t = std::min<size_t>(4, n - j);
      const float* xj = job.x + j * cols;
      float* yj = job.y + j * rows;
      const size_t row0 = job.row0;
      size_t r = b;
      if (kernel == CpuKernel::kAvx512) {
        // One vector: one-row tiles (measured faster for a memory-bound product).
        const TileFn four = Tiles<4>(w.dtype)[t - 1], one = Tiles<1>(w.dtype)[t - 1];
        for (; t > 1 && r + 4 <= b_end; r += 4) four(w, row0 + r, cols, xj, cols, yj + r, rows);
        for (; r < b_end; ++r) one(w, row0 + r, cols, xj, cols, yj + r, rows);
      } else if (kernel == CpuKernel::kAvx2) {
        for (; r < b_end; ++r) {
          if (t == 4) {
            DotAvx2<4>(w, (row0 + r) * cols, cols, xj, cols, yj + r, rows);
          } else {
            for (size_t k = 0; k < t; ++k) {
              DotAvx2<1>(w, (row0 + r) * cols, cols, xj + k * cols, cols, yj + k * rows + r, rows);
            }
          }
        }
      } else {
        for (; r < b_end; ++r) {
          for (size_t k = 0; k < t; ++k) {
            yj[k * rows + r] = DotScalar(w, (row0 + r) * cols, cols, xj + k * cols);
          }
        }
      }
    }
  }
}

}  // namespace

void MatMulGroup(std::span<const MatMul> jobs, ThreadPool* pool, CpuKernel kernel) {
  size_t total = 0;
  for (const MatMul& job : jobs) total += job.rows;
  // The jobs' rows end to end, shared among the threads as one range.
  auto run = [&](size_t begin, size_t end) {
    size_t at = 0;
    for (const MatMul& job : jobs) {
      const size_t lo = std::max(begin, at), hi = std::min(end, at + job.rows);
      if (lo < hi) ProductRows(job, lo - at, hi - at, kernel);
      at += job.rows;
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(total, run);
  } else {
    run(0, total);
  }
}

void MatMulFast(const Tensor& w, size_t row0, size_t rows, size_t cols, const float* x, size_t n,
                float* y, ThreadPool* pool, CpuKernel kernel) {
  const MatMul job{&w, row0, rows, cols, x, n, y};
  MatMulGroup({&job, 1}, pool, kernel);
}

namespace {

__attribute__((target("avx2,fma"))) float SsmUpdateAvx2(float* s, const float* b, const float* c,
                                                        float decay, float bx, size_t n) {
  const __m256 vd = _mm256_set1_ps(decay), vbx = _mm256_set1_ps(bx);
  __m256 acc = _mm256_setzero_ps();
  size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256 v =
        _mm256_fmadd_ps(_mm256_loadu_ps(s + k), vd, _mm256_mul_ps(_mm256_loadu_ps(b + k), vbx));
    _mm256_storeu_ps(s + k, v);
    acc = _mm256_fmadd_ps(v, _mm256_loadu_ps(c + k), acc);
  }
  float sum = HorizontalSum(acc);
  for (; k < n; ++k) {
    s[k] = s[k] * decay + b[k] * bx;
    sum += s[k] * c[k];
  }
  return sum;
}

__attribute__((target("avx2,fma"))) float DotF32Avx2(const float* a, const float* b, size_t n) {
  __m256 acc = _mm256_setzero_ps();
  size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
  }
  float sum = HorizontalSum(acc);
  for (; k < n; ++k) sum += a[k] * b[k];
  return sum;
}

__attribute__((target("avx2,fma"))) void AxpyAvx2(float alpha, const float* x, float* y, size_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    _mm256_storeu_ps(y + k, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k)));
  }
  for (; k < n; ++k) y[k] += alpha * x[k];
}

}  // namespace

float SsmUpdate(float* s, const float* b, const float* c, float decay, float bx, size_t n) {
  if (BestCpuKernel() != CpuKernel::kScalar) return SsmUpdateAvx2(s, b, c, decay, bx, n);
  float sum = 0;
  for (size_t k = 0; k < n; ++k) {
    s[k] = s[k] * decay + b[k] * bx;
    sum += s[k] * c[k];
  }
  return sum;
}

float Dot(const float* a, const float* b, size_t n) {
  if (BestCpuKernel() != CpuKernel::kScalar) return DotF32Avx2(a, b, n);
  float sum = 0;
  for (size_t k = 0; k < n; ++k) sum += a[k] * b[k];
  return sum;
}

void Axpy(float alpha, const float* x, float* y, size_t n) {
  if (BestCpuKernel() != CpuKernel::kScalar) return AxpyAvx2(alpha, x, y, n);
  for (size_t k = 0; k < n; ++k) y[k] += alpha * x[k];
}

}  // namespace airlock::engine
