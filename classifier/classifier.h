// Classifier: scans every field of a request with its detectors and produces an Assessment.
//
// Construction. Create(options) builds the detector set of a policy:
//   - one PatternSetDetector ("patterns") holding the built-in PII rules (PiiPatternRules())
//     and secret rules (SecretPatternRules()), so that one prefilter pass over a text covers
//     all of them; it is compiled once per process and shared by every classifier;
//   - one PatternSetDetector ("custom_patterns") for options.custom_patterns, when there are
//     any;
//   - one TermDetector ("terms") for options.term_lists, when there are any;
//   - the PII context detectors (PiiContextDetectors()).
// CreateDefault() is Create({}): the built-in detectors with their own levels.
//
// Levels. Each rule and term list carries its level (the default table is the built-in rules'
// own levels). options.level_overrides replace the level of every finding whose category
// matches (category.h globs: "pii.phone", "secret.*", "*"). When several overrides match a
// category, the most specific wins: the one with the most characters that are not '*' (so an
// exact category beats any glob, "secret.aws.*" beats "secret.*", which beats "*"); between
// equally specific ones, the later in the list wins. Overrides apply to every detector's
// matches, built-in or custom, before overlap resolution, so that overlaps are resolved on the
// levels that are reported.
//
// Assess runs every detector on every field (ForEachField), applies the level overrides,
// keeps a non-overlapping subset of the matches (ResolveOverlaps) and sets:
//   level             the highest level among the findings (public when there are none);
//   findings          in request order, then by begin;
//   estimated_tokens  ceil(total bytes of the fields / 4): an estimate from size alone (about
//                     4 bytes per token for English text), not a tokenizer's count;
//   difficulty, difficulty_signals
//                     AssessDifficulty(request, estimated_tokens) (difficulty.h): every signal
//                     by name, and their documented combination in [0, 1].
//
// Thread-safety: Assess is const and safe to call from many threads at once. A Classifier is
// immutable after construction; share it as shared_ptr<const Classifier>.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/assessment.h"
#include "classifier/detector.h"
#include "classifier/pattern_set.h"
#include "classifier/term_detector.h"

namespace airlock::classifier {

// Chooses which of the matches found in one text to keep so that no two kept spans overlap:
// the higher level wins (so that a credential inside something that also looks like an e-mail
// address is reported, and treated, as the credential), then the longer span, then the higher
// confidence, then the earlier span, then the smaller category name, then the earlier position
// in `matches`. Empty spans are dropped. Returns indices into matches, sorted by begin.
std::vector<size_t> ResolveOverlaps(const std::vector<Match>& matches);

// The length signal in [0, 1]: log(1 + tokens) / log(1 + kLengthSaturationTokens), capped at 1.
inline constexpr uint32_t kLengthSaturationTokens = 32768;
float LengthDifficulty(uint32_t estimated_tokens);

struct LevelOverride {
  std::string category_glob;  // a category or a glob (category.h)
  Level level = Level::kPublic;
};

// How the model stage's answers become levels and categories (classifier/model_stage.h,
// MergeModelVerdict): the policy's `model` section (router/policy.h).
struct ModelThresholds {
  // The model's level: the highest of internal, confidential and restricted whose probability
  // of "this level or a higher one" reaches its threshold (level_at[0], [1], [2]); public when
  // none does. With 0.5 everywhere it is the median of the model's level distribution.
  std::array<float, 3> level_at = {0.5f, 0.5f, 0.5f};
  // p(yes) at which a category question counts, by category glob; when several match, the
  // most specific wins, as for level overrides. 0.5 when none matches.
  std::vector<std::pair<std::string, float>> categories;

  float CategoryThreshold(std::string_view category) const;
  bool operator==(const ModelThresholds&) const = default;
};

struct ClassifierOptions {
  std::vector<PatternRule> custom_patterns;
  std::vector<TermList> term_lists;
  std::vector<LevelOverride> level_overrides;
  ModelThresholds model;
};

class Classifier {
 public:
  // Takes the detectors as they are; overrides as in Create (globs are not validated here).
  explicit Classifier(std::vector<std::unique_ptr<Detector>> detectors,
                      std::vector<LevelOverride> level_overrides = {});
  // INVALID_ARGUMENT when a custom pattern or term list does not compile (the message names
  // the rule or list, see PatternSetDetector::Create and TermDetector::Create) or a level
  // override's glob is invalid ("level override 'x': ...").
  static absl::StatusOr<std::unique_ptr<Classifier>> Create(const ClassifierOptions& options);
  // Create({}). The built-in rules always compile (the unit tests hold them to it); if they
  // did not, this would abort with the reason on stderr rather than serve without detectors.
  static std::unique_ptr<Classifier> CreateDefault();

  Assessment Assess(const v1::ChatRequest& request) const;

  // The level that the overrides give `category`, or `level` when none matches.
  Level EffectiveLevel(std::string_view category, Level level) const;
  // options.model as given to Create (the defaults otherwise).
  const ModelThresholds& model_thresholds() const { return model_; }

 private:
  std::vector<std::unique_ptr<Detector>> detectors_;
  std::vector<LevelOverride> overrides_;
  ModelThresholds model_;
  // The custom terms' detector (detectors_[terms_index_]) when Create made one: it also finds
  // the difficulty signals' words (as side lists), in the same pass over the request.
  const TermDetector* terms_ = nullptr;
  size_t terms_index_ = 0;
};

}  // namespace airlock::classifier
