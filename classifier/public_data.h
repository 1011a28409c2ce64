// Readers of the public evaluation data under ../shared/data (its README says what each set is
// and where it comes from): the detector and difficulty evaluations (classifier/eval.h) and the
// model stage's labelled data (classifier/model_data.h) read it through these, in place.
// Errors name the file (and the line or entry) and what is wrong.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace airlock::classifier {

// The whole file; NOT_FOUND naming it when it cannot be opened.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// JSON Lines: each non-blank line's object, with where it is ("NAME:LINE"); INVALID_ARGUMENT
// naming the first line that is not a JSON object.
using JsonlLine = std::pair<std::string, nlohmann::json>;
absl::StatusOr<std::vector<JsonlLine>> ParseJsonl(std::string_view text, std::string_view name);

// pii/presidio_synth_dataset_v2.json: texts with entity spans (in code points).
struct PresidioSpan {
  std::string entity;  // "PERSON", "CREDIT_CARD", ...
  size_t begin = 0, end = 0;
};
struct PresidioText {
  std::string text;
  std::vector<PresidioSpan> spans;
};
inline constexpr const char* kPresidioFile = "pii/presidio_synth_dataset_v2.json";
absl::StatusOr<std::vector<PresidioText>> LoadPresidio(const std::string& data_dir);

// difficulty/routellm: GSM8K and the 57 MMLU subjects (in file-name order), each prompt with
// whether a weak model (Mixtral-8x7B) and a strong one (GPT-4) answered it correctly. Prompts
// listed in *_contaminated_prompts.jsonl (matched by exact text) are left out and counted.
struct RouteLlmPrompt {
  std::string prompt;
  bool weak_right = false, strong_right = false;
};
struct RouteLlmSet {
  std::string name;  // "GSM8K", "MMLU"
  std::vector<RouteLlmPrompt> prompts;
  int contaminated = 0;
};
absl::StatusOr<std::vector<RouteLlmSet>> LoadRouteLlm(const std::string& data_dir);

// difficulty/arena-hard: the prompts of v0.1 (500) and v2.0 (750), in file order.
absl::StatusOr<std::vector<std::string>> LoadArenaHard(const std::string& data_dir);

}  // namespace airlock::classifier
