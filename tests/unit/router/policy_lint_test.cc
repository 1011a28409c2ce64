#include "router/policy_lint.h"

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace airlock::router {
namespace {

std::shared_ptr<const Policy> Parse(std::string_view text) {
  auto p = ParsePolicy(text, "policy.yaml", {"nano", "super", "frontier"});
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : nullptr;
}

std::vector<std::string> Lines(const std::vector<LintWarning>& warnings) {
  std::vector<std::string> out;
  for (const LintWarning& w : warnings) {
    out.push_back(std::to_string(w.line) + " " + w.rule_id + ": " + w.message);
  }
  return out;
}

TEST(LintPolicy, APolicyWhoseRulesAreAllReachableHasNoWarnings) {
  auto p = Parse(
      "version: 1\n"
      "rules:\n"
      "  - id: secrets\n"
      "    when: { level_at_least: restricted }\n"
      "    then: { deny: \"no\" }\n"
      "  - id: confidential\n"
      "    when: { level_at_least: confidential }\n"
      "    then: { route: super }\n"
      "default: { route: frontier }\n");
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(LintPolicy(*p).empty());
}

TEST(LintPolicy, ARuleShadowedByEarlierOnesIsNamedWithThem) {
  auto p = Parse(
      "version: 1\n"
      "rules:\n"
      "  - id: top\n"
      "    when: { level_at_least: confidential }\n"
      "    then: { route: nano }\n"
      "  - id: low\n"
      "    when: { level_at_most: internal }\n"
      "    then: { route: frontier }\n"
      "  - id: secrets\n"
      "    when: { level_at_least: restricted }\n"
      "    then: { deny: \"never seen\" }\n"
      "  - id: band\n"
      "    when: { level_at_least: internal, level_at_most: confidential }\n"
      "    then: { route: super }\n"
      "default: { route: frontier }\n");
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(
      Lines(LintPolicy(*p)),
      ::testing::ElementsAre(
          "9 secrets: rule 'secrets' is never reached: every level it matches is taken by rule "
          "'top'",
          "12 band: rule 'band' is never reached: every level it matches is taken by rules "
          "'top', 'low'",
          "15 default: the default is never reached: the rules match every level (rules 'top', "
          "'low')"));
}

TEST(LintPolicy, AnEmptyWhenShadowsEverythingAfterIt) {
  auto p = Parse(
      "version: 1\n"
      "rules:\n"
      "  - id: all\n"
      "    when: {}\n"
      "    then: { route: nano }\n"
      "  - id: later\n"
      "    when: { level_at_least: public }\n"
      "    then: { route: super }\n"
      "default: { route: frontier }\n");
  ASSERT_NE(p, nullptr);
  const std::vector<LintWarning> w = LintPolicy(*p);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].rule_id, "later");
  EXPECT_EQ(w[0].line, 6);
  EXPECT_EQ(w[1].rule_id, "default");
  EXPECT_EQ(w[1].line, 9);
}

TEST(LintPolicy, RulesWithOtherConditionsTakeNoLevelForCertain) {
  auto p = Parse(
      "version: 1\n"
      "rules:\n"
      "  - id: secrets-home\n"
      "    when: { categories: { any: [\"secret.*\"] } }\n"
      "    then: { route: nano }\n"
      "  - id: everything\n"
      "    when: {}\n"
      "    then: { route: super }\n"
      "  - id: research\n"
      "    when: { principal: { tenant: research }, level_at_least: internal }\n"
      "    then: { route: nano }\n"
      "default: { route: frontier }\n");
  ASSERT_NE(p, nullptr);
  // 'everything' is reachable (secrets-home needs a secret), 'research' is not (everything
  // takes every level), and neither is the default.
  EXPECT_THAT(Lines(LintPolicy(*p)),
              ::testing::ElementsAre("9 research: rule 'research' is never reached: every level it "
                                     "matches is taken by rule 'everything'",
                                     "12 default: the default is never reached: the rules match "
                                     "every level (rule 'everything')"));
}

