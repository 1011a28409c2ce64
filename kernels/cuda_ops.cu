// The ops of kernels/cuda_ops.h. Each kernel is the spec's math written plainly for the GPU:
// a block per row (norms, routing), per (row, head, split of the positions) (attention), per
// (output rows, row and expert) (the small-batch expert products) or per (head, channel group)
// (the SSM), threads across the row's elements, FP32 throughout; reductions go through warp
// shuffles and then shared memory.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "kernels/cuda_ops.h"

namespace airlock::kernels {
namespace {

constexpr int kWarp = 32;

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The sum of v over the block (blockDim.x a multiple of 32, at most 1024), for every thread.
__device__ float BlockSum(float v) {
  __shared__ float partial[kWarp];
  __shared__ float total;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  v = WarpSum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float s = lane < static_cast<int>(blockDim.x / kWarp) ? partial[lane] : 0.0f;
    s = WarpSum(s);
    if (lane == 0) total = s;
  }
  __syncthreads();
  const float result = total;
  __syncthreads();  // partial and total may be reused by the caller's next BlockSum
  return result;
}

__device__ __forceinline__ float Silu(float v) { return v / (1.0f + expf(-v)); }

// The block's largest (*v, *idx) pair, ties to the lower index, left in thread 0's *v and *idx
// (blockDim.x a multiple of 32). Every thread must call it; it ends with a barrier.
__device__ void BlockArgMax(float* v, int* idx) {
  __shared__ float best_value[kWarp];
  __shared__ int best_index[kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  for (int o = kWarp / 2; o > 0; o /= 2) {
    const float ov = __shfl_xor_sync(0xffffffffu, *v, o);
    const int oi = __shfl_xor_sync(0xffffffffu, *idx, o);
    if (ov > *v || (ov == *v && oi < *idx)) {
      *v = ov;
      *idx = oi;
    }
  }
  if (lane == 0) {
    best_value[warp] = *v;
    best_index[warp] = *idx;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x / kWarp); ++w) {
      if (best_value[w] > *v || (best_value[w] == *v && best_index[w] < *idx)) {
        *v = best_value[w];
        *idx = best_index[w];
      }
    }
  }
  __syncthreads();
}

__device__ __forceinline__ float Bf(Bf16 bits) {
  return __uint_as_float(static_cast<uint32_t>(bits) << 16);
}

__device__ __forceinline__ Bf16 ToBf(float f) {
  const __nv_bfloat16 b = __float2bfloat16_rn(f);
  return *reinterpret_cast<const Bf16*>(&b);
}

int Blocks(int64_t count, int threads) { return static_cast<int>((count + threads - 1) / threads); }

// ---- Elementwise and per-row ----

__global__ void EmbedKernel(const Bf16* table, const int32_t* ids, int H, float* out) {
  const int j = blockIdx.x;
  const Bf16* row = table + static_cast<int64_t>(ids[j]) * H;
  for (int d = threadIdx.x; d < H; d += blockDim.x)
    out[static_cast<int64_t>(j) * H + d] = Bf(row[d]);
}

__global__ void RmsNormKernel(const float* x, const float* w, int H, float eps, float* out) {
  const int64_t base = static_cast<int64_t>(blockIdx.x) * H;
  float ss = 0;
  for (int d = threadIdx.x; d < H; d += blockDim.x) ss += x[base + d] * x[base + d];
  const float scale = rsqrtf(BlockSum(ss) / static_cast<float>(H) + eps);
  for (int d = threadIdx.x; d < H; d += blockDim.x) out[base + d] = w[d] * (x[base + d] * scale);
}

// Block per (row, group).
__global__ void GatedRmsNormKernel(float* y, const float* z, int z_stride, const float* w, int d,
                                   int group, float eps) {
  const int j = blockIdx.x, g = blockIdx.y;
  float* yg = y + static_cast<int64_t>(j) * d + g * group;
  const float* zg = z + static_cast<int64_t>(j) * z_stride + g * group;
  float ss = 0;
  for (int k = threadIdx.x; k < group; k += blockDim.x) {
    const float v = yg[k] * Silu(zg[k]);
    yg[k] = v;
    ss += v * v;
  }
  const float scale = rsqrtf(BlockSum(ss) / static_cast<float>(group) + eps);
  for (int k = threadIdx.x; k < group; k += blockDim.x) yg[k] = w[g * group + k] * (yg[k] * scale);
}

