#include "classifier/byte_set.h"

#include <cstdint>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

// The position a plain loop finds: what Find must return for every set, text and start.
size_t Expected(const ByteSet& set, std::string_view text, size_t pos) {
  while (pos < text.size() && !set.contains(static_cast<unsigned char>(text[pos]))) ++pos;
  return pos;
}

TEST(ByteSet, FindsTheFirstMemberAtOrAfterThePosition) {
  constexpr ByteSet digits = ByteSet::Of([](uint8_t c) { return c >= '0' && c <= '9'; });
  EXPECT_TRUE(digits.contains('7'));
  EXPECT_FALSE(digits.contains('a'));
  const std::string text = "no digits in the first sixteen bytes, then 42 and 7";
  EXPECT_EQ(digits.Find(text, 0), text.find('4'));
  EXPECT_EQ(digits.Find(text, text.find('4')), text.find('4'));
  EXPECT_EQ(digits.Find(text, text.find('2') + 1), text.find('7'));
  EXPECT_EQ(digits.Find(text, text.size()), text.size());
  EXPECT_EQ(digits.Find("", 0), 0u);
  EXPECT_EQ(digits.Find("only letters, and more than sixteen of them", 0), 43u);
}

TEST(ByteSet, HighBytesAndTheNulByteAreMembersLikeAnyOther) {
  constexpr ByteSet high = ByteSet::Of([](uint8_t c) { return c >= 0x80; });
  const std::string text = "plain ascii text before a \xC3\xA9 and after";
  EXPECT_EQ(high.Find(text, 0), text.find('\xC3'));
  constexpr ByteSet nul = ByteSet::Of([](uint8_t c) { return c == 0; });
  const std::string with_nul("0123456789abcdefghij\0k", 22);
  EXPECT_EQ(nul.Find(with_nul, 0), 20u);
}

// Sets whose high nibbles carry more than eight distinct masks of low nibbles are tested
// approximately 16 bytes at a time; the answer must still be exact. Random sets of every
// density, random texts, every start position.
TEST(ByteSet, AgreesWithAPlainLoopOnRandomSetsAndTexts) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::array<bool, 256> members{};
    const uint64_t density = rng() % 64;  // of 256
    for (auto& m : members) m = rng() % 256 < density;
    const ByteSet set = ByteSet::Of([&](uint8_t c) { return members[c]; });
    std::string text(rng() % 100, '\0');
    for (char& c : text) c = static_cast<char>(rng() % 256);
    for (size_t pos = 0; pos <= text.size(); ++pos) {
      ASSERT_EQ(set.Find(text, pos), Expected(set, text, pos))
          << "round " << round << ", position " << pos;
    }
  }
}

}  // namespace
}  // namespace airlock::classifier
