// Runs the secret-detector evaluation (classifier/eval_secrets.h) on ../shared/data and turns
// its goals into assertions. Skipped when the data is not there.
#include <filesystem>
#include <iostream>
#include <memory>
#include <utility>
#include <vector>

#include "classifier/classifier.h"
#include "classifier/eval.h"
#include "classifier/eval_secrets.h"
#include "classifier/pattern_set.h"
#include "classifier/secret_rules.h"
#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

namespace fs = std::filesystem;

// This file is <root>/tests/unit/classifier/eval_secrets_test.cc.
fs::path Root() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

TEST(EvalSecretsTest, GoalsAreMet) {
  const fs::path data = Root().parent_path() / "shared" / "data";
  if (!fs::exists(data / "secrets")) GTEST_SKIP() << "no evaluation data at " << data;
  auto detector = PatternSetDetector::Create("secrets", SecretPatternRules());
  ASSERT_TRUE(detector.ok()) << detector.status();
  std::vector<std::unique_ptr<Detector>> detectors;
  detectors.push_back(std::move(*detector));
  const Classifier classifier(std::move(detectors));

  const fs::path ordinary = Root() / "tests" / "data" / "classifier" / "ordinary";
  ASSERT_TRUE(fs::exists(ordinary)) << ordinary;
  const absl::StatusOr<EvalReport> report =
      EvalSecretsWith(classifier, data.string(), ordinary.string());
  ASSERT_TRUE(report.ok()) << report.status();
  for (const EvalTable& table : report->tables) std::cout << FormatTable(table) << "\n";
  ASSERT_EQ(report->goals.size(), 5u);
  for (const GoalCheck& goal : report->goals) {
    std::cout << goal.name << ": " << goal.value << (goal.at_least ? " >= " : " <= ") << goal.goal
              << (goal.met() ? "  met" : "  NOT MET") << "\n";
    EXPECT_TRUE(goal.met()) << goal.name << " = " << goal.value << ", goal "
                            << (goal.at_least ? ">= " : "<= ") << goal.goal;
  }
}

TEST(EvalSecretsTest, DefaultOrdinaryTextDirIsTheSourceTreeOne) {
  EXPECT_EQ(fs::path(DefaultOrdinaryTextDir()),
            Root() / "tests" / "data" / "classifier" / "ordinary");
}

TEST(EvalSecretsTest, MissingDataIsAnErrorNamingThePath) {
  const Classifier classifier({});
  const absl::StatusOr<EvalReport> report =
      EvalSecretsWith(classifier, "/nonexistent/data", "/nonexistent/ordinary");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("/nonexistent/data"), std::string::npos)
      << report.status();
}

TEST(EvalSecretsTest, NoseyParkerPatternsBecomeRe2Syntax) {
  EXPECT_EQ(NoseyParkerToRe2("(?x)(?i) \\b (aio\\_[a-z]{28}) \\b  # comment\n"),
            "(?i)\\b(aio_[a-z]{28})\\b");
  EXPECT_EQ(NoseyParkerToRe2("(?xi) a (?# note ) b [ ]{1, 5} c\\ d"), "(?i)ab[ ]{1,5}c\\x20d");
  EXPECT_EQ(NoseyParkerToRe2("(?i: a b )c{20,1024}"), "(?i: a b )c{20,1000}");
  EXPECT_EQ(NoseyParkerToRe2("a b#c"), "a b#c");  // no x flag: white space and # are literal
}

}  // namespace
}  // namespace airlock::classifier
