#include "classifier/pattern_set.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "classifier/pii_rules.h"
#include "classifier/secret_rules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/classifier/rule_out.h"

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
  EXPECT_THAT(Found(**d, text), ElementsAre("code:Project APOLLO", "key:KEY-1234"));  // rule order
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

TEST(PatternSetDetector, WhitespaceEscapesMatchAsInRe2) {
  // RE2's \s is [\t\n\f\r ] and its \v the byte 0x0B; Hyperscan's differ, so the prefilter
  // must not drop what RE2 matches.
  std::vector<PatternRule> rules;
  rules.push_back(Rule("not_space", R"(key=\S+)"));
  rules.push_back(Rule("not_space_class", R"(a[^\s]b)"));
  rules.push_back(Rule("space", R"(c\sd)"));
  rules.push_back(Rule("vtab", R"(e\vf)"));
  auto d = PatternSetDetector::Create("t", std::move(rules));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->prefiltered(), 4u);
  EXPECT_THAT(Found(**d, "key=\v1"), ElementsAre("not_space:key=\v1"));
  EXPECT_THAT(Found(**d, "a\vb"), ElementsAre("not_space_class:a\vb"));
  EXPECT_THAT(Found(**d, "c\vd c\td"), ElementsAre("space:c\td"));
  EXPECT_THAT(Found(**d, "e\vf e\nf"), ElementsAre("vtab:e\vf"));
}

TEST(PatternSetDetector, CaseFoldingBeyondAsciiStaysWithRe2) {
  // RE2 in Latin-1 mode folds \xe9 (e acute) and \xc9 (E acute); Hyperscan would not.
  std::vector<PatternRule> rules;
  PatternRule latin = Rule("latin", R"(caf\xe9)");
  latin.case_insensitive = true;
  rules.push_back(latin);
  rules.push_back(Rule("inline", "(?i)na\xefve"));
  rules.push_back(Rule("plain", R"(caf\xe9)"));  // no folding: Hyperscan reads it like RE2
  auto d = PatternSetDetector::Create("t", std::move(rules));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->prefiltered(), 1u);
  EXPECT_THAT(Found(**d, "CAF\xc9"), ElementsAre("latin:CAF\xc9"));
  EXPECT_THAT(Found(**d, "NA\xcfVE"), ElementsAre("inline:NA\xcfVE"));
  EXPECT_THAT(Found(**d, "caf\xe9"), ElementsAre("latin:caf\xe9", "plain:caf\xe9"));
}

// RuleOut joins the texts with '\n' for one prefilter pass: every match a text holds on its
// own must still be seen (anchors and word boundaries at its edges), and the join must not be
// needed to rule a text out.
TEST(PatternSetDetector, RuleOutSeesEachTextsOwnMatchesAcrossTheJoin) {
  std::vector<PatternRule> rules;
  rules.push_back(Rule("digits", R"(\b\d{3}\b)"));
  rules.push_back(Rule("start", R"(^key-\d+)"));
  rules.push_back(Rule("end", R"(secret$)"));
  auto d = PatternSetDetector::Create("t", std::move(rules));
  ASSERT_TRUE(d.ok()) << d.status();
  const auto may = [&](const std::vector<std::string_view>& texts) { return MayMatch(**d, texts); };
  using Bools = std::vector<bool>;
  EXPECT_EQ(may({}), Bools{});
  // "12\n3" is not \b\d{3}\b
  EXPECT_EQ(may({"plain words", "more words", "12", "3"}), (Bools{false, false, false, false}));
  EXPECT_EQ(may({"", ""}), (Bools{false, false}));
  EXPECT_EQ(may({"plain", "key-42 opens it"}), (Bools{false, true}));  // ^ in a later text
  EXPECT_EQ(may({"it is a secret", "plain"}), (Bools{true, true}));    // $ in an earlier one
  EXPECT_EQ(may({"plain", "abc", "123 starts"}), (Bools{false, false, true}));  // \b at an edge
  EXPECT_EQ(may({"one text: 123"}), Bools{true});  // a single text: Scan's own pass decides
  // Where the join would have mattered, Scan alone finds nothing.
  EXPECT_TRUE(Found(**d, "a key-42").empty());
  EXPECT_TRUE(Found(**d, "secret here").empty());
}

