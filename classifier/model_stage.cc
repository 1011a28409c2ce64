#include "classifier/model_stage.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "classifier/chat_prompt.h"

namespace airlock::classifier {

std::vector<ModelQuestion> DefaultModelQuestions() {
  using K = ModelQuestion::Kind;
  const std::vector<ModelLabel> yes_no{{"yes", 1}, {"no", 0}};
  return {
      {K::kLevel,
       "level",
       "How sensitive is the conversation above for the company it comes from: could it be "
       "published, shared inside the company, only with those who need it, or with no one "
       "outside a small group? Answer with one word: public, internal, confidential or "
       "restricted.",
       {{"public", 0}, {"internal", 1}, {"confidential", 2}, {"restricted", 3}}},
      {K::kDifficulty,
       "difficulty",
       "How hard is the task in the conversation above for a small language model? Answer "
       "with one word: easy or hard.",
       {{"easy", 0}, {"hard", 1}}},
      {K::kCategory, "confidential.business",
       "Does the conversation above contain confidential business information, such as "
       "unannounced deals, finances, strategy or customers? Answer yes or no.",
       yes_no, Level::kConfidential},
      {K::kCategory, "pii.health",
       "Does the conversation above contain health information about a person? Answer yes or "
       "no.",
       yes_no, Level::kRestricted},
      {K::kCategory, "pii.person",
       "Does the conversation above name a private person? Answer yes or no.", yes_no,
       Level::kConfidential},
  };
}

std::vector<std::string> DefaultClasses(std::string_view question) {
  if (question == "level") return {"public", "internal", "confidential", "restricted"};
  if (question == "difficulty") return {"easy", "hard"};
  return {"no", "yes"};
}

absl::StatusOr<ModelQuestion> QuestionOf(std::string id, const std::vector<std::string>& classes) {
  using K = ModelQuestion::Kind;
  if (classes.size() < 2) return absl::InvalidArgumentError("expected two classes or more");
  ModelQuestion q;
  q.kind = id == "level" ? K::kLevel : id == "difficulty" ? K::kDifficulty : K::kCategory;
  const bool has_yes = std::find(classes.begin(), classes.end(), "yes") != classes.end();
  for (size_t k = 0; k < classes.size(); ++k) {
    const std::string& c = classes[k];
    float value = 0;
    switch (q.kind) {
      case K::kLevel: {
        const std::optional<Level> level = ParseLevel(c);
        if (!level)
          return absl::InvalidArgumentError(absl::StrCat("class '", c, "' is not a level name"));
        value = static_cast<float>(*level);
        break;
      }
      case K::kDifficulty:
        value = static_cast<float>(k) / static_cast<float>(classes.size() - 1);
        break;
      case K::kCategory:
        value = (has_yes ? c == "yes" : k + 1 == classes.size()) ? 1.0f : 0.0f;
        break;
    }
    q.labels.push_back({c, value});
  }
  for (const ModelQuestion& d : DefaultModelQuestions()) {
    if (d.id == id) q.level = d.level;
  }
  q.id = std::move(id);
  return q;
}

// One Assess: the conversation's tokens, each question's label probabilities as they come,
// and the one call to `done`.
struct ModelStage::Asked {
  std::vector<int32_t> conversation;
  size_t fork_at = 0;  // 0: no fork (the conversation is shorter than a chunk)
  std::chrono::steady_clock::time_point deadline;
  std::function<void(absl::StatusOr<ModelVerdict>)> done;
  bool keep = false;  // the fork goes to the cache

  std::mutex mu;
  std::vector<std::vector<float>> probabilities;  // per question, per label
  size_t pending = 0;
  bool finished = false;
  bool reused = false;

  // The first error ends the assessment; later results are dropped.
  void Fail(const absl::Status& status) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (finished) return;
      finished = true;
    }
    done(status);
  }
};

ModelStage::ModelStage(engine::Runtime* runtime, engine::PrefixCache* cache,
                       std::vector<ModelQuestion> questions)
    : runtime_(runtime),
      cache_(cache),
      questions_(std::make_shared<const std::vector<ModelQuestion>>(std::move(questions))) {}

std::map<std::string, std::map<std::string, float>> ModelVerdict::Answers() const {
  std::map<std::string, std::map<std::string, float>> answers;
  for (size_t q = 0; q < probabilities.size(); ++q) {
    const ModelQuestion& question = (*questions)[q];
    for (size_t i = 0; i < probabilities[q].size(); ++i) {
      answers[question.id][question.labels[i].word] = probabilities[q][i];
    }
  }
  return answers;
}