__global__ void AddToKernel(float* h, const float* d, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) h[i] += d[i];
}

__global__ void ToBf16Kernel(const float* x, Bf16* y, int64_t count, bool relu2) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  float v = x[i];
  if (relu2) v = v > 0 ? v * v : 0.0f;
  y[i] = ToBf(v);
}

__global__ void GatherBf16Kernel(const float* x, const int32_t* rows, int divisor, int H,
                                 Bf16* out) {
  const int i = blockIdx.x;
  const float* src = x + static_cast<int64_t>(rows[i] / divisor) * H;
  for (int d = threadIdx.x; d < H; d += blockDim.x)
    out[static_cast<int64_t>(i) * H + d] = ToBf(src[d]);
}

__global__ void GatherKernel(const float* x, const int32_t* rows, int H, float* out) {
  const int i = blockIdx.x;
  const float* src = x + static_cast<int64_t>(rows[i]) * H;
  for (int d = threadIdx.x; d < H; d += blockDim.x) out[static_cast<int64_t>(i) * H + d] = src[d];
}

__global__ void ScatterKernel(const float* x, const int32_t* rows, int H, float* out) {
  const int i = blockIdx.x;
  float* dst = out + static_cast<int64_t>(rows[i]) * H;
  for (int d = threadIdx.x; d < H; d += blockDim.x) dst[d] = x[static_cast<int64_t>(i) * H + d];
}

// ---- Mamba-2 ----

constexpr int kMaxConvKernel = 8;
// The most blocks that share a step's sequences (conv and SSM): it depends on the rows alone, so
// a captured step stays valid.
constexpr int kSsmSequenceBlocks = 32;

// Thread per (channel, share of the sequences), as SsmScanKernel shares them; a sequence's rows
// in order, so that they see each other's inputs.
__global__ void ConvSiluKernel(const float* in, int in_stride, int n, int channels, int K,
                               const float* w, const float* bias, float* const* states,
                               float* out) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= channels) return;
  const float* wc = w + static_cast<int64_t>(ch) * K;
  const float b = bias != nullptr ? bias[ch] : 0.0f;
  for (int first = blockIdx.y; first < n; first += gridDim.y) {
    float* state = states[first];
    if (first > 0 && states[first - 1] == state) continue;  // not its sequence's first row
    float kept[kMaxConvKernel];
    for (int k = 0; k + 1 < K; ++k) kept[k] = state[static_cast<int64_t>(ch) * (K - 1) + k];
    for (int j = first; j < n && states[j] == state; ++j) {
      const float x = in[static_cast<int64_t>(j) * in_stride + ch];
      float acc = b;
      for (int k = 0; k + 1 < K; ++k) acc += wc[k] * kept[k];
      acc += wc[K - 1] * x;
      for (int k = 0; k + 2 < K; ++k) kept[k] = kept[k + 1];
      if (K > 1) kept[K - 2] = x;
      out[static_cast<int64_t>(j) * channels + ch] = Silu(acc);
    }
    for (int k = 0; k + 1 < K; ++k) state[static_cast<int64_t>(ch) * (K - 1) + k] = kept[k];
  }
}

__global__ void DtSoftplusKernel(const float* in, int in_stride, int n, int heads,
                                 const float* dt_bias, float lo, float hi, float* dt) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n * heads) return;
  const int j = i / heads, h = i % heads;
  const float v = in[static_cast<int64_t>(j) * in_stride + h] + dt_bias[h];
  const float sp = v <= 20.0f ? log1pf(expf(v)) : v;
  dt[i] = fminf(fmaxf(sp, lo), hi);
}

constexpr int kSsmWarps = 4;         // channels (p) per block, one warp each
constexpr int kMaxStatePerLane = 8;  // N <= 256