TEST(PatternSetDetector, RulesAnchoredToTheWholeTextAreNeverRuledOutByAJoin) {
  std::vector<PatternRule> rules;
  rules.push_back(Rule("head", R"(\Ahead)"));
  rules.push_back(Rule("tail", R"(tail\z)"));
  auto d = PatternSetDetector::Create("t", std::move(rules));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->prefiltered(), 2u);
  EXPECT_EQ(MayMatch(**d, {"x", "head first", "the tail"}), (std::vector<bool>{true, true, true}));
  EXPECT_THAT(Found(**d, "head first"), ElementsAre("head:head"));
  EXPECT_THAT(Found(**d, "the tail"), ElementsAre("tail:tail"));
}

TEST(PatternSetDetector, BuiltInRulesAreMostlyPrefilteredAndAgreeWithScanningEveryRule) {
  std::vector<PatternRule> rules = PiiPatternRules();
  for (PatternRule& r : SecretPatternRules()) rules.push_back(std::move(r));
  const size_t n = rules.size();
  auto d = PatternSetDetector::Create("builtin", std::move(rules));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_GE((*d)->prefiltered() * 10, n * 9) << "most rules should be in the fast prefilter";
  // Every file of the scanner's fuzz corpus and of the ordinary-text samples, whole and line by
  // line.
  const std::filesystem::path root =
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  size_t texts = 0, matches = 0, ruled_out = 0;
  for (const char* dir : {"fuzz/corpus/scan_fuzz", "data/classifier/ordinary"}) {
    for (const auto& entry : std::filesystem::directory_iterator(root / dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string whole((std::istreambuf_iterator<char>(in)), {});
      std::vector<std::string> pieces = {whole};
      for (size_t start = 0; start < whole.size();) {
        const size_t nl = std::min(whole.find('\n', start), whole.size());
        pieces.push_back(whole.substr(start, nl - start));
        start = nl + 1;
      }
      for (const std::string& text : pieces) {
        std::vector<Match> fast, slow;
        (*d)->Scan(text, &fast);
        (*d)->ScanEveryRule(text, &slow);
        auto key = [](const Match& m) { return std::tie(m.begin, m.end, m.detector); };
        auto by_key = [&](const Match& x, const Match& y) { return key(x) < key(y); };
        std::sort(fast.begin(), fast.end(), by_key);
        std::sort(slow.begin(), slow.end(), by_key);
        ASSERT_EQ(fast.size(), slow.size()) << entry.path() << ": " << text.substr(0, 200);
        for (size_t k = 0; k < fast.size(); ++k) {
          EXPECT_TRUE(key(fast[k]) == key(slow[k])) << entry.path();
        }
        ++texts;
        matches += slow.size();
      }
      // Ruling a file's lines out in one joined pass never hides a match of one of them:
      // adjacent lines, and all lines of the file together.
      std::vector<std::string_view> lines(pieces.begin() + 1, pieces.end());
      std::vector<std::vector<std::string_view>> groups = {lines};
      for (size_t k = 0; k + 1 < lines.size(); ++k) groups.push_back({lines[k], lines[k + 1]});
      for (const std::vector<std::string_view>& group : groups) {
        const std::vector<bool> may = MayMatch(**d, group);
        for (size_t k = 0; k < group.size(); ++k) {
          if (may[k]) continue;
          ++ruled_out;
          std::vector<Match> slow;
          (*d)->ScanEveryRule(group[k], &slow);
          EXPECT_TRUE(slow.empty()) << entry.path() << ": " << group[k].substr(0, 200);
        }
      }
    }
  }
  EXPECT_GT(ruled_out, 20u) << "the corpus should have lines that no rule matches";
  EXPECT_GT(texts, 100u);
  EXPECT_GT(matches, 50u) << "the corpus should exercise the rules";
}

}  // namespace
}  // namespace airlock::classifier
