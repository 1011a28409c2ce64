// PrefixCache: the longest proper prefix wins, an entry is taken once, and entries expire or
// are pushed out by newer ones.
#include "engine/prefix_cache.h"

#include <thread>

#include "gtest/gtest.h"

namespace airlock::engine {
namespace {

std::unique_ptr<Sequence> At(int64_t position) {
  auto s = std::make_unique<Sequence>();
  s->position = position;
  return s;
}

TEST(PrefixCache, TakesTheLongestProperPrefixOnce) {
  PrefixCache cache(8, std::chrono::minutes(1));
  cache.Put({1, 2}, At(2));
  cache.Put({1, 2, 3, 4}, At(4));
  cache.Put({1, 2, 3, 4, 5, 6}, At(6));  // the whole prompt below: not a proper prefix
  cache.Put({9, 2, 3}, At(3));
  const std::vector<int32_t> prompt{1, 2, 3, 4, 5, 6};
  std::unique_ptr<Sequence> s = cache.Take(prompt);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->position, 4);
  s = cache.Take(prompt);  // taken once: the next longest
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->position, 2);
  EXPECT_EQ(cache.Take(prompt), nullptr);
  EXPECT_EQ(cache.Take(std::vector<int32_t>{7, 8, 9}), nullptr);
  const PrefixCache::Stats st = cache.stats();
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 2u);
  EXPECT_EQ(st.entries, 2u);
}

TEST(PrefixCache, DropsTheOldestBeyondCapacityAndExpiredEntries) {
  PrefixCache cache(2, std::chrono::minutes(1));
  cache.Put({1}, At(1));
  cache.Put({1, 2}, At(2));
  cache.Put({1, 2, 3}, At(3));  // pushes out {1}
  EXPECT_EQ(cache.stats().dropped, 1u);
  const std::vector<int32_t> prompt{1, 2, 3, 4};
  EXPECT_EQ(cache.Take(prompt)->position, 3);
  EXPECT_EQ(cache.Take(prompt)->position, 2);
  EXPECT_EQ(cache.Take(prompt), nullptr);

  PrefixCache brief(4, std::chrono::milliseconds(1));
  brief.Put({1}, At(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(brief.Take(prompt), nullptr);
  EXPECT_EQ(brief.stats().dropped, 1u);

  PrefixCache off(0, std::chrono::minutes(1));  // capacity 0: keeps nothing
  off.Put({1}, At(1));
  EXPECT_EQ(off.Take(prompt), nullptr);
}

}  // namespace
}  // namespace airlock::engine
