// Measures the difficulty score on RouteLLM's GSM8K + MMLU labels and prints the tables
// (EvalDifficulty, eval.h). The data is read in place from ../shared/data (or
// $AIRLOCK_DATA_DIR); without it the test is skipped.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "classifier/classifier.h"
#include "classifier/eval.h"
#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

std::string DataDir() {
  if (const char* env = std::getenv("AIRLOCK_DATA_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  // This file is tests/unit/classifier/ in the repository; the data sits next to the repository.
  const std::filesystem::path here(__FILE__);
  return (here.parent_path() / "../../../../shared/data").lexically_normal().string();
}

TEST(EvalDifficulty, RouteLlmAuroc) {
  const std::string dir = DataDir();
  if (!std::filesystem::exists(dir + "/difficulty/routellm/gsm8k_responses.csv")) {
    GTEST_SKIP() << "no evaluation data under " << dir;
  }
  auto classifier = Classifier::CreateDefault();
  auto report = EvalDifficulty(*classifier, dir);
  ASSERT_TRUE(report.ok()) << report.status();
  for (const EvalTable& t : report->tables) std::printf("\n%s", FormatTable(t).c_str());
  ASSERT_EQ(report->tables.size(), 2u);
  const auto& summary = report->tables[0];
  ASSERT_EQ(summary.rows.size(), 3u);
  // Every labelled prompt was read: GSM8K has 1,319 prompts, MMLU about 14,000.
  EXPECT_GT(std::stoi(summary.rows[0][1]) + std::stoi(summary.rows[0][2]) +
                std::stoi(summary.rows[0][3]) + std::stoi(summary.rows[0][4]),
            1300);
  EXPECT_GT(std::stoi(summary.rows[1][1]) + std::stoi(summary.rows[1][2]), 10000);
  for (const GoalCheck& g : report->goals) {
    std::printf("goal %s: %.3f (goal %s %.3f)\n", g.name.c_str(), g.value,
                g.at_least ? ">=" : "<=", g.goal);
    EXPECT_TRUE(g.met()) << g.name << ": " << g.value;
  }
}

}  // namespace
}  // namespace airlock::classifier