absl::StatusOr<std::unique_ptr<ModelStage>> ModelStage::Create(
    engine::Runtime* runtime, engine::PrefixCache* cache, std::vector<ModelQuestion> questions) {
  const engine::Tokenizer& tok = runtime->tokenizer();
  std::unique_ptr<ModelStage> stage(new ModelStage(runtime, cache, std::move(questions)));
  for (const ModelQuestion& q : *stage->questions_) {
    const std::string where = absl::StrCat("model question '", q.id, "'");
    if (q.text.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": no text"));
    if (q.labels.size() < 2) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": needs two labels or more"));
    }
    stage->suffixes_.push_back(tok.Encode(absl::StrCat(
        "<|im_start|>user\n", q.text, "<|im_end|>\n<|im_start|>assistant\n<think></think>")));
    std::vector<int32_t> ids;
    for (const ModelLabel& l : q.labels) {
      if (q.kind == ModelQuestion::Kind::kLevel && !ParseLevel(l.word)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": label '", l.word, "' is not a level name"));
      }
      const std::vector<int32_t> t = tok.Encode(l.word);
      if (t.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": an empty label"));
      if (std::find(ids.begin(), ids.end(), t[0]) != ids.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": label '", l.word, "' starts with the same token as another label"));
      }
      ids.push_back(t[0]);
    }
    stage->label_ids_.push_back(std::move(ids));
  }
  return stage;
}

absl::StatusOr<std::unique_ptr<ModelStage>> ModelStage::Create(engine::Runtime* runtime,
                                                               engine::PrefixCache* cache,
                                                               Heads heads) {
  const auto hidden = static_cast<size_t>(runtime->backend().config().hidden_size);
  const size_t layers = runtime->backend().config().layers.size();
  if (heads.layer < 0 || static_cast<size_t>(heads.layer) >= layers || heads.heads.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("heads: layer ", heads.layer,
                                                   " is not a layer of the model (0 to ",
                                                   layers - 1, "), or there are no heads"));
  }
  std::vector<ModelQuestion> questions;  // each head answers a question without text
  for (const Head& h : heads.heads) {
    const std::string where = absl::StrCat("head '", h.question, "'");
    if (h.features() != hidden) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " reads ", h.features(), " features; the model's hidden size is ", hidden));
    }
    absl::StatusOr<ModelQuestion> q = QuestionOf(h.question, h.classes);
    if (!q.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", q.status().message()));
    questions.push_back(*std::move(q));
  }
  std::unique_ptr<ModelStage> stage(new ModelStage(runtime, cache, std::move(questions)));
  stage->heads_ = std::move(heads);
  return stage;
}

void ModelStage::Assess(const v1::ChatRequest& request,
                        std::chrono::steady_clock::time_point deadline, bool keep_prefill,
                        std::function<void(absl::StatusOr<ModelVerdict>)> done) const {
  auto asked = std::make_shared<Asked>();
  asked->keep = keep_prefill && cache_ != nullptr;
  asked->conversation = runtime_->tokenizer().Encode(RenderConversation(ChatPromptOf(request)));
  asked->deadline = deadline;
  asked->done = std::move(done);
  asked->probabilities.resize(questions_->size());
  asked->pending = heads_ ? 1 : questions_->size();
  if (asked->pending == 0) return asked->done(ModelVerdict{});
  const auto granule =
      static_cast<size_t>(std::max<int64_t>(1, runtime_->backend().prefill_granule()));
  asked->fork_at = asked->conversation.size() / granule * granule;
  Ask(asked, 0, nullptr);  // the first question prefills the conversation; the others follow
}

