// bench_engine_decode: the engine's decode and prefill speed on a synthetic model, against this
// machine's memory bandwidth measured in the same run.
//
//   bench_engine_decode [--model DIR] [--tokens 32] [--prompt 512] [--threads 0]
//
// Without --model it writes the `bench` preset (engine/synth.h: hidden 2048, 16 layers of the
// real pattern, 32 experts top-6, BF16, about 1.3 GB) to a temporary folder first. Reports, for
// the CPU kernels (engine/cpu_kernels.h) on --threads threads (0: all cores) and for the plain
// reference path:
//   decode tok/s    batch-1 decode after a 16-token prompt, --tokens steps (greedy)
//   prefill tok/s   a --prompt-token prompt (the engine prefills token by token today)
//   bytes/token     the weight bytes one decode step reads: every tensor but the embeddings
//                   (one row) and the unselected experts (num_experts_per_tok of
//                   n_routed_experts per MoE layer)
//   roofline tok/s  bandwidth / bytes per token; the decode column as a fraction of it
// Bandwidth: the best of 5 multi-threaded passes summing a 1 GiB buffer. Goals (issue #6):
// batch-1 decode >= 60% of the roofline. Batch 4 and 16 need continuous batching, which the
// engine does not have yet: not measured. Exit status 0; 1 when the model cannot be written or
// loaded.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/cpu_kernels.h"
#include "engine/model.h"
#include "engine/synth.h"

namespace {

using airlock::engine::Model;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double BandwidthGBs(size_t threads) {
  const size_t n = size_t{1} << 27;  // 1 GiB of uint64
  std::vector<uint64_t> buffer(n, 1);
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    std::vector<std::thread> workers;
    std::vector<uint64_t> sums(threads, 0);
    const auto t0 = Clock::now();
    for (size_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        uint64_t s = 0;
        for (size_t i = n * t / threads; i < n * (t + 1) / threads; ++i) s += buffer[i];
        sums[t] = s;
      });
    }
    for (auto& w : workers) w.join();
    const double gbs = static_cast<double>(n * 8) / Seconds(t0, Clock::now()) / 1e9;
    if (sums[0] == 0) std::fprintf(stderr, "unexpected sum\n");
    best = std::max(best, gbs);
  }
  return best;
}

uint64_t BytesPerToken(const Model& m) {
  const auto& c = m.config();
  const auto& w = m.weights();
  uint64_t bytes = w.norm_f->bytes + w.lm_head->bytes + w.embeddings->bytes / c.vocab_size;
  for (const auto& l : w.layers) {
    bytes += l.norm->bytes;
    for (const auto* t :
         {l.mamba.in_proj, l.mamba.conv1d_weight, l.mamba.conv1d_bias, l.mamba.dt_bias,
          l.mamba.a_log, l.mamba.d, l.mamba.norm, l.mamba.out_proj, l.attention.q_proj,
          l.attention.k_proj, l.attention.v_proj, l.attention.o_proj, l.moe.gate, l.moe.score_bias,
          l.moe.shared_up, l.moe.shared_down, l.mlp.up, l.mlp.down}) {
      if (t != nullptr) bytes += t->bytes;
    }
    const double used = c.n_routed_experts > 0
                            ? static_cast<double>(c.num_experts_per_tok) / c.n_routed_experts
                            : 0;
    uint64_t experts = 0;
    for (const auto* t : l.moe.up) experts += t->bytes;
    for (const auto* t : l.moe.down) experts += t->bytes;
    if (l.moe.up_fused) experts += l.moe.up_fused->bytes + l.moe.down_fused->bytes;
    bytes += static_cast<uint64_t>(static_cast<double>(experts) * used);
  }
  return bytes;
}

struct Speed {
  double decode = 0, prefill = 0;
};

Speed Measure(const Model& m, int tokens, int prompt) {
  Speed s;
  const int32_t vocab = static_cast<int32_t>(m.config().vocab_size);
  std::vector<int32_t> ids;
  for (int i = 0; i < 16; ++i) ids.push_back((i * 131 + 7) % vocab);
  auto seq = m.NewSequence();
  auto logits = *m.Forward(&seq, ids);
  const auto t0 = Clock::now();
  for (int i = 0; i < tokens; ++i) {
    const int32_t next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    logits = *m.Forward(&seq, std::vector<int32_t>{next});
  }
  s.decode = tokens / Seconds(t0, Clock::now());
  std::vector<int32_t> long_prompt;
  for (int i = 0; i < prompt; ++i) long_prompt.push_back((i * 7919 + 3) % vocab);
  auto fresh = m.NewSequence();
  const auto t1 = Clock::now();
  (void)m.Forward(&fresh, long_prompt);
  s.prefill = prompt / Seconds(t1, Clock::now());
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  int tokens = 32, prompt = 512;
  size_t threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") model_dir = argv[i + 1];
    if (a == "--tokens") tokens = std::atoi(argv[i + 1]);
    if (a == "--prompt") prompt = std::atoi(argv[i + 1]);
    if (a == "--threads") threads = static_cast<size_t>(std::atoi(argv[i + 1]));
  }
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  std::string temp;
  if (model_dir.empty()) {
    temp = (std::filesystem::temp_directory_path() / ("bench_engine_" + std::to_string(::getpid())))
               .string();
    std::printf("writing the bench model (random weights) to %s ...\n", temp.c_str());
    if (!airlock::engine::SynthesizeModel(*airlock::engine::PresetConfig("bench"), temp, {}).ok()) {
      return 1;
    }
    model_dir = temp;
  }
  const double bandwidth = BandwidthGBs(threads);
  std::printf("memory bandwidth: %.1f GB/s (%zu threads, read)\n", bandwidth, threads);
  std::printf("kernels: %s\n\n", airlock::engine::CpuKernelName());
  std::printf("%-22s %8s %12s %13s %12s %14s %9s\n", "path", "threads", "decode tok/s",
              "prefill tok/s", "bytes/token", "roofline tok/s", "of roof");
  int status = 0;
  for (const bool reference : {false, true}) {
    auto m = Model::Load(model_dir, {.reference = reference, .threads = threads});
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", std::string(m.status().message()).c_str());
      status = 1;
      break;
    }
    const Speed s = Measure(**m, reference ? std::max(2, tokens / 8) : tokens,
                            reference ? std::max(8, prompt / 32) : prompt);
    const uint64_t bytes = BytesPerToken(**m);
    const double roof = bandwidth * 1e9 / static_cast<double>(bytes);
    std::printf("%-22s %8zu %12.2f %13.2f %12.3g %14.1f %8.0f%%\n",
                reference ? "reference (scalar)" : "cpu kernels", reference ? size_t{1} : threads,
                s.decode, s.prefill, static_cast<double>(bytes), roof, 100.0 * s.decode / roof);
  }
  std::printf("\ngoal: batch-1 decode >= 60%% of the roofline (cpu kernels row)\n");
  if (!temp.empty()) std::filesystem::remove_all(temp);
  return status;
}
