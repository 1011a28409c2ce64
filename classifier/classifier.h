// Classifier: scans every field of a request with its detectors and produces an Assessment.
//
// Assess runs every detector on every field (ForEachField), keeps a non-overlapping subset of
// the matches (ResolveOverlaps), and sets:
//   level             the highest level among the findings (public when there are none);
//   findings          in request order, then by begin;
//   estimated_tokens  ceil(total bytes of the fields / 4): an estimate from size alone (about
//                     4 bytes per token for English text), not a tokenizer's count;
//   difficulty        today one signal, difficulty_signals["length"] = LengthDifficulty(
//                     estimated_tokens): longer prompts are taken as harder, nothing more. Issue
//                     #3 replaces it with real difficulty signals.
//
// Thread-safety: Assess is const and safe to call from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "classifier/assessment.h"
#include "classifier/detector.h"

namespace airlock::classifier {

// Chooses which of the matches found in one text to keep so that no two kept spans overlap:
// longer spans win, then earlier ones, then the smaller category name, then the earlier position
// in `matches`. Empty spans are dropped. Returns indices into matches, sorted by begin.
std::vector<size_t> ResolveOverlaps(const std::vector<Match>& matches);

// The length signal in [0, 1]: log(1 + tokens) / log(1 + kLengthSaturationTokens), capped at 1.
inline constexpr uint32_t kLengthSaturationTokens = 32768;
float LengthDifficulty(uint32_t estimated_tokens);

class Classifier {
 public:
  explicit Classifier(std::vector<std::unique_ptr<Detector>> detectors);
  // The built-in detector set (today: e-mail addresses).
  static std::unique_ptr<Classifier> CreateDefault();

  Assessment Assess(const v1::ChatRequest& request) const;

 private:
  std::vector<std::unique_ptr<Detector>> detectors_;
};

}  // namespace airlock::classifier
