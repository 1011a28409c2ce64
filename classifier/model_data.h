// The labelled data for the model stage's heads (classifier/heads.h), built from the public
// evaluation data (classifier/public_data.h) and the project's written prompts
// (classifier/data/written_prompts.jsonl, compiled into the binary): `airlock classifier data`.
//
// Questions and where their labels come from:
//   - level (public, internal, confidential, restricted): Presidio's synthetic PII texts, at
//     the highest level of their entity types (kPresidioLevels in model_data.cc: cards, IBANs,
//     SSNs and driving licences restricted; names, addresses, phones, emails and IPs
//     confidential; places, organisations, titles, dates and the like internal; no entity
//     public); the written prompts at their own level; RouteLLM's GSM8K and MMLU questions
//     and the Arena-Hard prompts as public.
//   - difficulty (easy, hard): RouteLLM, hard when the strong model (GPT-4) was right and the
//     weak one (Mixtral-8x7B) wrong, easy when the weak one was right (both wrong: left out;
//     contaminated prompts left out); Arena-Hard v0.1 and v2.0 as hard. Easy is cut to as
//     many as hard.
//   - categories (no, yes): confidential.business, pii.health, pii.person, code.secret: yes for
//     the written prompts of the category (and, for pii.person, Presidio texts with a PERSON);
//     no for the other written prompts (including hard negatives that look sensitive and are
//     not), Presidio texts without one (pii.person), and RouteLLM and Arena-Hard prompts, up
//     to twice as many no as yes.
// Each text is labelled once per question (the first source wins). A class is cut to
// max_per_class (or the cap above) by keeping its written prompts, all of them, and then
// taking the other sources in turn, each in the FNV-1a order of its texts' bytes, so that no
// one source (MMLU's 14,000 questions) crowds out the rest.
// The split is fixed and the same for every question: a text is in the test split when the
// FNV-1a 64-bit hash of its bytes is 0 mod 5 (about a fifth), in train otherwise. It depends
// on the text alone, so a text never moves between splits when sources are added or caps
// change, and the same text is never in train for one question and test for another.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/level.h"

namespace airlock::classifier {

struct LabelledText {
  std::string text;
  std::string label;
  std::string source;  // "presidio", "gsm8k", "mmlu", "arena-hard", "written.business", ...
};

struct LabelledSet {
  std::string question;              // "level", "difficulty", or a category
  std::vector<std::string> classes;  // in the order `airlock classifier train` uses
  std::vector<LabelledText> train, test;
};

struct WrittenPrompt {
  std::string id;  // "business-001"
  std::string text;
  Level level = Level::kPublic;
  std::vector<std::string> categories;
};

// The written prompts, parsed; INVALID_ARGUMENT naming the line for a bad one (the unit tests
// hold the compiled-in file to parse).
absl::StatusOr<std::vector<WrittenPrompt>> WrittenPrompts();

// FNV-1a 64 of the bytes; the split and the caps' order.
uint64_t TextHash(std::string_view text);
bool InTestSplit(std::string_view text);

struct ModelDataOptions {
  size_t max_per_class = 1000;  // per question and class, train and test together
};

// The sets in the order level, difficulty, then the categories; an error names the data file
// that is missing or bad.
absl::StatusOr<std::vector<LabelledSet>> BuildModelData(const std::string& data_dir,
                                                        const ModelDataOptions& options = {});

// Writes QUESTION.train.jsonl and QUESTION.test.jsonl for every set into dir (created if
// needed): one {"text", "label", "source"} per line.
absl::Status WriteModelData(const std::vector<LabelledSet>& sets, const std::string& dir);

}  // namespace airlock::classifier