// Block per (head, group of kSsmWarps channels, share of the sequences): block z takes the
// sequences whose first row j has j % gridDim.z == z, so a batch's sequences run side by side.
// A warp holds one channel's N state values (N / 32 per lane) in registers while its sequence's
// rows go by.
__global__ void SsmScanKernel(const float* xbc, int conv_dim, const float* dt, const float* a_log,
                              const float* D, int n, int heads, int P, int N, int G,
                              float* const* states, float* y) {
  const int h = blockIdx.x;
  const int lane = threadIdx.x % kWarp;
  const int p = blockIdx.y * kSsmWarps + threadIdx.x / kWarp;
  if (p >= P) return;
  const int d_inner = heads * P;
  const int g = h / (heads / G);
  const float A = -expf(a_log[h]);
  const float Dh = D[h];
  const int64_t offset = (static_cast<int64_t>(h) * P + p) * N;
  for (int first = blockIdx.z; first < n; first += gridDim.z) {
    float* state = states[first];
    if (first > 0 && states[first - 1] == state) continue;  // not its sequence's first row
    float s[kMaxStatePerLane];
    for (int i = 0; i < kMaxStatePerLane; ++i) {
      const int k = lane + i * kWarp;
      s[i] = k < N ? state[offset + k] : 0.0f;
    }
    for (int j = first; j < n && states[j] == state; ++j) {
      const float* row = xbc + static_cast<int64_t>(j) * conv_dim;
      const float* B = row + d_inner + g * N;
      const float* C = row + d_inner + (G + g) * N;
      const float dtv = dt[static_cast<int64_t>(j) * heads + h];
      const float dA = expf(dtv * A);
      const float x = row[h * P + p];
      float acc = 0;
      for (int i = 0; i < kMaxStatePerLane; ++i) {
        const int k = lane + i * kWarp;
        if (k < N) {
          s[i] = s[i] * dA + dtv * B[k] * x;
          acc += s[i] * C[k];
        }
      }
      acc = WarpSum(acc);
      if (lane == 0) y[static_cast<int64_t>(j) * d_inner + h * P + p] = acc + Dh * x;
    }
    for (int i = 0; i < kMaxStatePerLane; ++i) {
      const int k = lane + i * kWarp;
      if (k < N) state[offset + k] = s[i];
    }
  }
}

// ---- Attention ----

__global__ void AppendKvKernel(const float* k, const float* v, int kv_dim, float* const* kcache,
                               float* const* vcache, const int32_t* pos) {
  const int j = blockIdx.x;
  const int64_t at = static_cast<int64_t>(pos[j]) * kv_dim;
  for (int e = threadIdx.x; e < kv_dim; e += blockDim.x) {
    kcache[j][at + e] = k[static_cast<int64_t>(j) * kv_dim + e];
    vcache[j][at + e] = v[static_cast<int64_t>(j) * kv_dim + e];
  }
}

constexpr int kAttnWarps = 4;
constexpr int kMaxDimPerLane = 8;  // hd <= 256

