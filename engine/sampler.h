// Sampler: picks the next token from logits.
//
// In order: the repetition penalty (each token already in `recent` has its logit divided by the
// penalty when positive, multiplied when negative); then, with temperature 0, the largest logit
// (ties: the lowest id); otherwise logits / temperature, softmax, top-k (the k most likely),
// top-p (the smallest set, most likely first, whose probability reaches p), min-p (tokens at
// least min_p times the most likely one's probability), renormalised, and one draw from the
// sampler's own generator, seeded: the same seed and logits give the same tokens.
//
// Exactly (so that any implementation picks the same token): "most likely first" is the order
// of logits, then of ids; NaN counts as -inf and +inf as the largest float. The weights are
// w = exp(l / T - l_max / T) in double; the probabilities p = w / Σw with the sum over the
// candidates (the top-k, or all) in increasing id order. Top-p adds p along the order until the
// sum reaches top_p; the draw is u = r · total with r uniform in [0, 1) and total the sum of the
// kept p (in increasing id order when nothing was cut, else along the order), and picks the
// first token along the order whose running sum of p exceeds u (the last kept one if none).
// When every logit is -inf, the first token in the order is picked.
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
  std::vector<int32_t> by_id_;
  std::vector<int32_t> candidates_;
};

}  // namespace airlock::engine
