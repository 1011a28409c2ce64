// The CPU kernels: the matrix products equal a double-precision reference within FP32 rounding,
// a batch of vectors gives each vector the same bits as the vector alone (what makes batched
// decode equal to unbatched), and AVX2 and AVX-512 agree bit for bit, for every weight dtype,
// with and without the thread pool, for lengths with and without a tail past the 16-wide steps.
#include "engine/cpu_kernels.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/dtype.h"
#include "gtest/gtest.h"

namespace airlock::engine {
namespace {

struct Weights {
  std::vector<std::byte> bytes;
  std::vector<double> values;  // as the kernel sees them (after rounding to the dtype)
  Tensor tensor;
};

Weights Random(DType dtype, size_t rows, size_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Weights w;
  w.bytes.resize(rows * cols * DTypeSize(dtype));
  for (size_t i = 0; i < rows * cols; ++i) {
    const float f = normal(rng);
    if (dtype == DType::kF32) {
      std::memcpy(w.bytes.data() + i * 4, &f, 4);
      w.values.push_back(f);
    } else {
      const uint16_t h = dtype == DType::kBF16 ? FloatToBf16(f) : FloatToF16(f);
      std::memcpy(w.bytes.data() + i * 2, &h, 2);
      w.values.push_back(dtype == DType::kBF16 ? Bf16ToFloat(h) : F16ToFloat(h));
    }
  }
  w.tensor.dtype = dtype;
  w.tensor.shape = {static_cast<int64_t>(rows), static_cast<int64_t>(cols)};
  w.tensor.data = w.bytes.data();
  w.tensor.bytes = w.bytes.size();
  return w;
}

TEST(CpuKernels, BatchedProductsHaveTheBitsOfSingleOnes) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  for (const DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
    for (const size_t cols : {size_t{16}, size_t{37}, size_t{200}}) {
      const size_t rows = 23, row0 = 3, n = 9;  // tiles of 4 rows and 4 vectors, and the rest
      const Weights w = Random(dtype, rows + row0, cols, rng);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> x(n * cols);
      for (float& v : x) v = normal(rng);
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        std::vector<float> y(n * rows);
        MatMulFast(w.tensor, row0, rows, cols, x.data(), n, y.data(), p);
        // AVX2 and AVX-512 (where the CPU has them) give the same bits.
        for (const CpuKernel k : {CpuKernel::kAvx2, CpuKernel::kAvx512}) {
          if (k > BestCpuKernel()) continue;
          std::vector<float> other(n * rows);
          MatMulFast(w.tensor, row0, rows, cols, x.data(), n, other.data(), p, k);
          ASSERT_EQ(other, y) << CpuKernelName(k) << " " << DTypeName(dtype) << " cols " << cols;
        }
        for (size_t j = 0; j < n; ++j) {
          std::vector<float> one(rows);
          MatMulFast(w.tensor, row0, rows, cols, x.data() + j * cols, 1, one.data(), p);
          for (size_t r = 0; r < rows; ++r) {
            ASSERT_EQ(y[j * rows + r], one[r]) << DTypeName(dtype) << " cols " << cols;
            double want = 0, scale = 0;
            for (size_t c = 0; c < cols; ++c) {
              want += w.values[(row0 + r) * cols + c] * x[j * cols + c];
              scale += std::abs(w.values[(row0 + r) * cols + c] * x[j * cols + c]);
            }
            EXPECT_NEAR(y[j * rows + r], want, 1e-5 * scale) << DTypeName(dtype);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace airlock::engine