// Block per (row, head, split of the positions): split s of S takes the s-th of S equal runs of
// the row's positions (flash-decoding: a long context spread over many blocks). Warp w takes
// positions w, w + kAttnWarps, ... of the run with an online softmax (running max, sum and
// weighted values); the warps' results are merged at the end, into o when S is 1, else into
// the split's partial (max, sum, weighted values [hd]) for AttentionCombineKernel.
__global__ void AttentionKernel(const float* q, int heads, int kv_heads, int hd,
                                const float* const* kcache, const float* const* vcache,
                                const int32_t* seen, int splits, float* partial, float* o) {
  const int j = blockIdx.x, h = blockIdx.y, split = blockIdx.z;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int kvh = h / (heads / kv_heads);
  const int kv_dim = kv_heads * hd;
  const float* qh = q + (static_cast<int64_t>(j) * heads + h) * hd;
  const float* K = kcache[j];
  const float* V = vcache[j];
  const float scale = rsqrtf(static_cast<float>(hd));
  float qv[kMaxDimPerLane], acc[kMaxDimPerLane];
  for (int i = 0; i < kMaxDimPerLane; ++i) {
    const int d = lane + i * kWarp;
    qv[i] = d < hd ? qh[d] : 0.0f;
    acc[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const int per = (seen[j] + splits - 1) / splits;
  const int end = min(seen[j], (split + 1) * per);
  for (int t = split * per + warp; t < end; t += kAttnWarps) {
    const float* kt = K + static_cast<int64_t>(t) * kv_dim + kvh * hd;
    const float* vt = V + static_cast<int64_t>(t) * kv_dim + kvh * hd;
    float dot = 0;
    for (int i = 0; i < kMaxDimPerLane; ++i) {
      const int d = lane + i * kWarp;
      if (d < hd) dot += qv[i] * kt[d];
    }
    const float score = WarpSum(dot) * scale;
    const float m_new = fmaxf(m, score);
    const float correction = expf(m - m_new);  // 0 while m is -inf
    const float p = expf(score - m_new);
    l = l * correction + p;
    for (int i = 0; i < kMaxDimPerLane; ++i) {
      const int d = lane + i * kWarp;
      acc[i] = acc[i] * correction + (d < hd ? p * vt[d] : 0.0f);
    }
    m = m_new;
  }
  __shared__ float wm[kAttnWarps], wl[kAttnWarps];
  __shared__ float wacc[kAttnWarps][kMaxDimPerLane * kWarp];
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
  for (int i = 0; i < kMaxDimPerLane; ++i) wacc[warp][lane + i * kWarp] = acc[i];
  __syncthreads();
  if (warp != 0) return;
  float M = -INFINITY;
  for (int w = 0; w < kAttnWarps; ++w) M = fmaxf(M, wm[w]);
  float L = 0;
  float f[kAttnWarps];
  for (int w = 0; w < kAttnWarps; ++w) {
    f[w] = wl[w] > 0 ? expf(wm[w] - M) : 0.0f;  // a warp that saw no position adds nothing
    L += wl[w] * f[w];
  }
  if (splits == 1) {
    float* oh = o + (static_cast<int64_t>(j) * heads + h) * hd;
    for (int i = 0; i < kMaxDimPerLane; ++i) {
      const int d = lane + i * kWarp;
      if (d >= hd) continue;
      float sum = 0;
      for (int w = 0; w < kAttnWarps; ++w) sum += wacc[w][d] * f[w];
      oh[d] = sum / L;
    }
    return;
  }
  float* part = partial + ((static_cast<int64_t>(j) * heads + h) * splits + split) * (hd + 2);
  if (lane == 0) {
    part[0] = M;  // -inf with part[1] = 0 for a split without positions
    part[1] = L;
  }
  for (int i = 0; i < kMaxDimPerLane; ++i) {
    const int d = lane + i * kWarp;
    if (d >= hd) continue;
    float sum = 0;
    for (int w = 0; w < kAttnWarps; ++w) sum += wacc[w][d] * f[w];
    part[2 + d] = sum;
  }
}

// Block per (row, head): the splits' partials merged (each rescaled to the largest max).
__global__ void AttentionCombineKernel(const float* partial, int heads, int hd, int splits,
                                       float* o) {
  const int j = blockIdx.x, h = blockIdx.y;
  const float* part = partial + (static_cast<int64_t>(j) * heads + h) * splits * (hd + 2);
  float M = -INFINITY;
  for (int s = 0; s < splits; ++s) M = fmaxf(M, part[s * (hd + 2)]);
  float L = 0;
  for (int s = 0; s < splits; ++s) {
    const float l = part[s * (hd + 2) + 1];
    if (l > 0) L += l * expf(part[s * (hd + 2)] - M);
  }
  float* oh = o + (static_cast<int64_t>(j) * heads + h) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float sum = 0;
    for (int s = 0; s < splits; ++s) {
      const float* p = part + s * (hd + 2);
      if (p[1] > 0) sum += p[2 + d] * expf(p[0] - M);
    }
    oh[d] = sum / L;
  }
}

// ---- MoE ----

// Block per row, a thread per expert (blockDim.x >= E, a multiple of 32).
__global__ void MoeRouteKernel(const float* logits, const float* bias, int E, int k, bool normalise,
                               float scale, int32_t* chosen, float* weight) {
  extern __shared__ float shared[];
  float* score = shared;       // [E]
  float* select = shared + E;  // [E]
  const int j = blockIdx.x, e = threadIdx.x;
  if (e < E) {
    score[e] = 1.0f / (1.0f + expf(-logits[static_cast<int64_t>(j) * E + e]));
    select[e] = score[e] + bias[e];
  }
  __syncthreads();
  float total = 0;
  for (int s = 0; s < k; ++s) {
    float bv = e < E ? select[e] : -INFINITY;
    int bi = e < E ? e : INT_MAX;
    BlockArgMax(&bv, &bi);
    if (threadIdx.x == 0) {
      chosen[j * k + s] = bi;
      weight[j * k + s] = score[bi];
      total += score[bi];
      select[bi] = -INFINITY;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    for (int s = 0; s < k; ++s) {
      float wt = weight[j * k + s];
      if (normalise) wt /= total + 1e-20f;
      weight[j * k + s] = wt * scale;
    }
  }
}

__global__ void MoeCombineKernel(const float* expert_out, const float* weight, const float* shared,
                                 int k, int H, float* out) {
  const int j = blockIdx.x;
  for (int d = threadIdx.x; d < H; d += blockDim.x) {
    float acc = 0;
    for (int s = 0; s < k; ++s) {
      acc += weight[j * k + s] * expert_out[(static_cast<int64_t>(j) * k + s) * H + d];
    }
    if (shared != nullptr) acc += shared[static_cast<int64_t>(j) * H + d];
    out[static_cast<int64_t>(j) * H + d] = acc;
  }
}

// ---- Synthetic weights ----

__device__ __forceinline__ float Uniform(uint64_t seed, int64_t i, float lo, float hi) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i + 1);  // splitmix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return lo + (hi - lo) * static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

// Block per (8 output rows, pair); warp per output row. The pair's input row goes to shared
// memory as BF16-rounded floats; the weights stream through in 16-byte loads when cols % 8 == 0.
__device__ __forceinline__ float AsBf16Value(float v) { return Bf(ToBf(v)); }
__device__ __forceinline__ float AsBf16Value(Bf16 v) { return Bf(v); }
__device__ __forceinline__ void StoreExpertRow(Bf16* out, int64_t i, float v) {
  out[i] = ToBf(v > 0 ? v * v : 0.0f);  // relu^2, rounded for the next product
}
__device__ __forceinline__ void StoreExpertRow(float* out, int64_t i, float v) { out[i] = v; }

template <typename In, typename Out>
__global__ void ExpertGemvKernel(const Bf16* const* weights, const int32_t* chosen, const In* x,
                                 int divisor, int rows, int cols, Out* out) {
  extern __shared__ float xs[];
  const int p = blockIdx.y;
  const In* xr = x + static_cast<int64_t>(p / divisor) * cols;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) xs[c] = AsBf16Value(xr[c]);
  __syncthreads();
  const int lane = threadIdx.x % kWarp;
  const int r = blockIdx.x * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  if (r >= rows) return;
  const Bf16* w = weights[chosen[p]] + static_cast<int64_t>(r) * cols;
  float acc = 0;
  if (cols % 8 == 0) {
    const uint4* w8 = reinterpret_cast<const uint4*>(w);
    const float4* x4 = reinterpret_cast<const float4*>(xs);
    for (int i = lane; i < cols / 8; i += kWarp) {
      const uint4 q = w8[i];
      const float4 a = x4[2 * i], b = x4[2 * i + 1];
      acc += Bf(static_cast<Bf16>(q.x)) * a.x + Bf(static_cast<Bf16>(q.x >> 16)) * a.y +
             Bf(static_cast<Bf16>(q.y)) * a.z + Bf(static_cast<Bf16>(q.y >> 16)) * a.w +
             Bf(static_cast<Bf16>(q.z)) * b.x + Bf(static_cast<Bf16>(q.z >> 16)) * b.y +
             Bf(static_cast<Bf16>(q.w)) * b.z + Bf(static_cast<Bf16>(q.w >> 16)) * b.w;
    }
  } else {
    for (int c = lane; c < cols; c += kWarp) acc += Bf(w[c]) * xs[c];
  }
  acc = WarpSum(acc);
  if (lane == 0) StoreExpertRow(out, static_cast<int64_t>(p) * rows + r, acc);
}

