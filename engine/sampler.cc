#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

namespace airlock::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Candidate floors, as weights relative to the most likely token's (1): the first gathers the
// tokens within about 9 nats of the top, which hold what filters and draws look at for the
// distributions a language model gives; each next one is 10^4 lower; after the last, everything.
constexpr double kFirstFloor = 1e-4;
constexpr double kFloorStep = 1e-4;
constexpr double kLastFloor = 1e-12;

}  // namespace

int32_t Sampler::Sample(std::span<const float> in, std::span<const int32_t> recent) {
  if (in.empty()) return -1;
  std::span<const float> logits = in;
  if (params_.repetition_penalty != 1.0f) {
    penalized_.assign(in.begin(), in.end());
    seen_.assign(in.size(), false);
    for (int32_t t : recent) {
      if (t < 0 || static_cast<size_t>(t) >= in.size() || seen_[static_cast<size_t>(t)]) continue;
      seen_[static_cast<size_t>(t)] = true;
      float& l = penalized_[static_cast<size_t>(t)];
      l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
    }
    logits = penalized_;
  }
  // Non-finite logits (a broken model) would leave the order or the weights undefined: NaN
  // counts as -inf, +inf as the largest float.
  if (std::any_of(logits.begin(), logits.end(),
                  [](float l) { return std::isnan(l) || l == kInf; })) {
    if (logits.data() != penalized_.data()) penalized_.assign(logits.begin(), logits.end());
    for (float& l : penalized_) {
      if (std::isnan(l)) l = -kInf;
      if (l == kInf) l = std::numeric_limits<float>::max();
    }
    logits = penalized_;
  }
  if (params_.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }

  // The order every step below walks: most likely first, lower ids first among equals.
  const auto before = [&](int32_t a, int32_t b) {
    const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  const size_t vocab = logits.size();
  const double temperature = params_.temperature;
  // S: the top-k when top_k is set (order_ along the order, by_id_ by id), else every token.
  const bool top_k = params_.top_k > 0 && static_cast<size_t>(params_.top_k) < vocab;
  const size_t s_size = top_k ? static_cast<size_t>(params_.top_k) : vocab;
  if (top_k) {
    order_.resize(vocab);
    std::iota(order_.begin(), order_.end(), 0);
    // A heap of the k best so far: most tokens lose to its weakest at one comparison.
    std::partial_sort(order_.begin(), order_.begin() + params_.top_k, order_.end(), before);
    order_.resize(s_size);
    by_id_.assign(order_.begin(), order_.end());
    std::sort(by_id_.begin(), by_id_.end());
  }
  // Calls f(id) for each token of S, in increasing id order.
  const auto for_each_in_s = [&](auto&& f) {
    if (top_k) {
      for (int32_t i : by_id_) f(static_cast<size_t>(i));
    } else {
      for (size_t i = 0; i < vocab; ++i) f(i);
    }
  };
  const float top = top_k ? logits[static_cast<size_t>(order_[0])]
                          : *std::max_element(logits.begin(), logits.end());
  if (top == -kInf) return top_k ? order_[0] : 0;  // nothing is more likely than anything
  // The weights of S (1 for the most likely token) and their sum.
  const double max = top / temperature;
  weight_.resize(vocab);
  double sum = 0;
  for_each_in_s([&](size_t i) { sum += weight_[i] = std::exp(logits[i] / temperature - max); });
  const auto p = [&](int32_t i) { return weight_[static_cast<size_t>(i)] / sum; };

  // Filters and the draw look at a prefix of S in order, usually short: sort only the tokens
  // whose weight reaches a floor (they are such a prefix), and lower the floor until what is
  // decided lies inside. With top_k, S is sorted already and is the one round. Each round
  // appends the next band of weights, sorted, to the candidates: every token of a band comes
  // after every token of the bands before it.
  std::optional<double> u;
  candidates_.clear();
  double above = std::numeric_limits<double>::infinity();  // the previous round's floor
  for (double floor = kFirstFloor;; floor = floor > kLastFloor ? floor * kFloorStep : 0) {
    if (!top_k) {
      const size_t band = candidates_.size();
      for (size_t i = 0; i < vocab; ++i) {
        const double w = weight_[i];
        // The last band takes everything left.
        if (!(w >= above) && (w >= floor || floor == 0)) {
          candidates_.push_back(static_cast<int32_t>(i));
        }
      }
      std::sort(candidates_.begin() + static_cast<std::ptrdiff_t>(band), candidates_.end(), before);
      above = floor;
    }
    const std::vector<int32_t>& c = top_k ? order_ : candidates_;
    const bool complete = c.size() == s_size;
    size_t n = c.size();
    bool cut = complete;  // whether the kept prefix (its length n) is known
    if (params_.top_p < 1.0f) {
      double acc = 0;
      size_t keep = 0;
      bool reached = false;
      while (keep < n && !reached) reached = (acc += p(c[keep++])) >= params_.top_p;
      if (!reached && !complete) continue;  // the smallest set reaching p is longer
      n = std::max<size_t>(keep, 1);
      cut = true;
    }
    if (params_.min_p > 0.0f) {
      const double threshold = params_.min_p * p(c[0]);
      size_t keep = 1;
      while (keep < n && p(c[keep]) >= threshold) ++keep;
      if (keep < n) {
        n = keep;
        cut = true;
      } else if (!cut) {
        // Every token reaching the threshold is a candidate once the floor is below it.
        if (floor >= params_.min_p * (1 - 1e-9)) continue;
        cut = true;
      }
    }
    if (!u) {
      double total = 0;
      if (cut && n < s_size) {
        for (size_t i = 0; i < n; ++i) total += p(c[i]);
      } else {  // nothing cut: the draw is over all of S
        for_each_in_s([&](size_t i) { total += weight_[i] / sum; });
      }
      u = std::uniform_real_distribution<double>(0.0, total)(rng_);
    }
    double acc = 0;
    for (size_t i = 0; i < n; ++i) {
      acc += p(c[i]);
      if (*u < acc) return c[i];
    }
    if (cut) return c[n - 1];
    // The draw lies beyond the candidates: lower the floor.
  }
}

}  // namespace airlock::engine
