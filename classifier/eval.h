// Detector evaluation on public data sets (`airlock eval detectors`, and the eval tests that
// turn the goals into assertions). Each Eval* reads its data set in place under data_dir
// (normally ../shared/data relative to the repository root) and returns tables and goal checks.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/classifier.h"

namespace airlock::classifier {

struct EvalTable {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;  // printed under the table
};

struct GoalCheck {
  std::string name;  // "pii EMAIL_ADDRESS recall"
  double value = 0;
  double goal = 0;
  bool at_least = true;  // value >= goal (else value <= goal)
  bool met() const { return at_least ? value >= goal : value <= goal; }
};

struct EvalReport {
  std::vector<EvalTable> tables;
  std::vector<GoalCheck> goals;
};

// P(score of a random positive > score of a random negative) + P(equal) / 2, from average
// ranks, over (score, positive) pairs; 0.5 when either class is empty.
double Auroc(std::vector<std::pair<float, bool>> scored);

// Fixed-width text rendering of a table, with its title and notes.
std::string FormatTable(const EvalTable& table);

// pii/presidio_synth_dataset_v2.json: span precision / recall / F2 per entity type, document
// recall of "contains PII".
absl::StatusOr<EvalReport> EvalPii(const Classifier& classifier, const std::string& data_dir);
// secrets/noseyparker-rules and secrets/detect-secrets/test_data, plus false positives per
// 10,000 words on ordinary text.
absl::StatusOr<EvalReport> EvalSecrets(const Classifier& classifier, const std::string& data_dir);
// difficulty/routellm (GSM8K, MMLU): AUROC of Assessment.difficulty, and of each signal, for
// telling "hard" prompts (strong model right, weak wrong) from "easy" ones (weak right);
// contaminated prompts excluded. See eval_difficulty.cc.
absl::StatusOr<EvalReport> EvalDifficulty(const Classifier& classifier,
                                          const std::string& data_dir);

}  // namespace airlock::classifier