__global__ void FillRandomKernel(float* out, int64_t count, uint64_t seed, float lo, float hi,
                                 Fill fill) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float u = Uniform(seed, i, lo, hi);
    out[i] = fill == Fill::kLog ? logf(u) : fill == Fill::kInverseSoftplus ? logf(expm1f(u)) : u;
  }
}

__global__ void FillRandomBf16Kernel(Bf16* out, int64_t count, uint64_t seed, float lo, float hi) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = ToBf(Uniform(seed, i, lo, hi));
  }
}

// ---- Sampling ----

__global__ void ArgMaxKernel(const float* logits, int V, int32_t* ids) {
  const int j = blockIdx.x;
  const float* row = logits + static_cast<int64_t>(j) * V;
  float v = -INFINITY;
  int idx = INT_MAX;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    if (row[i] > v) {  // a thread's indices rise, so the first of equals stays
      v = row[i];
      idx = i;
    }
  }
  BlockArgMax(&v, &idx);
  if (threadIdx.x == 0) ids[j] = idx == INT_MAX ? 0 : idx;
}

absl::Status BlasError(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(std::string("cuBLAS: ") + what + ": " + cublasGetStatusString(s));
}

constexpr int kRowThreads = 256;

}  // namespace

absl::Status CudaCheck(std::string_view what) {
  const cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError("CUDA: " + std::string(what) + ": " + cudaGetErrorString(e));
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

absl::Status DeviceBuffer::Allocate(size_t bytes, std::string_view what, DeviceBuffer* out) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();  // an allocation failure is not sticky: clear it
    return absl::ResourceExhaustedError("CUDA: cannot allocate " + std::to_string(bytes) +
                                        " bytes of device memory for " + std::string(what) + ": " +
                                        cudaGetErrorString(e));
  }
  *out = DeviceBuffer();
  out->ptr_ = p;
  out->bytes_ = bytes;
  return absl::OkStatus();
}

