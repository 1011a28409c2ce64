#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace airlock::engine {

int32_t Sampler::Sample(std::span<const float> in, std::span<const int32_t> recent) {
  std::vector<float> logits(in.begin(), in.end());
  if (logits.empty()) return -1;
  if (params_.repetition_penalty != 1.0f) {
    std::vector<bool> seen(logits.size(), false);
    for (int32_t t : recent) {
      if (t < 0 || static_cast<size_t>(t) >= logits.size() || seen[static_cast<size_t>(t)])
        continue;
      seen[static_cast<size_t>(t)] = true;
      float& l = logits[static_cast<size_t>(t)];
      l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
    }
  }
  if (params_.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  // Candidates, most likely first (stable: lower ids first among equals).
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
  });
  size_t n = order.size();
  if (params_.top_k > 0) n = std::min(n, static_cast<size_t>(params_.top_k));
  const double max = logits[static_cast<size_t>(order[0])] / params_.temperature;
  std::vector<double> p(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    p[i] = std::exp(logits[static_cast<size_t>(order[i])] / params_.temperature - max);
    sum += p[i];
  }
  for (double& v : p) v /= sum;
  if (params_.top_p < 1.0f) {
    double acc = 0;
    size_t keep = 0;
    while (keep < n) {
      acc += p[keep++];
      if (acc >= params_.top_p) break;
    }
    n = std::max<size_t>(keep, 1);
  }
  if (params_.min_p > 0.0f) {
    size_t keep = 1;
    while (keep < n && p[keep] >= params_.min_p * p[0]) ++keep;
    n = keep;
  }
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += p[i];
  const double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
  double acc = 0;
  for (size_t i = 0; i < n; ++i) {
    acc += p[i];
    if (u < acc) return order[i];
  }
  return order[n - 1];
}

}  // namespace airlock::engine
