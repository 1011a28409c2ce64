// Sampler: greedy is the argmax; each filter keeps exactly the tokens it should; draws follow
// the softmax; the same seed gives the same tokens.
#include "engine/sampler.h"

#include <cmath>
#include <map>
#include <vector>

#include "gtest/gtest.h"

namespace airlock::engine {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};

std::map<int32_t, int> Draws(const SamplingParams& p, int n, std::vector<int32_t> recent = {}) {
  Sampler s(p);
  std::map<int32_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[s.Sample(kLogits, recent)];
  return counts;
}

TEST(Sampler, GreedyIsTheArgmaxLowestIdFirst) {
  Sampler s({.temperature = 0});
  EXPECT_EQ(s.Sample(kLogits), 1);
  // The repetition penalty pushes seen tokens down: 1 and 3 seen, 2 wins.
  Sampler r({.temperature = 0, .repetition_penalty = 2.0f});
  EXPECT_EQ(r.Sample(kLogits, std::vector<int32_t>{1, 3, 3}), 2);
}

TEST(Sampler, FiltersKeepExactlyTheirTokens) {
  // top-k 2: only the two 3.0 logits (ids 1 and 3).
  auto k = Draws({.top_k = 2, .seed = 1}, 2000);
  EXPECT_EQ(k.size(), 2u);
  EXPECT_TRUE(k.count(1) && k.count(3));
  // top-p: softmax is about [0.06, 0.42, 0.16, 0.42, 0.01]; 0.5 needs the two largest.
  auto p = Draws({.top_p = 0.5f, .seed = 2}, 2000);
  EXPECT_EQ(p.size(), 2u);
  // min-p 0.3: tokens with p >= 0.3 * 0.42 = 0.127: ids 1, 3 and 2.
  auto m = Draws({.min_p = 0.3f, .seed = 3}, 3000);
  EXPECT_EQ(m.size(), 3u);
  EXPECT_TRUE(m.count(2));
}

TEST(Sampler, DrawsFollowTheSoftmaxAndTheSeed) {
  const int n = 20000;
  auto c = Draws({.temperature = 1.0f, .seed = 7}, n);
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  for (size_t i = 0; i < kLogits.size(); ++i) {
    const double want = std::exp(kLogits[i]) / z;
    EXPECT_NEAR(static_cast<double>(c[static_cast<int32_t>(i)]) / n, want, 0.015) << i;
  }
  // A high temperature flattens: the rarest token gets more draws than at temperature 1.
  auto hot = Draws({.temperature = 5.0f, .seed = 7}, n);
  EXPECT_GT(hot[4], c[4] * 3);
  EXPECT_EQ(Draws({.seed = 42}, 500), Draws({.seed = 42}, 500));
  EXPECT_NE(Draws({.seed = 42}, 500), Draws({.seed = 43}, 500));
}

}  // namespace
}  // namespace airlock::engine
