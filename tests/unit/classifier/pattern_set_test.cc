#include "classifier/pattern_set.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Found(const PatternSetDetector& d, std::string_view text) {
  std::vector<Match> matches;
  d.Scan(text, &matches);
  std::vector<std::string> out;
  for (const Match& m : matches) {
    out.push_back(m.detector + ":" + std::string(text.substr(m.begin, m.end - m.begin)));
  }
  return out;
}

PatternRule Rule(std::string name, std::string pattern, Validator v = nullptr) {
  PatternRule r;
  r.name = std::move(name);
  r.category = "test." + r.name;
  r.pattern = std::move(pattern);
  r.validate = std::move(v);
  return r;
}

TEST(PatternSetDetector, FindsEveryMatchOfEveryRuleThatMatches) {
  std::vector<PatternRule> rules;
  rules.push_back(Rule("digits", R"(\b\d{3}\b)"));
  rules.push_back(Rule("word", R"(\bzeta\b)"));
  rules.push_back(Rule("never", R"(qqqq)"));
  auto d = PatternSetDetector::Create("t", std::move(rules));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(Found(**d, "a 123 zeta 4567 890"),
              ElementsAre("digits:123", "digits:890", "word:zeta"));
  EXPECT_TRUE(Found(**d, "nothing here").empty());
}

TEST(PatternSetDetector, CaptureGroupOneIsTheSpanAndMatchCarriesRuleFields) {
  std::vector<PatternRule> rules;
  PatternRule r = Rule("pw", R"(password=(\S+))");
  r.level = Level::kRestricted;
  r.confidence = 0.7f;
  rules.push_back(r);
  auto d = PatternSetDetector::Create("t", std::move(rules));
  ASSERT_TRUE(d.ok());
  std::vector<Match> m;
  (*d)->Scan("x password=hunter2 y", &m);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].begin, 11u);
  EXPECT_EQ(m[0].end, 18u);
  EXPECT_EQ(m[0].category, "test.pw");
  EXPECT_EQ(m[0].level, Level::kRestricted);
  EXPECT_FLOAT_EQ(m[0].confidence, 0.7f);
}

TEST(PatternSetDetector, ValidatorRejectsMovesAndScores) {
  std::vector<PatternRule> rules;
  rules.push_back(Rule("even", R"(\d+)", [](std::string_view text, Candidate* c) {
    if ((text[c->end - 1] - '0') % 2 != 0) return false;
    c->begin += 1;  // drop the first digit
    c->confidence = 0.5f;
    return true;
  }));
  auto d = PatternSetDetector::Create("t", std::move(rules));
  ASSERT_TRUE(d.ok());
  EXPECT_THAT(Found(**d, "12 13 456"), ElementsAre("even:2", "even:56"));
}

TEST(PatternSetDetector, CaseInsensitiveRulesAndBytesThatAreNotUtf8) {
  std::vector<PatternRule> rules;
  PatternRule r = Rule("code", R"(\bproject apollo\b)");
  r.case_insensitive = true;
  rules.push_back(r);
  rules.push_back(Rule("key", R"(KEY-[0-9]{4})"));
  auto d = PatternSetDetector::Create("t", std::move(rules));
  ASSERT_TRUE(d.ok());
  const std::string text = std::string("\xff\xfe Project APOLLO \xc3(KEY-1234\x80", 29);
  EXPECT_THAT(Found(**d, text), ElementsAre("key:KEY-1234", "code:Project APOLLO"));
}

TEST(PatternSetDetector, BadPatternNamesTheRule) {
  std::vector<PatternRule> rules;
  rules.push_back(Rule("ok", "a+"));
  rules.push_back(Rule("broken", "(ab"));
  auto d = PatternSetDetector::Create("t", std::move(rules));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(), HasSubstr("rule 'broken' (test.broken)"));
  EXPECT_THAT(d.status().message(), HasSubstr("missing )"));
}

TEST(PatternSetDetector, EmptyMatchesDoNotLoopForever) {
  std::vector<PatternRule> rules;
  rules.push_back(Rule("maybe", "x*"));
  auto d = PatternSetDetector::Create("t", std::move(rules));
  ASSERT_TRUE(d.ok());
  EXPECT_THAT(Found(**d, "ab xx c"), ElementsAre("maybe:xx"));
}

}  // namespace
}  // namespace airlock::classifier