// Two rules: the first's `when` is `earlier`, the second's `later`. The second's warning, or ""
// when it is reachable.
std::string Shadowed(const std::string& earlier, const std::string& later) {
  auto p = Parse("version: 1\nrules:\n  - id: first\n    when: " + earlier +
                 "\n    then: { route: nano }\n  - id: second\n    when: " + later +
                 "\n    then: { route: super }\ndefault: { route: frontier }\n");
  if (p == nullptr) return "(does not parse)";
  for (const LintWarning& w : LintPolicy(*p)) {
    if (w.rule_id == "second") return w.message;
  }
  return "";
}

TEST(LintPolicy, ARuleNarrowerThanAnEarlierOneIsUnreachable) {
  const std::string kTaken =
      "rule 'second' is never reached: every request it matches is taken by rule 'first' (line 3)";
  struct Case {
    std::string earlier, later;
    bool shadowed;
  };
  const std::vector<Case> cases = {
      // Category globs: within is shadowed, broader or beside is not.
      {"{ categories: { any: [\"secret.*\"] } }",
       "{ categories: { any: [secret.aws_access_key, \"secret.gcp.*\"] }, level_at_least: internal "
       "}",
       true},
      {"{ categories: { any: [\"secret.*\"] } }", "{ categories: { all: [secret.jwt] } }", true},
      {"{ categories: { any: [pii.email] } }", "{ categories: { any: [\"pii.*\"] } }", false},
      {"{ categories: { any: [pii.email] } }", "{ categories: { any: [pii.email, pii.phone] } }",
       false},
      {"{ categories: { none: [pii.email] } }", "{ categories: { none: [\"pii.*\"] } }", true},
      {"{ categories: { none: [\"pii.*\"] } }", "{ categories: { none: [pii.email] } }", false},
      {"{ categories: { all: [\"pii.*\"] } }", "{ categories: { all: [pii.email, pii.phone] } }",
       true},
      // Ranges: narrower is shadowed.
      {"{ difficulty: { at_least: 0.5 } }", "{ difficulty: { at_least: 0.7, at_most: 0.9 } }",
       true},
      {"{ difficulty: { at_least: 0.7 } }", "{ difficulty: { at_least: 0.5 } }", false},
      {"{ tokens: { at_most: 1000 } }", "{ tokens: { at_most: 10 }, level_at_most: public }", true},
      {"{ level_at_least: confidential, difficulty: { at_least: 0.7 } }",
       "{ level_at_least: confidential }", false},
      // Who asks and what the request carries.
      {"{ principal: { tenant: [research, ops] }, labels: { env: prod } }",
       "{ principal: { tenant: research, labels: { team: ml } }, labels: { env: prod, x: y } }",
       true},
      {"{ principal: { tenant: research } }", "{ principal: { subject: alice } }", false},
      {"{ labels: { env: prod } }", "{ labels: { env: dev } }", false},
      {"{ tools: { any: [shell, exec] } }", "{ tools: { any: [shell] }, target_hint: super }",
       true},
      {"{ tools: { any: [shell] } }", "{ tools: { any: [shell, exec] } }", false},
      // Nested logic.
      {"{ any: [ { principal: { tenant: a } }, { principal: { tenant: b } } ] }",
       "{ principal: { tenant: b }, level_at_least: internal }", true},
      {"{ all: [ { principal: { tenant: a } }, { labels: { k: v } } ] }",
       "{ principal: { tenant: a } }", false},
      {"{ principal: { tenant: a } }",
       "{ any: [ { principal: { tenant: a } }, { all: [ { principal: { tenant: a } } ] } ] }",
       true},
      {"{ principal: { tenant: a } }",
       "{ all: [ { labels: { k: v } }, { principal: { tenant: a } } ] }", true},
      {"{ not: { tools: { any: [shell] } } }",
       "{ not: { tools: { any: [shell] } }, level_at_least: internal }", true},
      {"{ not: { tools: { any: [shell] } } }", "{ not: { tools: { any: [exec] } } }", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Shadowed(c.earlier, c.later), c.shadowed ? kTaken : "")
        << "earlier " << c.earlier << "\nlater " << c.later;
  }
}

}  // namespace
}  // namespace airlock::router
