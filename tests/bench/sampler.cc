// bench_sampler: how long picking one token takes on the host, by sampling setting, at
// Nemotron 3 Nano's vocabulary (131,072 tokens).
//
//   bench_sampler [--vocab 131072] [--tokens 200]
//
// Two kinds of logits, drawn once with a fixed seed: "model-like" (the bulk normal with
// sigma 2.5, twenty tokens about 12 above it, as a language model's next-token logits look)
// and "flat" (normal, sigma 3: no token stands out, the hardest case for the sampler, whose
// filters then reach deep into the vocabulary). For each setting the Sampler (engine/sampler.h)
// picks `--tokens` tokens; the table gives the median and 99th percentile per token in
// microseconds, and the tokens per second that sampling alone would allow.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/sampler.h"

namespace {

using airlock::engine::Sampler;
using airlock::engine::SamplingParams;
using Clock = std::chrono::steady_clock;

std::vector<float> Logits(size_t vocab, bool model_like) {
  std::mt19937 gen(11);
  std::normal_distribution<float> bulk(0.0f, model_like ? 2.5f : 3.0f);
  std::vector<float> logits(vocab);
  for (float& l : logits) l = bulk(gen);
  if (model_like) {
    std::normal_distribution<float> top(12.0f, 2.0f);
    for (size_t i = 0; i < 20 && i < vocab; ++i) logits[(i * 7919) % vocab] = top(gen);
  }
  return logits;
}

}  // namespace

int main(int argc, char** argv) {
  size_t vocab = 131072;
  int tokens = 200;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (!std::strcmp(argv[i], "--vocab") && has_value) {
      vocab = std::strtoul(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--tokens") && has_value) {
      tokens = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--vocab 131072] [--tokens 200]\n", argv[0]);
      return 2;
    }
  }
  if (vocab == 0 || tokens <= 0) {
    std::fprintf(stderr, "--vocab and --tokens must be positive\n");
    return 2;
  }
  struct Setting {
    const char* name;
    SamplingParams params;
  };
  const Setting settings[] = {
      {"greedy", {.temperature = 0}},
      {"T=1", {.temperature = 1.0f}},
      {"T=0.7 top_p=0.9", {.temperature = 0.7f, .top_p = 0.9f}},
      {"T=0.7 top_k=40", {.temperature = 0.7f, .top_k = 40}},
      {"T=0.8 min_p=0.05", {.temperature = 0.8f, .min_p = 0.05f}},
      {"T=0.6 top_k=20 top_p=0.95", {.temperature = 0.6f, .top_k = 20, .top_p = 0.95f}},
  };
  std::printf("bench_sampler: vocabulary %zu, %d tokens per cell, one thread\n\n", vocab, tokens);
  std::printf("%-10s  %-26s  %9s  %9s  %12s\n", "logits", "setting", "p50 us", "p99 us",
              "tokens/s");
  for (bool model_like : {true, false}) {
    const std::vector<float> logits = Logits(vocab, model_like);
    for (const Setting& s : settings) {
      Sampler sampler(s.params);
      std::vector<double> us;
      us.reserve(static_cast<size_t>(tokens));
      int64_t checksum = 0;
      for (int t = 0; t < tokens; ++t) {
        const auto start = Clock::now();
        checksum += sampler.Sample(logits);
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      }
      std::sort(us.begin(), us.end());
      const double p50 = us[us.size() / 2];
      const double p99 = us[std::min(us.size() - 1, us.size() * 99 / 100)];
      std::printf("%-10s  %-26s  %9.1f  %9.1f  %12.0f%s\n", model_like ? "model-like" : "flat",
                  s.name, p50, p99, 1e6 / p50, checksum < 0 ? " (no token)" : "");
    }
  }
  return 0;
}
