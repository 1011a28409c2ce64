// bench_cuda_engine: the CUDA backend's speed at a model shape (default: the real Nemotron 3
// Nano 30B-A3B, engine/synth.h preset "nano") with random BF16 weights made on the device, each
// figure next to its memory roofline (the bytes a step must read ÷ the measured device
// bandwidth). Without a CUDA device (or a CUDA build) it says why and exits 0.
//
//   bench_cuda_engine [--preset nano|bench|tiny] [--steps 32] [--batch-context 256] [--graphs 1]
//
// --graphs 0 runs every step kernel by kernel (no CUDA graphs), to see what the graphs save.
//
// Rows: batch-1 decode at 1k and 16k tokens of context; decode throughput at batch 8, 32 and
// 128 (each sequence --batch-context tokens in); prefill of a 2k-token prompt (tokens/s, and
// its time to the first token); the device memory the weights and the largest state take.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/synth.h"
#include "kernels/cuda_model.h"
#include "kernels/cuda_ops.h"

namespace {

using airlock::engine::BlockType;
using airlock::engine::Logits;
using airlock::engine::ModelConfig;
using airlock::engine::StepItem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The bytes one decode step of `batch` sequences at `context` tokens must move: every weight
// the step reads once (the experts the batch's tokens choose: with uniform routing, E (1 - (1 -
// k/E)^batch) per layer), plus per sequence its Mamba state read and written and its KV cache
// read (engine::StateBytes: the fixed part, and what `context` tokens add).
double StepBytes(const ModelConfig& c, int batch, int64_t context) {
  const double H = static_cast<double>(c.hidden_size), bf = 2, f = 4;
  double weights = static_cast<double>(c.vocab_size) * H * bf;  // lm_head
  for (BlockType t : c.layers) {
    switch (t) {
      case BlockType::kMamba:
        weights +=
            (static_cast<double>(c.in_proj_dim()) + static_cast<double>(c.d_inner())) * H * bf;
        break;
      case BlockType::kAttention: {
        const double q = static_cast<double>(c.num_attention_heads * c.head_dim);
        const double kv = static_cast<double>(c.num_key_value_heads * c.head_dim);
        weights += (2 * q + 2 * kv) * H * bf;
        break;
      }
      case BlockType::kMoe: {
        const double E = static_cast<double>(c.n_routed_experts);
        const double k = static_cast<double>(c.num_experts_per_tok);
        const double used = E * (1 - std::pow(1 - k / E, batch));
        weights += E * H * f + used * 2 * static_cast<double>(c.moe_intermediate_size) * H * bf +
                   2 * static_cast<double>(c.moe_shared_expert_intermediate_size) * H * bf;
        break;
      }
      case BlockType::kMlp:
        weights += 2 * static_cast<double>(c.intermediate_size) * H * bf;
        break;
    }
  }
  const auto mamba = static_cast<double>(airlock::engine::StateBytes(c, 0));
  const double kv = static_cast<double>(airlock::engine::StateBytes(c, context)) - mamba;
  return weights + batch * (2 * mamba + kv);
}

std::vector<int32_t> Tokens(int64_t n, int64_t vocab, int64_t salt) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    ids[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919 + salt * 104729) % vocab);
  return ids;
}

// Prefills `seq` with `n` tokens in steps of at most 2048 (the last with its logits).
bool Prefill(const airlock::engine::Backend& m, airlock::engine::Sequence* seq, int64_t n,
             int64_t salt) {
  const std::vector<int32_t> ids = Tokens(n, m.config().vocab_size, salt);
  for (int64_t at = 0; at < n; at += 2048) {
    const int64_t len = std::min<int64_t>(2048, n - at);
    const StepItem item{seq,
                        std::span(ids).subspan(static_cast<size_t>(at), static_cast<size_t>(len)),
                        at + len == n ? Logits::kLast : Logits::kNone};
    auto r = m.Step({&item, 1});
    if (!r.ok()) {
      std::fprintf(stderr, "prefill: %s\n", std::string(r.status().message()).c_str());
      return false;
    }
  }
  return true;
}

