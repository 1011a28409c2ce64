// ModelStage: the model's part of the assessment (issue #8), by zero-shot label scoring or by
// trained heads on the model's hidden states (classifier/heads.h; the last part below).
//
// The request is rendered as the chat the local model reads (classifier/chat_prompt.h), and
// each question is asked after it as a user turn ("... Answer with one word: public, internal,
// confidential or restricted."), then "<|im_start|>assistant\n<think></think>": one prefill per
// question, no generation. The answer is read from the logits of the next token: each label's
// probability is the softmax over the labels' first tokens (so labels must start with distinct
// tokens). Questions are of three kinds:
//   - level: the labels are the four level names;
//   - difficulty: labels with values in [0, 1] (easy 0, hard 1); the score is the expected value;
//   - category: yes / no; a "yes" adds the category at its level.
// The stage only measures: the verdict is each question's label probabilities. The policy
// reads them (ModelThresholds in classifier/classifier.h: which level, which p(yes) counts; its
// level overrides apply to the model's categories too) when MergeModelVerdict merges them.
//
// One prefill serves all questions and the generation: the conversation is prefilled once, by
// the first question, whose sequence forks (engine/runtime.h, forks) at the conversation's end,
// where the other questions start from copies, and at the last chunk edge inside it: that fork
// goes to the PrefixCache, from which the local target's generation of the same request starts
// (the same tokens as a fresh prefill, since the fork is at a chunk edge).
//
// Thread-safety: Assess may be called from any thread. `done` runs once, on the runtime's
// thread (on the caller's when the runtime refuses a question at once) and must not block.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "airlock/v1/gateway.pb.h"
#include "classifier/assessment.h"
#include "classifier/classifier.h"
#include "classifier/heads.h"
#include "classifier/level.h"
#include "engine/prefix_cache.h"
#include "engine/runtime.h"

namespace airlock::classifier {

struct ModelLabel {
  std::string word;  // what the model answers, e.g. "confidential"
  float value = 0;   // level: the level's number (0..3); difficulty: [0, 1]; category: yes 1
};

struct ModelQuestion {
  enum class Kind { kLevel, kDifficulty, kCategory };
  Kind kind = Kind::kLevel;
  std::string id;    // "level", "difficulty", or the category ("pii.health")
  std::string text;  // asked as a user turn after the conversation
  std::vector<ModelLabel> labels;
  Level level = Level::kConfidential;  // category: the level a "yes" means (before the
                                       // policy's level overrides)
};

// The questions used when the config gives none: the level, the difficulty, and three
// categories no pattern sees (confidential.business, pii.health, pii.person).
std::vector<ModelQuestion> DefaultModelQuestions();

// The classes a question has unless told otherwise: level -> public, internal, confidential,
// restricted; difficulty -> easy, hard; any other (a category) -> no, yes.
std::vector<std::string> DefaultClasses(std::string_view question);

// A question without text, as a head (or a policy test's model answers, router/policy_suite.h)
// asks it: "level" (the classes must be level names), "difficulty" (class k of n is worth
// k / (n - 1)), any other a category whose "yes" (or, with no such class, the last class) means
// the category, at the level the default questions give it (confidential otherwise).
// INVALID_ARGUMENT for fewer than two classes or a level class that is not a level name.
absl::StatusOr<ModelQuestion> QuestionOf(std::string id, const std::vector<std::string>& classes);

// What the model answered.
struct ModelVerdict {
  std::shared_ptr<const std::vector<ModelQuestion>> questions;  // the stage's
  std::vector<std::vector<float>> probabilities;  // per question, per label (in label order)
  bool reused = false;  // the conversation's prefill went to the PrefixCache

  // question id -> label -> probability
  std::map<std::string, std::map<std::string, float>> Answers() const;
};

class ModelStage {
 public:
  // The runtime (and its tokenizer) and the cache must outlive the stage; cache may be null
  // (no reuse). INVALID_ARGUMENT naming the question when a question has no labels, two labels
  // that start with the same token, a level label that is not a level name, or an empty text.
  static absl::StatusOr<std::unique_ptr<ModelStage>> Create(engine::Runtime* runtime,
                                                            engine::PrefixCache* cache,
                                                            std::vector<ModelQuestion> questions);
  // The heads method (classifier/heads.h): one prefill of the conversation; each head reads
  // its pooled hidden state and answers the question QuestionOf(its question, its classes).
  // INVALID_ARGUMENT when the layer or a head's size does not fit the model, or a head's
  // question cannot be made.
  static absl::StatusOr<std::unique_ptr<ModelStage>> Create(engine::Runtime* runtime,
                                                            engine::PrefixCache* cache,
                                                            Heads heads);

  // Asks every question about the request; done gets the verdict, or the first error (a
  // refused or failed runtime request, DEADLINE_EXCEEDED past `deadline`). keep_prefill: leave
  // the conversation's prefill in the cache for a generation that follows (a Chat, not a
  // Classify).
  void Assess(const v1::ChatRequest& request, std::chrono::steady_clock::time_point deadline,
              bool keep_prefill, std::function<void(absl::StatusOr<ModelVerdict>)> done) const;

  const std::vector<ModelQuestion>& questions() const { return *questions_; }
  // Each question's turn as tokens (what is prefilled after the conversation).
  const std::vector<std::vector<int32_t>>& question_turns() const { return suffixes_; }

 private:
  struct Asked;
  ModelStage(engine::Runtime* runtime, engine::PrefixCache* cache,
             std::vector<ModelQuestion> questions);
  void Ask(const std::shared_ptr<Asked>& asked, size_t q,
           std::unique_ptr<engine::Sequence> start) const;

  engine::Runtime* runtime_;
  engine::PrefixCache* cache_;
  std::shared_ptr<const std::vector<ModelQuestion>> questions_;  // with heads: one per head
  std::optional<Heads> heads_;
  std::vector<std::vector<int32_t>> suffixes_;   // per question: the question turn's tokens
  std::vector<std::vector<int32_t>> label_ids_;  // per question: each label's first token
};

// Merges the model's verdict (or its failure) into a deterministic assessment, read as the
// policy's classifier says (its model_thresholds() and level overrides); the model never
// lowers the assessment. OK: assessment->model gets the model's level, difficulty and the
// categories whose p(yes) reaches their threshold; the level becomes the highest of the
// assessment's, the model's and each category's; the difficulty becomes the model's (the
// deterministic score stays in difficulty_signals as "deterministic"). Failure: fail_closed
// raises the level to restricted, otherwise the assessment stays as it is;
// assessment->model.outcome says which ("failed_closed" / "failed_open") and why.
void MergeModelVerdict(const absl::StatusOr<ModelVerdict>& verdict, const Classifier& policy,
                       bool fail_closed, Assessment* assessment);

}  // namespace airlock::classifier
