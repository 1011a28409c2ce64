// The policies shipped in policies/: each loads with the targets nano, super and frontier, has
// no lint warning, and decides as its comments say.
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "router/policy.h"
#include "router/policy_lint.h"

namespace airlock::router {
namespace {

namespace fs = std::filesystem;
using classifier::Assessment;
using classifier::Level;

// This file is <root>/tests/unit/router/shipped_policies_test.cc.
fs::path Policies() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "policies";
}

std::shared_ptr<const Policy> Load(const std::string& name) {
  auto p = LoadPolicy((Policies() / name).string(), {"nano", "super", "frontier"});
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : nullptr;
}

Assessment At(Level level, float difficulty, std::vector<std::string> categories = {}) {
  Assessment a;
  a.level = level;
  a.difficulty = difficulty;
  for (std::string& c : categories) {
    classifier::Finding f;
    f.category = std::move(c);
    f.level = level;
    a.findings.push_back(std::move(f));
  }
  return a;
}

TEST(ShippedPolicies, EveryOneLoadsWithoutLintWarnings) {
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(Policies())) {
    if (entry.path().extension() != ".yaml") continue;
    ++n;
    auto p = Load(entry.path().filename().string());
    ASSERT_NE(p, nullptr) << entry.path();
    for (const LintWarning& w : LintPolicy(*p)) {
      ADD_FAILURE() << entry.path() << ":" << w.line << ": " << w.message;
    }
  }
  EXPECT_GE(n, 2u);
}

TEST(ShippedPolicies, AirgappedKeepsEverythingOnNano) {
  auto p = Load("airgapped.yaml");
  ASSERT_NE(p, nullptr);
  for (Level level : {Level::kPublic, Level::kInternal, Level::kConfidential, Level::kRestricted}) {
    for (float difficulty : {0.0f, 0.5f, 1.0f}) {
      const Decision d = Decide(*p, At(level, difficulty, {"secret.jwt"}));
      EXPECT_EQ(d.targets, std::vector<std::string>{"nano"});
    }
  }
}

TEST(ShippedPolicies, HybridDecidesAsItsCommentsSay) {
  auto p = Load("hybrid.yaml");
  ASSERT_NE(p, nullptr);
  struct Case {
    Assessment a;
    std::string rule, route;
    Transform transform;
  };
  const std::vector<Case> cases = {
      {At(Level::kInternal, 0.9f, {"secret.aws_access_key"}), "secrets-stay-on-nano", "nano",
       Transform::kNone},
      {At(Level::kRestricted, 0.9f, {"pii.credit_card"}), "restricted-stays-on-nano", "nano",
       Transform::kNone},
      {At(Level::kConfidential, 0.8f, {"pii.email"}), "confidential-hard-to-frontier-pseudonymized",
       "frontier", Transform::kPseudonymize},
      {At(Level::kConfidential, 0.2f, {"pii.email"}), "confidential-on-super", "super",
       Transform::kNone},
      {At(Level::kPublic, 0.1f), "easy-on-nano", "nano", Transform::kNone},
      {At(Level::kPublic, 0.5f), "harder-on-super", "super", Transform::kNone},
      {At(Level::kPublic, 0.9f), "default", "frontier", Transform::kPseudonymize},
      {At(Level::kInternal, 0.9f, {"pii.mac_address"}), "default", "frontier",
       Transform::kPseudonymize},
  };
  std::set<std::string> reached;
  for (const Case& c : cases) {
    const Decision d = Decide(*p, c.a);
    EXPECT_EQ(d.rule_id, c.rule);
    ASSERT_FALSE(d.targets.empty()) << c.rule;
    EXPECT_EQ(d.targets.front(), c.route) << c.rule;
    EXPECT_EQ(d.transform, c.transform) << c.rule;
    reached.insert(d.rule_id);
  }
  // Every rule of the policy is reached by some case.
  for (const Rule& r : p->rules) EXPECT_EQ(reached.count(r.id), 1u) << r.id;
}

}  // namespace
}  // namespace airlock::router
