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

}  // namespace
}  // namespace airlock::router
