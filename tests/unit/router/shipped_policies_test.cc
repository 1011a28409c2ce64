// The policies shipped in policies/: each loads with the targets nano, super and frontier, has
// no lint warning, and has a test file (holding it to its comments) that passes and reaches
// every rule.
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "router/policy.h"
#include "router/policy_lint.h"
#include "router/policy_suite.h"

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

// The policies: policies/*.yaml but their test files.
std::vector<fs::path> ShippedPolicies() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(Policies())) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".yaml" || name.ends_with("_test.yaml")) continue;
    out.push_back(entry.path());
  }
  return out;
}

TEST(ShippedPolicies, EveryOneLoadsWithoutLintWarnings) {
  const std::vector<fs::path> policies = ShippedPolicies();
  EXPECT_GE(policies.size(), 2u);
  for (const fs::path& path : policies) {
    auto p = Load(path.filename().string());
    ASSERT_NE(p, nullptr) << path;
    for (const LintWarning& w : LintPolicy(*p)) {
      ADD_FAILURE() << path << ":" << w.line << ": " << w.message;
    }
  }
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

// Each policy's test file (policies/NAME_test.yaml) passes and reaches every rule; CTest also
// runs `airlock policy test --threshold 100` on each (tests/CMakeLists.txt).
TEST(ShippedPolicies, EachHasATestFileThatPassesAndReachesEveryRule) {
  for (const fs::path& path : ShippedPolicies()) {
    auto p = Load(path.filename().string());
    ASSERT_NE(p, nullptr) << path;
    auto suite = LoadPolicySuite(PolicySuitePathFor(path.string()));
    ASSERT_TRUE(suite.ok()) << suite.status();
    const SuiteResult r = RunPolicySuite(*p, *suite);
    EXPECT_EQ(r.failed, 0u) << path;
    for (const SuiteResult::RuleCoverage& rc : r.rules) {
      EXPECT_GT(rc.cases, 0u) << path << ": rule '" << rc.rule->id << "' is reached by no case";
    }
  }
}

}  // namespace
}  // namespace airlock::router
