#include "engine/bench.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace airlock::engine {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The sum of p[0, n) (n a multiple of 16), read as fast as the core can: four independent
// 256-bit accumulators when the CPU has AVX2 (a plain loop leaves the read bandwidth of a core
// well below what the engine's kernels reach, which made the roofline too low).
__attribute__((target("avx2"))) uint64_t SumAvx2(const uint64_t* p, size_t n) {
  __m256i a[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                  _mm256_setzero_si256()};
  for (size_t i = 0; i < n; i += 16) {
    for (size_t k = 0; k < 4; ++k) {
      a[k] = _mm256_add_epi64(a[k],
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4 * k)));
    }
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(a[0], a[1]), _mm256_add_epi64(a[2], a[3])));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

uint64_t Sum(const uint64_t* p, size_t n) {
  if (__builtin_cpu_supports("avx2")) return SumAvx2(p, n);
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

}  // namespace

double MeasureBandwidthGBs(size_t threads, int passes) {
  const size_t n = size_t{1} << 27;  // 1 GiB of uint64
  std::vector<uint64_t> buffer(n, 1);
  threads = std::max<size_t>(1, threads);
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    std::vector<std::thread> workers;
    std::vector<uint64_t> sums(threads, 0);
    const auto t0 = Clock::now();
    for (size_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const size_t begin = n * t / threads / 16 * 16, end = n * (t + 1) / threads / 16 * 16;
        sums[t] = Sum(buffer.data() + begin, end - begin);  // checked below: reads are kept
      });
    }
    for (auto& w : workers) w.join();
    const double seconds = Seconds(t0, Clock::now());
    uint64_t total = 0;
    for (uint64_t s : sums) total += s;
    if (total == n) best = std::max(best, static_cast<double>(n * 8) / seconds / 1e9);
  }
  return best;
}

uint64_t DecodeBytesPerToken(const Model& m) {
  const ModelConfig& c = m.config();
  const ModelWeights& w = m.weights();
  uint64_t bytes = w.norm_f->bytes + w.lm_head->bytes + w.embeddings->bytes / c.vocab_size;
  for (const LayerWeights& l : w.layers) {
    bytes += l.norm->bytes;
    for (const Tensor* t :
         {l.mamba.in_proj, l.mamba.conv1d_weight, l.mamba.conv1d_bias, l.mamba.dt_bias,
          l.mamba.a_log, l.mamba.d, l.mamba.norm, l.mamba.out_proj, l.attention.q_proj,
          l.attention.k_proj, l.attention.v_proj, l.attention.o_proj, l.moe.gate, l.moe.score_bias,
          l.moe.shared_up, l.moe.shared_down, l.mlp.up, l.mlp.down}) {
      if (t != nullptr) bytes += t->bytes;
    }
    uint64_t experts = 0;
    for (const Tensor* t : l.moe.up) experts += t->bytes;
    for (const Tensor* t : l.moe.down) experts += t->bytes;
    if (l.moe.up_fused != nullptr) experts += l.moe.up_fused->bytes + l.moe.down_fused->bytes;
    if (c.n_routed_experts > 0) {
      bytes += experts * static_cast<uint64_t>(c.num_experts_per_tok) /
               static_cast<uint64_t>(c.n_routed_experts);
    }
  }
  return bytes;
}

EngineSpeed MeasureSpeed(const Model& m, int decode_tokens, int prompt_tokens, size_t batch) {
  EngineSpeed s;
  const auto vocab = static_cast<int32_t>(m.config().vocab_size);
  const size_t V = static_cast<size_t>(vocab);
  batch = std::max<size_t>(1, batch);
  std::vector<SequenceState> seqs;
  std::vector<int32_t> next(batch);
  for (size_t b = 0; b < batch; ++b) {
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < 16; ++i) ids.push_back((i * 131 + 7 + static_cast<int32_t>(b)) % vocab);
    seqs.push_back(m.NewSequence());
    const std::vector<float> logits = *m.Forward(&seqs.back(), ids);
    next[b] = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  std::vector<StepItem> items;
  for (size_t b = 0; b < batch; ++b) items.push_back({&seqs[b], std::span(&next[b], 1)});
  const auto t0 = Clock::now();
  for (int i = 0; i < decode_tokens; ++i) {
    const std::vector<float> logits = *m.Step(items);
    for (size_t b = 0; b < batch; ++b) {
      const auto row = logits.begin() + static_cast<std::ptrdiff_t>(b * V);
      next[b] =
          static_cast<int32_t>(std::max_element(row, row + static_cast<std::ptrdiff_t>(V)) - row);
    }
  }
  s.decode_tokens_per_s =
      static_cast<double>(decode_tokens) * static_cast<double>(batch) / Seconds(t0, Clock::now());
  std::vector<int32_t> prompt;
  for (int32_t i = 0; i < prompt_tokens; ++i) prompt.push_back((i * 7919 + 3) % vocab);
  SequenceState fresh = m.NewSequence();
  const auto t1 = Clock::now();
  if (!m.Forward(&fresh, prompt).ok()) return s;
  s.prefill_tokens_per_s = prompt_tokens / Seconds(t1, Clock::now());
  return s;
}

}  // namespace airlock::engine