// Decode tokens/s of `batch` sequences at `context` tokens, over `steps` steps after 2 warm-up.
double Decode(const airlock::engine::Backend& m, int batch, int64_t context, int steps) {
  std::vector<std::unique_ptr<airlock::engine::Sequence>> seqs;
  for (int b = 0; b < batch; ++b) {
    auto s = m.StartSequence(context + steps + 4);
    if (!s.ok()) {
      std::fprintf(stderr, "sequence: %s\n", std::string(s.status().message()).c_str());
      return 0;
    }
    if (!Prefill(m, s->get(), context, b)) return 0;
    seqs.push_back(*std::move(s));
  }
  std::vector<int32_t> next(static_cast<size_t>(batch), 1);
  Clock::time_point start{};
  for (int step = 0; step < steps + 2; ++step) {
    if (step == 2) start = Clock::now();
    std::vector<StepItem> items;
    for (int b = 0; b < batch; ++b) {
      items.push_back({seqs[static_cast<size_t>(b)].get(),
                       std::span(&next[static_cast<size_t>(b)], 1), Logits::kLast});
    }
    auto logits = m.Step(items);
    if (!logits.ok()) {
      std::fprintf(stderr, "decode: %s\n", std::string(logits.status().message()).c_str());
      return 0;
    }
    for (int b = 0; b < batch; ++b) {  // greedy, on the host
      const float* row =
          logits->data() + static_cast<size_t>(b) * static_cast<size_t>(m.config().vocab_size);
      next[static_cast<size_t>(b)] =
          static_cast<int32_t>(std::max_element(row, row + m.config().vocab_size) - row);
    }
  }
  return batch * steps / Seconds(Clock::now() - start);
}

}  // namespace

int main(int argc, char** argv) {
  std::string preset = "nano";
  int steps = 32;
  int64_t batch_context = 256;
  bool graphs = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--preset"))
      preset = argv[i + 1];
    else if (!std::strcmp(argv[i], "--steps"))
      steps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch-context"))
      batch_context = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--graphs"))
      graphs = std::atoi(argv[i + 1]) != 0;
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (absl::Status s = airlock::kernels::CudaAvailable(); !s.ok()) {
    std::printf("bench_cuda_engine: skipped: %s\n", std::string(s.message()).c_str());
    return 0;
  }
  auto config = airlock::engine::PresetConfig(preset);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  double bandwidth = 0;
  if (absl::Status s = airlock::kernels::MeasureBandwidth(size_t{1} << 30, &bandwidth); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  size_t free_before = 0, total = 0, free_after = 0;
  (void)airlock::kernels::DeviceMemory(&free_before, &total);
  const Clock::time_point made = Clock::now();
  auto model = airlock::kernels::SynthesizeCudaModel(*config, 1, {.graphs = graphs});
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  (void)airlock::kernels::DeviceMemory(&free_after, &total);
  const airlock::engine::Backend& m = **model;
  std::printf("%s, preset %s (%s), CUDA graphs %s, weights made on the device in %.1f s\n",
              m.Describe().c_str(), preset.c_str(), config->pattern().c_str(),
              graphs ? "on" : "off", Seconds(Clock::now() - made));
  std::printf("measured device bandwidth: %.0f GB/s; weights: %.2f GB of %.1f GB\n\n",
              bandwidth / 1e9, static_cast<double>(free_before - free_after) / 1e9,
              static_cast<double>(total) / 1e9);

  std::printf("%-28s %12s %12s %8s\n", "figure", "measured", "roofline", "of it");
  const auto row = [&](const char* name, double measured, double roofline, const char* unit) {
    std::printf("%-28s %9.1f %-2s %9.1f %-2s %7.0f%%\n", name, measured, unit, roofline, unit,
                roofline > 0 ? 100 * measured / roofline : 0.0);
  };
  for (int64_t context : {int64_t{1024}, int64_t{16384}}) {
    const double tps = Decode(m, 1, context, steps);
    const std::string name = "decode b=1 ctx " + std::to_string(context);
    row(name.c_str(), tps, bandwidth / StepBytes(m.config(), 1, context), "t/s");
  }
  for (int batch : {8, 32, 128}) {
    const double tps = Decode(m, batch, batch_context, steps);
    const std::string name =
        "decode b=" + std::to_string(batch) + " ctx " + std::to_string(batch_context);
    row(name.c_str(), tps, batch * bandwidth / StepBytes(m.config(), batch, batch_context), "t/s");
  }
  {
    auto seq = m.StartSequence(2048);
    if (seq.ok()) {
      Prefill(m, seq->get(), 2048, 99);  // warm-up: the workspace grows to 2048 rows once
      auto again = m.StartSequence(2048);
      const Clock::time_point start = Clock::now();
      const bool ok = again.ok() && Prefill(m, again->get(), 2048, 98);
      const double s = Seconds(Clock::now() - start);
      std::printf("%-28s %9.0f t/s  (goal 10000)\n", "prefill 2048 tokens", ok ? 2048 / s : 0.0);
      std::printf("%-28s %9.1f ms\n", "time to first token, 2048", ok ? s * 1e3 : 0.0);
    }
  }
  size_t free_end = 0;
  (void)airlock::kernels::DeviceMemory(&free_end, &total);
  std::printf("%-28s %9.2f GB (weights, workspace and the sequences still held)\n",
              "device memory used", static_cast<double>(free_before - free_end) / 1e9);
  return 0;
}