absl::Status DeviceBuffer::Grow(size_t bytes, std::string_view what) {
  if (bytes <= bytes_ && ptr_ != nullptr) return absl::OkStatus();
  *this = DeviceBuffer();
  return Allocate(bytes, what, this);
}

absl::Status CopyToDevice(void* device, const void* host, size_t bytes) {
  cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice);
  return CudaCheck("copy to the device");
}

absl::Status CopyToHost(void* host, const void* device, size_t bytes) {
  cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost);
  return CudaCheck("copy from the device");
}

absl::Status CopyOnDevice(void* to, const void* from, size_t bytes, Stream stream) {
  cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, stream);
  return CudaCheck("copy on the device");
}

absl::Status CopyToHostAsync(void* host, const void* device, size_t bytes, Stream stream) {
  cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, stream);
  return CudaCheck("copy from the device");
}

absl::Status CopyToDeviceAsync(void* device, const void* host, size_t bytes, Stream stream) {
  cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream);
  return CudaCheck("copy to the device");
}

absl::Status Synchronize(Stream stream, std::string_view what) {
  cudaStreamSynchronize(stream);
  return CudaCheck(what);
}

absl::Status CreateBlas(BlasHandle* out, Stream stream) {
  if (absl::Status s = BlasError(cublasCreate(out), "creating a handle"); !s.ok()) return s;
  return BlasError(cublasSetStream(*out, stream), "setting the handle's stream");
}

absl::Status SetBlasWorkspace(BlasHandle blas, void* workspace, size_t bytes) {
  return BlasError(cublasSetWorkspace(blas, workspace, bytes), "setting the handle's workspace");
}

void DestroyBlas(BlasHandle blas) {
  if (blas != nullptr) cublasDestroy(blas);
}

// Row-major Y [n][rows] = X [n][cols] W^T is, column-major, Y^T [rows][n] = W [rows][cols] X^T:
// cuBLAS sees W as the column-major [cols][rows] matrix and transposes it.
absl::Status Gemm(BlasHandle blas, const Bf16* w, int rows, int cols, const Bf16* x, int n,
                  float* y) {
  const float alpha = 1.0f, beta = 0.0f;
  return BlasError(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &alpha, w,
                                CUDA_R_16BF, cols, x, CUDA_R_16BF, cols, &beta, y, CUDA_R_32F, rows,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   "BF16 product");
}

absl::Status GemmF32(BlasHandle blas, const float* w, int rows, int cols, const float* x, int n,
                     float* y) {
  const float alpha = 1.0f, beta = 0.0f;
  return BlasError(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &alpha, w, cols, x,
                               cols, &beta, y, rows),
                   "FP32 product");
}

