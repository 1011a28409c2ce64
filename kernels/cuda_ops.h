// CUDA ops of the Nemotron-H forward pass (kernels/cuda_ops.cu), one launcher per op, on device
// pointers, queued on a stream. The CUDA backend (kernels/cuda_model.h) chains them; the gpu
// tests hold each one to a plain CPU computation of the same math (docs/nemotron-h-spec.md §2).
//
// Conventions: activations are FP32, rows row-major (`n` rows, one per token of the step);
// weight matrices are BF16 (`Bf16`: the 16 bits) and enter the products through cuBLAS with
// FP32 accumulation, their input rows rounded to BF16 first (ToBf16); the SSM state and the KV
// cache are FP32. A row's sequence state is reached through a per-row array of device pointers
// (rows of one sequence share a pointer and come in order), so one launch serves a batch of
// sequences; a sequence's rows must be contiguous, and no sequence may appear twice in a step
// (ConvSilu and SsmScan give each sequence to one block). Launchers only queue work: a launch
// error, like any CUDA error, surfaces at the next synchronisation (CudaCheck).
//
// This header needs no CUDA header: the stream is CUDA's own opaque type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

struct CUstream_st;
struct cublasContext;

namespace airlock::kernels {

using Stream = CUstream_st*;        // cudaStream_t
using BlasHandle = cublasContext*;  // cublasHandle_t
using Bf16 = uint16_t;              // a bfloat16's bits

// OK, or INTERNAL naming `what` and CUDA's last error (which it clears when it is not sticky).
absl::Status CudaCheck(std::string_view what);

// Device memory that frees itself. Grow keeps the contents only when it does not reallocate.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // RESOURCE_EXHAUSTED naming `what` and the bytes when the device has no room.
  static absl::Status Allocate(size_t bytes, std::string_view what, DeviceBuffer* out);
  absl::Status Grow(size_t bytes, std::string_view what);

  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Host <-> device copies (synchronous) and device-to-device copies on a stream.
absl::Status CopyToDevice(void* device, const void* host, size_t bytes);
absl::Status CopyToHost(void* host, const void* device, size_t bytes);
absl::Status CopyOnDevice(void* to, const void* from, size_t bytes, Stream stream);
absl::Status CopyToHostAsync(void* host, const void* device, size_t bytes, Stream stream);
absl::Status CopyToDeviceAsync(void* device, const void* host, size_t bytes, Stream stream);

// Waits for what is queued on `stream` (null: the default stream) and checks for errors.
absl::Status Synchronize(Stream stream, std::string_view what);

// ---- Products (cuBLAS) ----

// A cuBLAS handle whose work goes on `stream`; DestroyBlas releases it.
absl::Status CreateBlas(BlasHandle* out, Stream stream = nullptr);
void DestroyBlas(BlasHandle blas);
// Gives cuBLAS `bytes` of device scratch at `workspace` (kept alive by the caller while the
// handle lives), so that it allocates none while a stream is captured as a CUDA graph.
absl::Status SetBlasWorkspace(BlasHandle blas, void* workspace, size_t bytes);

// Y = X W^T: y[j][r] = sum_c w[r][c] x[j][c]; W [rows][cols] BF16, X [n][cols] BF16, Y [n][rows]
// FP32; FP32 accumulation.
absl::Status Gemm(BlasHandle blas, const Bf16* w, int rows, int cols, const Bf16* x, int n,
                  float* y);
// The same in FP32 throughout (the MoE router).
absl::Status GemmF32(BlasHandle blas, const float* w, int rows, int cols, const float* x, int n,
                     float* y);

// ---- Elementwise and per-row ops ----

// out[j] = table[ids[j]] as FP32, H wide.
void Embed(const Bf16* table, const int32_t* ids, int n, int H, float* out, Stream stream);
// out[j] = w * x[j] / sqrt(mean(x[j]^2) + eps), H wide (out may be x).
void RmsNorm(const float* x, const float* w, int n, int H, float eps, float* out, Stream stream);
// Mamba's gated norm, in place on y [n][d]: y *= silu(z) (z rows z_stride apart), then each of
// `groups` groups of d / groups is RMS-normalised and multiplied by w.
void GatedRmsNorm(float* y, const float* z, int z_stride, const float* w, int n, int d, int groups,
                  float eps, Stream stream);
// h += d (count floats).
void AddTo(float* h, const float* d, int64_t count, Stream stream);
// y = bf16(x); with relu2, y = bf16(max(x, 0)^2) (the experts' and MLP's activation).
void ToBf16(const float* x, Bf16* y, int64_t count, bool relu2, Stream stream);
// out[i] = bf16(x[rows[i] / divisor]) for i < m, H wide (the rows an expert serves).
void GatherBf16(const float* x, const int32_t* rows, int divisor, int m, int H, Bf16* out,
                Stream stream);
// out[i] = x[rows[i]] for i < m, H wide, FP32.
void Gather(const float* x, const int32_t* rows, int m, int H, float* out, Stream stream);
// out[rows[i]] = x[i] for i < m, H wide.
void Scatter(const float* x, const int32_t* rows, int m, int H, float* out, Stream stream);

// ---- Mamba-2 ----

// The causal depthwise conv over xBC with SiLU. Row j's input is in[j * in_stride + ch];
// states[j] its sequence's [channels][K-1] kept inputs (oldest first), advanced; w [channels][K];
// bias [channels] or null; out [n][channels].
void ConvSilu(const float* in, int in_stride, int n, int channels, int K, const float* w,
              const float* bias, float* const* states, float* out, Stream stream);
// dt[j][h] = clamp(softplus(in[j * in_stride + h] + dt_bias[h]), lo, hi) (threshold 20).
void DtSoftplus(const float* in, int in_stride, int n, int heads, const float* dt_bias, float lo,
                float hi, float* dt, Stream stream);
// The SSM recurrence, row after row within a sequence (a batch's sequences side by side): with
// A = -exp(a_log[h]) and head h reading group h / (heads / G), S = S exp(dt A) + dt B x^T,
// y = S C + D x. xbc [n][conv_dim] from ConvSilu (x [heads][P], B [G][N], C [G][N]); states[j]
// the [heads][P][N] FP32 state; y [n][heads * P]. N at most 256.
void SsmScan(const float* xbc, int conv_dim, const float* dt, const float* a_log, const float* D,
             int n, int heads, int P, int N, int G, float* const* states, float* y, Stream stream);

// ---- Attention ----

// Writes row j's key and value (kv_dim wide) at position pos[j] of its caches.
void AppendKv(const float* k, const float* v, int n, int kv_dim, float* const* kcache,
              float* const* vcache, const int32_t* pos, Stream stream);
// Causal attention without positional encoding: query head h of row j over the first seen[j]
// entries of its caches ([position][kv_heads][hd]), GQA (head h reads KV head
// h / (heads / kv_heads)), softmax scaled by 1/sqrt(hd). q, o [n][heads * hd]; hd at most 256.
// Each (row, head)'s positions are spread over `splits` blocks (1 to kMaxAttentionSplits), whose
// partial results, AttentionPartialFloats(n, heads, hd, splits) floats at `partial` (unused when
// splits is 1), are then merged: a decode step's few rows fill the device at any context length.
void Attention(const float* q, int n, int heads, int kv_heads, int hd, const float* const* kcache,
               const float* const* vcache, const int32_t* seen, int splits, float* partial,
               float* o, Stream stream);
constexpr int kMaxAttentionSplits = 64;
// The splits that give n rows of `heads` heads about 8 blocks per multiprocessor on a device of
// `sms` multiprocessors (1 when the rows alone give 2). It does not depend on the context, so a
// captured step stays valid as the context grows.
int AttentionSplits(int n, int heads, int sms);
size_t AttentionPartialFloats(int n, int heads, int hd, int splits);

// ---- MoE ----

// Routing from the router's logits [n][E]: score = sigmoid(logit); the k experts with the
// highest score + bias (ties to the lower index), best first, in chosen [n][k]; their weights
// the unbiased scores, divided by their sum when normalise, times scale. E at most 1024.
void MoeRoute(const float* logits, const float* bias, int n, int E, int k, bool normalise,
              float scale, int32_t* chosen, float* weight, Stream stream);
// out[j] = sum_s weight[j][s] expert_out[j * k + s] (+ shared[j] when not null), H wide.
void MoeCombine(const float* expert_out, const float* weight, const float* shared, int n, int k,
                int H, float* out, Stream stream);

// The routed experts of a small batch without leaving the device (what a decode step, and so a
// CUDA graph, needs: the grouped products above need the choices on the host). Pair p < pairs is
// row p / k's (p % k)-th choice, expert chosen[p]; up and down are device arrays of the experts'
// weights ([I][H] and [H][I] BF16). ExpertsUp: mid[p] = bf16(relu(W_up x)^2) with x = bf16(row
// p / k of x [n][H]), [pairs][I]; ExpertsDown: out[p] = W_down mid[p], [pairs][H] FP32 (the
// layout MoeCombine reads). FP32 accumulation, as the grouped products; H and I at most
// kMaxExpertGemvWidth (the input row sits in shared memory).
constexpr int kMaxExpertGemvWidth = 12288;
void ExpertsUp(const Bf16* const* up, const int32_t* chosen, const float* x, int pairs, int k,
               int I, int H, Bf16* mid, Stream stream);
void ExpertsDown(const Bf16* const* down, const int32_t* chosen, const Bf16* mid, int pairs, int H,
                 int I, float* out, Stream stream);

// ---- Synthetic weights (benchmarks at the real shape without a checkpoint) ----

// out[i] = f(u_i) for u_i uniform in [lo, hi), a hash of (seed, i): f = identity, log, or the
// inverse of softplus (log(expm1(u)): dt_bias values whose softplus is u).
enum class Fill { kUniform, kLog, kInverseSoftplus };
void FillRandom(float* out, int64_t count, uint64_t seed, float lo, float hi, Fill fill,
                Stream stream);
void FillRandomBf16(Bf16* out, int64_t count, uint64_t seed, float lo, float hi, Stream stream);

// ---- Device facts ----

// Free and total device memory, bytes.
absl::Status DeviceMemory(size_t* free, size_t* total);
// Device-to-device copy bandwidth (bytes read plus written per second) over `bytes`, the best
// of a few copies: the memory roofline's denominator.
absl::Status MeasureBandwidth(size_t bytes, double* bytes_per_second);

// ---- Sampling ----

// ids[j] = the index of the largest of logits[j] (V wide; ties to the lower index).
void ArgMax(const float* logits, int n, int V, int32_t* ids, Stream stream);

}  // namespace airlock::kernels
