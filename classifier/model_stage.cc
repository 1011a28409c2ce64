#include "classifier/model_stage.h"

#include <algorithm>
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
  std::vector<float> hidden;                      // heads: the pooled hidden state
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
    : runtime_(runtime), cache_(cache), questions_(std::move(questions)) {}

absl::StatusOr<std::unique_ptr<ModelStage>> ModelStage::Create(
    engine::Runtime* runtime, engine::PrefixCache* cache, std::vector<ModelQuestion> questions) {
  const engine::Tokenizer& tok = runtime->tokenizer();
  std::unique_ptr<ModelStage> stage(new ModelStage(runtime, cache, std::move(questions)));
  for (const ModelQuestion& q : stage->questions_) {
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
  for (const Head& h : heads.heads) {
    const std::string where = absl::StrCat("head '", h.question, "'");
    if (h.features() != hidden) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " reads ", h.features(), " features; the model's hidden size is ", hidden));
    }
    for (const std::string& c : h.classes) {
      if (h.question == "level" && !ParseLevel(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": class '", c, "' is not a level name"));
      }
    }
  }
  std::unique_ptr<ModelStage> stage(new ModelStage(runtime, cache, {}));
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
  asked->probabilities.resize(questions_.size());
  asked->pending = heads_ ? 1 : questions_.size();
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
    r.on_prompt_hidden = [asked](std::span<const float> hidden) {
      std::lock_guard<std::mutex> lock(asked->mu);
      asked->hidden.assign(hidden.begin(), hidden.end());
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
    if (asked->keep && keep_at > 0) r.forks.push_back(keep_at);
    if (questions_.size() > 1 && (r.forks.empty() || r.forks.back() < end)) r.forks.push_back(end);
    r.on_fork = [this, asked, keep_at, end](
                    int64_t at, absl::StatusOr<std::unique_ptr<engine::Sequence>> fork) {
      const bool keep_here = asked->keep && at == keep_at;
      std::unique_ptr<engine::Sequence> seq = fork.ok() ? *std::move(fork) : nullptr;
      if (at == end && questions_.size() > 1) {
        for (size_t k = 1; k < questions_.size(); ++k) {
          std::unique_ptr<engine::Sequence> start;  // null (no copy to be had): from scratch
          if (seq != nullptr && (k + 1 < questions_.size() || keep_here)) {
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
      verdict = heads_ ? HeadsVerdict(asked->hidden) : Verdict(asked->probabilities);
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

ModelVerdict ModelStage::Verdict(const std::vector<std::vector<float>>& probabilities) const {
  ModelVerdict v;
  for (size_t q = 0; q < questions_.size(); ++q) {
    const ModelQuestion& question = questions_[q];
    const std::vector<float>& p = probabilities[q];
    std::map<std::string, float>& answer = v.answers[question.id];
    size_t best = 0;
    float expected = 0, yes = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      answer[question.labels[i].word] = p[i];
      if (p[i] > p[best]) best = i;
      expected += p[i] * question.labels[i].value;
      if (question.labels[i].value == 1) yes += p[i];
    }
    switch (question.kind) {
      case ModelQuestion::Kind::kLevel:
        v.level = ParseLevel(question.labels[best].word);
        break;
      case ModelQuestion::Kind::kDifficulty:
        v.difficulty = expected;
        break;
      case ModelQuestion::Kind::kCategory:
        if (yes >= question.threshold) v.categories.push_back({question.id, question.level, yes});
        break;
    }
  }
  return v;
}

ModelVerdict ModelStage::HeadsVerdict(const std::vector<float>& hidden) const {
  ModelVerdict v;
  const std::vector<ModelQuestion> defaults = DefaultModelQuestions();
  for (const Head& head : heads_->heads) {
    const std::vector<float> p = head.Probabilities(hidden);
    std::map<std::string, float>& answer = v.answers[head.question];
    size_t best = 0;
    float expected = 0, yes = p.back();
    for (size_t i = 0; i < p.size(); ++i) {
      answer[head.classes[i]] = p[i];
      if (p[i] > p[best]) best = i;
      expected += p[i] * static_cast<float>(i) / static_cast<float>(p.size() - 1);
      if (head.classes[i] == "yes") yes = p[i];
    }
    if (head.question == "level") {
      v.level = ParseLevel(head.classes[best]);
    } else if (head.question == "difficulty") {
      v.difficulty = expected;
    } else if (yes >= 0.5f) {  // a category: its level as the default questions give it
      Level level = Level::kConfidential;
      for (const ModelQuestion& q : defaults) {
        if (q.id == head.question) level = q.level;
      }
      v.categories.push_back({head.question, level, yes});
    }
  }
  return v;
}

void MergeModelVerdict(const absl::StatusOr<ModelVerdict>& verdict, bool fail_closed,
                       Assessment* assessment) {
  ModelAssessment& m = assessment->model;
  if (!verdict.ok()) {
    m.outcome = fail_closed ? "failed_closed" : "failed_open";
    m.error = std::string(verdict.status().message());
    if (fail_closed) assessment->level = Level::kRestricted;
    return;
  }
  m.outcome = "ok";
  m.level = verdict->level;
  m.difficulty = verdict->difficulty;
  m.categories = verdict->categories;
  m.answers = verdict->answers;
  m.reused = verdict->reused;
  if (verdict->level) assessment->level = std::max(assessment->level, *verdict->level);
  for (const ModelFinding& c : verdict->categories) {
    assessment->level = std::max(assessment->level, c.level);
  }
  if (verdict->difficulty) {
    assessment->difficulty_signals["deterministic"] = assessment->difficulty;
    assessment->difficulty = *verdict->difficulty;
  }
}

}  // namespace airlock::classifier