void Embed(const Bf16* table, const int32_t* ids, int n, int H, float* out, Stream stream) {
  if (n > 0) EmbedKernel<<<n, kRowThreads, 0, stream>>>(table, ids, H, out);
}

void RmsNorm(const float* x, const float* w, int n, int H, float eps, float* out, Stream stream) {
  if (n > 0) RmsNormKernel<<<n, kRowThreads, 0, stream>>>(x, w, H, eps, out);
}

void GatedRmsNorm(float* y, const float* z, int z_stride, const float* w, int n, int d, int groups,
                  float eps, Stream stream) {
  if (n > 0) {
    GatedRmsNormKernel<<<dim3(n, groups), kRowThreads, 0, stream>>>(y, z, z_stride, w, d,
                                                                    d / groups, eps);
  }
}

void AddTo(float* h, const float* d, int64_t count, Stream stream) {
  if (count > 0) AddToKernel<<<Blocks(count, kRowThreads), kRowThreads, 0, stream>>>(h, d, count);
}

void ToBf16(const float* x, Bf16* y, int64_t count, bool relu2, Stream stream) {
  if (count > 0) {
    ToBf16Kernel<<<Blocks(count, kRowThreads), kRowThreads, 0, stream>>>(x, y, count, relu2);
  }
}

void GatherBf16(const float* x, const int32_t* rows, int divisor, int m, int H, Bf16* out,
                Stream stream) {
  if (m > 0) GatherBf16Kernel<<<m, kRowThreads, 0, stream>>>(x, rows, divisor, H, out);
}

void Gather(const float* x, const int32_t* rows, int m, int H, float* out, Stream stream) {
  if (m > 0) GatherKernel<<<m, kRowThreads, 0, stream>>>(x, rows, H, out);
}

void Scatter(const float* x, const int32_t* rows, int m, int H, float* out, Stream stream) {
  if (m > 0) ScatterKernel<<<m, kRowThreads, 0, stream>>>(x, rows, H, out);
}

void ConvSilu(const float* in, int in_stride, int n, int channels, int K, const float* w,
              const float* bias, float* const* states, float* out, Stream stream) {
  if (n > 0) {
    const int shares = std::min(n, kSsmSequenceBlocks);
    ConvSiluKernel<<<dim3(Blocks(channels, 128), shares), 128, 0, stream>>>(
        in, in_stride, n, channels, K, w, bias, states, out);
  }
}

void DtSoftplus(const float* in, int in_stride, int n, int heads, const float* dt_bias, float lo,
                float hi, float* dt, Stream stream) {
  if (n > 0) {
    DtSoftplusKernel<<<Blocks(static_cast<int64_t>(n) * heads, 128), 128, 0, stream>>>(
        in, in_stride, n, heads, dt_bias, lo, hi, dt);
  }
}

void SsmScan(const float* xbc, int conv_dim, const float* dt, const float* a_log, const float* D,
             int n, int heads, int P, int N, int G, float* const* states, float* y, Stream stream) {
  if (n > 0) {
    // Up to kSsmSequenceBlocks sequences side by side; the count depends on n alone (graphs).
    const int shares = std::min(n, kSsmSequenceBlocks);
    SsmScanKernel<<<dim3(heads, Blocks(P, kSsmWarps), shares), kSsmWarps * kWarp, 0, stream>>>(
        xbc, conv_dim, dt, a_log, D, n, heads, P, N, G, states, y);
  }
}

void AppendKv(const float* k, const float* v, int n, int kv_dim, float* const* kcache,
              float* const* vcache, const int32_t* pos, Stream stream) {
  if (n > 0) AppendKvKernel<<<n, kRowThreads, 0, stream>>>(k, v, kv_dim, kcache, vcache, pos);
}

int AttentionSplits(int n, int heads, int sms) {
  const int64_t blocks = static_cast<int64_t>(n) * heads, target = 8 * static_cast<int64_t>(sms);
  if (blocks <= 0 || blocks >= target / 4) return 1;
  return static_cast<int>(std::min<int64_t>(kMaxAttentionSplits, (target + blocks - 1) / blocks));
}

