// Sampler: greedy is the argmax; each filter keeps exactly the tokens it should; draws follow
// the softmax; the same seed gives the same tokens; the sampler, which sorts only the tokens
// that matter, picks what sorting the whole vocabulary would.
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
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

// The sampler's definition (sampler.h), written the obvious way: sort the whole vocabulary,
// then filter and draw along that order.
class ReferenceSampler {
 public:
  explicit ReferenceSampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

  int32_t Sample(std::vector<float> logits) {
    for (float& l : logits) {
      if (std::isnan(l)) l = -std::numeric_limits<float>::infinity();
      if (l == std::numeric_limits<float>::infinity()) l = std::numeric_limits<float>::max();
    }
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
    });
    size_t n = order.size();
    if (params_.top_k > 0) n = std::min(n, static_cast<size_t>(params_.top_k));
    if (logits[static_cast<size_t>(order[0])] == -std::numeric_limits<float>::infinity()) {
      return order[0];
    }
    const double t = params_.temperature;
    const double max = logits[static_cast<size_t>(order[0])] / t;
    std::vector<double> w(logits.size(), 0.0);  // by id, over the first n of the order
    std::vector<int32_t> by_id(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n));
    std::sort(by_id.begin(), by_id.end());
    double sum = 0;
    for (int32_t i : by_id)
      sum += w[static_cast<size_t>(i)] = std::exp(logits[static_cast<size_t>(i)] / t - max);
    const auto p = [&](size_t rank) { return w[static_cast<size_t>(order[rank])] / sum; };
    const size_t all = n;
    if (params_.top_p < 1.0f) {
      double acc = 0;
      size_t keep = 0;
      while (keep < n) {
        acc += p(keep++);
        if (acc >= params_.top_p) break;
      }
      n = std::max<size_t>(keep, 1);
    }
    if (params_.min_p > 0.0f) {
      size_t keep = 1;
      while (keep < n && p(keep) >= params_.min_p * p(0)) ++keep;
      n = keep;
    }
    double total = 0;
    if (n < all) {
      for (size_t i = 0; i < n; ++i) total += p(i);
    } else {
      for (int32_t i : by_id) total += w[static_cast<size_t>(i)] / sum;
    }
    const double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
    double acc = 0;
    for (size_t i = 0; i < n; ++i) {
      acc += p(i);
      if (u < acc) return order[i];
    }
    return order[n - 1];
  }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

TEST(Sampler, PicksWhatSortingTheWholeVocabularyWould) {
  std::mt19937 gen(5);
  int cases = 0;
  for (int vocab : {1, 7, 1000, 20000}) {
    for (float spread : {0.5f, 3.0f, 12.0f}) {  // flat to peaked
      std::vector<float> logits(static_cast<size_t>(vocab));
      std::normal_distribution<float> normal(0.0f, spread);
      for (float& l : logits) l = normal(gen);
      // Ties: copies of the best logit and a run of equal ones.
      if (vocab >= 1000) {
        const float best = *std::max_element(logits.begin(), logits.end());
        logits[17] = logits[900] = best;
        std::fill(logits.begin() + 100, logits.begin() + 300, 1.0f);
      }
      for (const SamplingParams& params :
           {SamplingParams{.temperature = 1.0f, .seed = 1},
            SamplingParams{.temperature = 0.7f, .top_p = 0.9f, .seed = 2},
            SamplingParams{.temperature = 0.7f, .top_p = 0.999f, .seed = 3},
            SamplingParams{.temperature = 1.3f, .top_k = 40, .seed = 4},
            SamplingParams{.temperature = 1.0f, .top_k = 50, .top_p = 0.8f, .seed = 5},
            SamplingParams{.temperature = 0.9f, .min_p = 0.05f, .seed = 6},
            SamplingParams{.temperature = 1.0f, .min_p = 1e-7f, .seed = 7},
            SamplingParams{.temperature = 2.0f, .top_p = 0.95f, .min_p = 0.01f, .seed = 8},
            SamplingParams{.temperature = 0.05f, .seed = 9}}) {
        Sampler fast(params);
        ReferenceSampler reference(params);
        for (int draw = 0; draw < 12; ++draw) {
          ASSERT_EQ(fast.Sample(logits), reference.Sample(logits))
              << "vocab " << vocab << " spread " << spread << " seed " << params.seed << " draw "
              << draw;
        }
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 4 * 3 * 9);
}

// Rows where summation order, non-finite values or extreme settings decide the token.
TEST(Sampler, EdgeCasesPickWhatTheDefinitionSays) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::vector<float>> rows;
  // Two tokens holding all but 1e-13 of the mass, behind a thousand tiny ones: top-p 0.5 sits
  // on the last bit of the normaliser.
  std::vector<float> tail(1002, -37.0f);
  tail[1000] = tail[1001] = 0.0f;
  rows.push_back(tail);
  rows.push_back({1.0f, inf, 3.0f, inf, -inf});          // +inf: the largest float
  rows.push_back({-inf, -inf, -inf});                    // nothing more likely than anything
  rows.push_back({nan, nan, nan, nan});                  // all NaN
  rows.push_back({0.5f, nan, 2.0f, -inf, 2.0f, 1e30f});  // a mix
  std::vector<float> long_tail(30000);                   // a long, slowly falling tail
  for (size_t i = 0; i < long_tail.size(); ++i) long_tail[i] = -0.0005f * static_cast<float>(i);
  rows.push_back(long_tail);
  const SamplingParams settings[] = {
      {.temperature = 1.0f, .seed = 1},
      {.temperature = 1.0f, .top_p = 0.5f, .seed = 2},
      {.temperature = 1.0f, .top_p = 1e-6f, .seed = 3},
      {.temperature = 1e-38f, .seed = 4},
      {.temperature = 1e-38f, .min_p = 0.1f, .seed = 5},
      {.temperature = 0.8f, .min_p = 0.5f, .seed = 6},
      {.temperature = 1.0f, .top_k = 100000, .seed = 7},
      {.temperature = 1.0f, .top_k = 2, .min_p = 0.2f, .seed = 8},
      {.temperature = 3.0f, .top_p = 0.99f, .min_p = 1e-6f, .seed = 9},
  };
  for (size_t r = 0; r < rows.size(); ++r) {
    for (const SamplingParams& params : settings) {
      Sampler fast(params);
      ReferenceSampler reference(params);
      for (int draw = 0; draw < 40; ++draw) {
        const int32_t want = reference.Sample(rows[r]);
        ASSERT_GE(want, 0);
        ASSERT_LT(static_cast<size_t>(want), rows[r].size());
        ASSERT_EQ(fast.Sample(rows[r]), want) << "row " << r << " seed " << params.seed;
      }
    }
  }
  // Greedy treats NaN as -inf too.
  Sampler greedy({.temperature = 0});
  EXPECT_EQ(greedy.Sample(std::vector<float>{nan, 1.0f, nan}), 1);
}

TEST(Sampler, NanLogitsCountAsMinusInfinity) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> logits = {nan, 2.0f, nan, 1.0f, nan};
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Sampler s({.temperature = 1.0f, .seed = seed});
    const int32_t t = s.Sample(logits);
    EXPECT_TRUE(t == 1 || t == 3) << t;
  }
  Sampler all_nan({.temperature = 1.0f, .top_p = 0.9f});
  const int32_t t = all_nan.Sample(std::vector<float>(5, nan));
  EXPECT_GE(t, 0);
  EXPECT_LT(t, 5);
}

}  // namespace
}  // namespace airlock::engine
