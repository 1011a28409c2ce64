#include "classifier/pattern_set.h"
#include "classifier/pii_rules.h"

#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

// The e-mail rule on its own, as the classifier runs it (one PatternSetDetector).
const PatternSetDetector& Email() {
  static const PatternSetDetector* const detector = [] {
    auto d = PatternSetDetector::Create("email", {EmailRule()});
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? d->release() : nullptr;
  }();
  return *detector;
}

// The matched substrings of text, in order.
std::vector<std::string> Found(std::string_view text) {
  std::vector<Match> matches;
  Email().Scan(text, &matches);
  std::vector<std::string> out;
  for (const Match& m : matches) {
    EXPECT_LT(m.begin, m.end);
    EXPECT_LE(m.end, text.size());
    out.emplace_back(text.substr(m.begin, m.end - m.begin));
  }
  return out;
}

using Strings = std::vector<std::string>;

TEST(EmailDetector, MatchCarriesCategoryLevelSpanAndConfidence) {
  std::vector<Match> matches;
  Email().Scan("mail alice@example.com now", &matches);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].category, "pii.email");
  EXPECT_EQ(matches[0].level, Level::kConfidential);
  EXPECT_EQ(matches[0].begin, 5u);
  EXPECT_EQ(matches[0].end, 22u);
  EXPECT_FLOAT_EQ(matches[0].confidence, 0.95f);
  EXPECT_EQ(matches[0].detector, "email");
}

TEST(EmailDetector, AppendsToExistingMatches) {
  std::vector<Match> matches(1);
  Email().Scan("a@b.cd", &matches);
  EXPECT_EQ(matches.size(), 2u);
}

TEST(EmailDetector, Positives) {
  EXPECT_EQ(Found("alice@example.com"), Strings{"alice@example.com"});
  EXPECT_EQ(Found("ALICE@EXAMPLE.COM"), Strings{"ALICE@EXAMPLE.COM"});
  EXPECT_EQ(Found("Bob.Smith+tag@Mail.Example.co.uk"), Strings{"Bob.Smith+tag@Mail.Example.co.uk"});
  EXPECT_EQ(Found("x_y%z-1@a-b.sub.domain.org"), Strings{"x_y%z-1@a-b.sub.domain.org"});
  EXPECT_EQ(Found("1234@9x.io"), Strings{"1234@9x.io"});
}

TEST(EmailDetector, AdjacentPunctuationIsNotPartOfTheAddress) {
  EXPECT_EQ(Found("Contact alice@example.com."), Strings{"alice@example.com"});
  EXPECT_EQ(Found("<alice@example.com>"), Strings{"alice@example.com"});
  EXPECT_EQ(Found("(alice@example.com),"), Strings{"alice@example.com"});
  EXPECT_EQ(Found("'alice@example.com'"), Strings{"alice@example.com"});
  EXPECT_EQ(Found("\"alice@example.com\":"), Strings{"alice@example.com"});
  EXPECT_EQ(Found("mailto:alice@example.com;bob@example.org!"),
            (Strings{"alice@example.com", "bob@example.org"}));
  EXPECT_EQ(Found("alice@example.com-"), Strings{"alice@example.com"});
  EXPECT_EQ(Found("alice@example.com..."), Strings{"alice@example.com"});
  EXPECT_EQ(Found("...alice@example.com"), Strings{"alice@example.com"});
  EXPECT_EQ(Found("{\"to\":\"alice@example.com\"}"), Strings{"alice@example.com"});
}

TEST(EmailDetector, SeveralAddressesInOneText) {
  EXPECT_EQ(Found("a@b.cd, e@f.gh and i@j.kl"), (Strings{"a@b.cd", "e@f.gh", "i@j.kl"}));
}

TEST(EmailDetector, InvalidUtf8AroundAnAddressIsScannedAsBytes) {
  const std::string text = std::string("\xff\xfe") + "alice@example.com" + "\xc3\x28\x80";
  std::vector<Match> matches;
  Email().Scan(text, &matches);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].begin, 2u);
  EXPECT_EQ(matches[0].end, 19u);
  // Valid multi-byte UTF-8 around the address too.
  EXPECT_EQ(Found("\xe2\x9c\x89 alice@example.com \xf0\x9f\x98\x80"), Strings{"alice@example.com"});
  // A NUL byte is just a byte.
  EXPECT_EQ(Found(std::string_view("\0alice@example.com\0", 19)), Strings{"alice@example.com"});
}

TEST(EmailDetector, InvalidTrailingLabelsAreDropped) {
  EXPECT_EQ(Found("alice@example.com.2"), Strings{"alice@example.com"});
  EXPECT_EQ(Found("alice@mail.example.com.x1"), Strings{"alice@mail.example.com"});
}

TEST(EmailDetector, Negatives) {
  for (std::string_view text : {
           "",
           "no address here",
           "alice@localhost",      // no TLD
           "alice@example",        // no TLD
           "alice@example.c",      // one-letter TLD
           "alice@example.c0m",    // TLD with a digit
           "alice@192.168.0.1",    // IP, not a domain name
           "alice@[192.168.0.1]",  // IP literal: not recognised
           "alice.@example.com",   // trailing dot in local part
           "al..ice@example.com",  // doubled dot in local part
           "@example.com",         // no local part
           "alice@",               // no domain
           "alice@.com",           // empty label
           "alice@-example.com",   // label starting with '-'
           "alice@example..com",   // empty label
           "a@b.cd@e.fg",          // glued to another '@'
           "alice at example dot com",
       }) {
    EXPECT_EQ(Found(text), Strings{}) << text;
  }
}

TEST(EmailDetector, LengthLimits) {
  const std::string local64(64, 'a');
  const std::string local65(65, 'a');
  EXPECT_EQ(Found(local64 + "@example.com"), Strings{local64 + "@example.com"});
  EXPECT_EQ(Found(local65 + "@example.com"), Strings{});
  const std::string label63(63, 'b');
  const std::string label64(64, 'b');
  EXPECT_EQ(Found("a@" + label63 + ".com"), Strings{"a@" + label63 + ".com"});
  EXPECT_EQ(Found("a@" + label64 + ".com"), Strings{});
  // "a@" + a domain of 3 * 63 + 60 + 3 = 252 bytes: 254 bytes, the longest address allowed.
  const std::string three = label63 + "." + label63 + "." + label63 + ".";
  const std::string domain252 = three + std::string(60, 'c');
  EXPECT_EQ(Found("a@" + domain252), Strings{"a@" + domain252});
  // One byte more: a valid domain (253 bytes) but a 255-byte address.
  const std::string domain253 = three + std::string(61, 'c');
  EXPECT_EQ(Found("a@" + domain253), Strings{});
  // Domain of 4 * 63 + 3 = 255 bytes: longer than 253.
  const std::string long_domain = label63 + "." + label63 + "." + label63 + "." + label63;
  EXPECT_EQ(Found("a@" + long_domain), Strings{});
}

TEST(EmailDetector, LargeInputWithManyCandidates) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "user" + std::to_string(i) + "@host.example.org ";
  for (int i = 0; i < 2000; ++i) text += "not@an-address ";
  EXPECT_EQ(Found(text).size(), 2000u);
}

}  // namespace
}  // namespace airlock::classifier