size_t AttentionPartialFloats(int n, int heads, int hd, int splits) {
  return splits > 1 ? static_cast<size_t>(n) * heads * splits * (hd + 2) : 0;
}

void Attention(const float* q, int n, int heads, int kv_heads, int hd, const float* const* kcache,
               const float* const* vcache, const int32_t* seen, int splits, float* partial,
               float* o, Stream stream) {
  if (n <= 0) return;
  AttentionKernel<<<dim3(n, heads, splits), kAttnWarps * kWarp, 0, stream>>>(
      q, heads, kv_heads, hd, kcache, vcache, seen, splits, partial, o);
  if (splits > 1) {
    AttentionCombineKernel<<<dim3(n, heads), kRowThreads, 0, stream>>>(partial, heads, hd, splits,
                                                                       o);
  }
}

void MoeRoute(const float* logits, const float* bias, int n, int E, int k, bool normalise,
              float scale, int32_t* chosen, float* weight, Stream stream) {
  if (n <= 0) return;
  const int threads = Blocks(E, kWarp) * kWarp;
  MoeRouteKernel<<<n, threads, 2 * E * sizeof(float), stream>>>(logits, bias, E, k, normalise,
                                                                scale, chosen, weight);
}

void MoeCombine(const float* expert_out, const float* weight, const float* shared, int n, int k,
                int H, float* out, Stream stream) {
  if (n > 0) MoeCombineKernel<<<n, kRowThreads, 0, stream>>>(expert_out, weight, shared, k, H, out);
}

void ExpertsUp(const Bf16* const* up, const int32_t* chosen, const float* x, int pairs, int k,
               int I, int H, Bf16* mid, Stream stream) {
  if (pairs <= 0) return;
  const int warps = kRowThreads / kWarp;
  ExpertGemvKernel<<<dim3(Blocks(I, warps), pairs), kRowThreads, H * sizeof(float), stream>>>(
      up, chosen, x, k, I, H, mid);
}

void ExpertsDown(const Bf16* const* down, const int32_t* chosen, const Bf16* mid, int pairs, int H,
                 int I, float* out, Stream stream) {
  if (pairs <= 0) return;
  const int warps = kRowThreads / kWarp;
  ExpertGemvKernel<<<dim3(Blocks(H, warps), pairs), kRowThreads, I * sizeof(float), stream>>>(
      down, chosen, mid, 1, H, I, out);
}

void FillRandom(float* out, int64_t count, uint64_t seed, float lo, float hi, Fill fill,
                Stream stream) {
  if (count > 0) FillRandomKernel<<<1024, kRowThreads, 0, stream>>>(out, count, seed, lo, hi, fill);
}

void FillRandomBf16(Bf16* out, int64_t count, uint64_t seed, float lo, float hi, Stream stream) {
  if (count > 0) FillRandomBf16Kernel<<<4096, kRowThreads, 0, stream>>>(out, count, seed, lo, hi);
}

absl::Status DeviceMemory(size_t* free, size_t* total) {
  cudaMemGetInfo(free, total);
  return CudaCheck("reading the device's memory");
}

absl::Status MeasureBandwidth(size_t bytes, double* bytes_per_second) {
  DeviceBuffer a, b;
  if (absl::Status s = DeviceBuffer::Allocate(bytes, "the bandwidth probe", &a); !s.ok()) return s;
  if (absl::Status s = DeviceBuffer::Allocate(bytes, "the bandwidth probe", &b); !s.ok()) return s;
  cudaMemset(a.data(), 1, bytes);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  float best_ms = 0;
  for (int i = 0; i < 5; ++i) {
    cudaEventRecord(start);
    cudaMemcpy(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    if (i == 0 || ms < best_ms) best_ms = ms;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (absl::Status s = CudaCheck("measuring bandwidth"); !s.ok()) return s;
  *bytes_per_second = 2.0 * static_cast<double>(bytes) / (best_ms * 1e-3);
  return absl::OkStatus();
}

void ArgMax(const float* logits, int n, int V, int32_t* ids, Stream stream) {
  if (n > 0) ArgMaxKernel<<<n, kRowThreads, 0, stream>>>(logits, V, ids);
}

}  // namespace airlock::kernels
