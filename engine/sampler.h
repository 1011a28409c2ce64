// Sampler: picks the next token from logits.
//
// In order: the repetition penalty (each token already in `recent` has its logit divided by the
// penalty when positive, multiplied when negative); then, with temperature 0, the largest logit
// (ties: the lowest id); otherwise logits / temperature, softmax, top-k (the k most likely),
// top-p (the smallest set, most likely first, whose probability reaches p), min-p (tokens at
// least min_p times the most likely one's probability), renormalised, and one draw from the
// sampler's own generator, seeded: the same seed and logits give the same tokens.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace airlock::engine {

struct SamplingParams {
  float temperature = 1.0f;         // 0: greedy
  int32_t top_k = 0;                // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}
  int32_t Sample(std::span<const float> logits, std::span<const int32_t> recent = {});

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  // Reused from token to token (a sampler serves one sequence).
  std::vector<float> penalized_;
  std::vector<bool> seen_;
  std::vector<double> weight_;
  std::vector<int32_t> order_;
  std::vector<int32_t> candidates_;
};

}  // namespace airlock::engine