void ModelStage::Ask(const std::shared_ptr<Asked>& asked, size_t q,
                     std::unique_ptr<engine::Sequence> start) const {
  engine::RuntimeRequest r;
  r.prompt = asked->conversation;
  if (heads_) {  // the conversation alone; the heads read its pooled hidden state
    r.hidden_layer = heads_->layer;
    r.on_prompt_hidden = [this, asked](std::span<const float> hidden) {
      std::lock_guard<std::mutex> lock(asked->mu);
      for (size_t h = 0; h < heads_->heads.size(); ++h) {
        asked->probabilities[h] = heads_->heads[h].Probabilities(hidden);
      }
    };
  } else {
    r.prompt.insert(r.prompt.end(), suffixes_[q].begin(), suffixes_[q].end());
  }
  r.options.max_tokens = 0;
  r.deadline = asked->deadline;
  r.start = std::move(start);
  if (q == 0) {
    // The first question forks at the last chunk edge inside the conversation (kept for the
    // generation) and at the conversation's end (where the other questions start); one fork
    // serves both when the conversation ends on a chunk edge.
    const auto end = static_cast<int64_t>(asked->conversation.size());
    const auto keep_at = static_cast<int64_t>(asked->fork_at);
    const size_t asks = heads_ ? 1 : questions_->size();  // requests of the runtime
    if (asked->keep && keep_at > 0) r.forks.push_back(keep_at);
    if (asks > 1 && (r.forks.empty() || r.forks.back() < end)) r.forks.push_back(end);
    r.on_fork = [this, asked, keep_at, end, asks](
                    int64_t at, absl::StatusOr<std::unique_ptr<engine::Sequence>> fork) {
      const bool keep_here = asked->keep && at == keep_at;
      std::unique_ptr<engine::Sequence> seq = fork.ok() ? *std::move(fork) : nullptr;
      if (at == end && asks > 1) {
        for (size_t k = 1; k < asks; ++k) {
          std::unique_ptr<engine::Sequence> start;  // null (no copy to be had): from scratch
          if (seq != nullptr && (k + 1 < asks || keep_here)) {
            absl::StatusOr<std::unique_ptr<engine::Sequence>> copy = runtime_->backend().Fork(*seq);
            if (copy.ok()) start = *std::move(copy);
          } else {
            start = std::move(seq);
          }
          Ask(asked, k, std::move(start));
        }
      }
      if (keep_here && seq != nullptr) {
        cache_->Put(
            std::vector<int32_t>(asked->conversation.begin(), asked->conversation.begin() + at),
            std::move(seq));
        std::lock_guard<std::mutex> lock(asked->mu);
        asked->reused = true;
      }
    };
  }
  r.on_prompt_logits = [this, asked, q](std::span<const float> logits) {
    if (heads_) return false;
    const std::vector<int32_t>& ids = label_ids_[q];
    float max = -INFINITY;
    for (int32_t id : ids) max = std::max(max, logits[static_cast<size_t>(id)]);
    std::vector<float> p(ids.size());
    double sum = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      p[i] = std::exp(logits[static_cast<size_t>(ids[i])] - max);
      sum += p[i];
    }
    for (float& v : p) v = static_cast<float>(v / sum);
    std::lock_guard<std::mutex> lock(asked->mu);
    asked->probabilities[q] = std::move(p);
    return false;  // scoring only
  };
  r.on_done = [this, asked](absl::StatusOr<engine::GenerateResult> result) {
    if (!result.ok()) {
      return asked->Fail(absl::Status(result.status().code(),
                                      absl::StrCat("model stage: ", result.status().message())));
    }
    ModelVerdict verdict;
    {
      std::lock_guard<std::mutex> lock(asked->mu);
      if (asked->finished || --asked->pending > 0) return;
      asked->finished = true;
      verdict.questions = questions_;
      verdict.probabilities = std::move(asked->probabilities);
      verdict.reused = asked->reused;
    }
    asked->done(std::move(verdict));
  };
  absl::StatusOr<std::shared_ptr<engine::RuntimeCall>> call = runtime_->Submit(std::move(r));
  if (!call.ok()) {
    asked->Fail(
        absl::Status(call.status().code(), absl::StrCat("model stage: ", call.status().message())));
  }
}

void MergeModelVerdict(const absl::StatusOr<ModelVerdict>& verdict, const Classifier& policy,
                       bool fail_closed, Assessment* assessment) {
  ModelAssessment& m = assessment->model;
  if (!verdict.ok()) {
    m.outcome = fail_closed ? "failed_closed" : "failed_open";
    m.error = std::string(verdict.status().message());
    if (fail_closed) assessment->level = Level::kRestricted;
    return;
  }
  const ModelThresholds& thresholds = policy.model_thresholds();
  m.outcome = "ok";
  m.answers = verdict->Answers();
  m.reused = verdict->reused;
  for (size_t q = 0; q < verdict->probabilities.size(); ++q) {
    const ModelQuestion& question = (*verdict->questions)[q];
    const std::vector<float>& p = verdict->probabilities[q];
    switch (question.kind) {
      case ModelQuestion::Kind::kLevel: {
        // P(level >= L) for L = internal .. restricted; the highest reaching its threshold.
        std::array<float, 4> at_least{};
        for (size_t i = 0; i < p.size(); ++i) {
          const auto l = static_cast<size_t>(*ParseLevel(question.labels[i].word));
          for (size_t k = 0; k <= l && k < at_least.size(); ++k) at_least[k] += p[i];
        }
        m.level = Level::kPublic;
        for (size_t k = 1; k < at_least.size(); ++k) {
          if (at_least[k] >= thresholds.level_at[k - 1]) m.level = static_cast<Level>(k);
        }
        break;
      }
      case ModelQuestion::Kind::kDifficulty: {
        float expected = 0;
        for (size_t i = 0; i < p.size(); ++i) expected += p[i] * question.labels[i].value;
        m.difficulty = expected;
        break;
      }
      case ModelQuestion::Kind::kCategory: {
        float yes = 0;
        for (size_t i = 0; i < p.size(); ++i) {
          if (question.labels[i].value == 1) yes += p[i];
        }
        if (yes >= thresholds.CategoryThreshold(question.id)) {
          m.categories.push_back(
              {question.id, policy.EffectiveLevel(question.id, question.level), yes});
        }
        break;
      }
    }
  }
  if (m.level) assessment->level = std::max(assessment->level, *m.level);
  for (const ModelFinding& c : m.categories) {
    assessment->level = std::max(assessment->level, c.level);
  }
  if (m.difficulty) {
    assessment->difficulty_signals["deterministic"] = assessment->difficulty;
    assessment->difficulty = *m.difficulty;
  }
}

}  // namespace airlock::classifier
