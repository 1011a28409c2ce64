// The model stage on the tiny synthetic model: each question's label probabilities are the
// softmax of the label tokens' logits after the conversation and the question; the
// conversation's prefill, kept in the PrefixCache, gives the generation the tokens of a fresh
// prefill; failures follow fail_closed / fail_open; the model never lowers the assessment.
#include "classifier/model_stage.h"

#include <unistd.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <future>

#include "classifier/chat_prompt.h"
#include "classifier/heads.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/synth.h"
#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

namespace fs = std::filesystem;

// The median of a level distribution: the highest level L with P(>= L) >= 0.5.
Level MedianLevel(const std::map<std::string, float>& p) {
  Level median = Level::kPublic;
  for (Level l : {Level::kInternal, Level::kConfidential, Level::kRestricted}) {
    float at_least = 0;
    for (const auto& [word, q] : p) at_least += *ParseLevel(word) >= l ? q : 0;
    if (at_least >= 0.5f) median = l;
  }
  return median;
}

class ModelStageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("model_stage_test_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    ASSERT_TRUE(engine::SynthesizeModel(*engine::PresetConfig("tiny"), dir_->string(), {}).ok());
    model_ = engine::Model::Load(dir_->string())->release();
    tokenizer_ = engine::Tokenizer::Load((*dir_ / "tokenizer.json").string())->release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  static v1::ChatRequest Request() {
    v1::ChatRequest r;
    auto* m = r.add_messages();
    m->set_role(v1::Message::SYSTEM);
    m->set_content("You help the finance team.");
    m = r.add_messages();
    m->set_role(v1::Message::USER);
    m->set_content("Draft a note on the Q3 acquisition of Harbor Foods; Dr. Lee's results are in.");
    return r;
  }

  static absl::StatusOr<ModelVerdict> Run(const ModelStage& stage, const v1::ChatRequest& r,
                                          std::chrono::steady_clock::time_point deadline =
                                              std::chrono::steady_clock::time_point::max()) {
    std::promise<absl::StatusOr<ModelVerdict>> p;
    stage.Assess(r, deadline, /*keep_prefill=*/true,
                 [&](absl::StatusOr<ModelVerdict> v) { p.set_value(std::move(v)); });
    return p.get_future().get();
  }

  static inline fs::path* dir_ = nullptr;
  static inline engine::Model* model_ = nullptr;
  static inline engine::Tokenizer* tokenizer_ = nullptr;
};

TEST_F(ModelStageTest, LabelScoresAreTheSoftmaxOfTheLabelLogitsAndThePrefillIsReused) {
  engine::Runtime runtime(*model_, *tokenizer_);
  engine::PrefixCache cache(4, std::chrono::minutes(1));
  auto stage = ModelStage::Create(&runtime, &cache, DefaultModelQuestions());
  ASSERT_TRUE(stage.ok()) << stage.status();
  const v1::ChatRequest request = Request();
  const absl::StatusOr<ModelVerdict> verdict = Run(**stage, request);
  ASSERT_TRUE(verdict.ok()) << verdict.status();

  // Each question asked alone, from scratch, by the model directly.
  const std::vector<int32_t> conversation =
      tokenizer_->Encode(RenderConversation(ChatPromptOf(request)));
  ASSERT_GT(conversation.size(), 16u);  // long enough to fork at a chunk edge
  const std::map<std::string, std::map<std::string, float>> answers = verdict->Answers();
  for (const ModelQuestion& q : (*stage)->questions()) {
    std::vector<int32_t> prompt = conversation;
    const std::vector<int32_t> turn = tokenizer_->Encode(
        "<|im_start|>user\n" + q.text + "<|im_end|>\n<|im_start|>assistant\n<think></think>");
    prompt.insert(prompt.end(), turn.begin(), turn.end());
    engine::SequenceState s = model_->NewSequence();
    const std::vector<float> logits = *model_->Forward(&s, prompt);
    double sum = 0;
    for (const ModelLabel& l : q.labels) sum += std::exp(logits[tokenizer_->Encode(l.word)[0]]);
    const std::map<std::string, float>& answer = answers.at(q.id);
    ASSERT_EQ(answer.size(), q.labels.size());
    double total = 0;
    for (const ModelLabel& l : q.labels) {
      const double want = std::exp(logits[tokenizer_->Encode(l.word)[0]]) / sum;
      EXPECT_NEAR(answer.at(l.word), want, 1e-6) << q.id << " " << l.word;
      total += answer.at(l.word);
    }
    EXPECT_NEAR(total, 1.0, 1e-6);
  }
  // The default policy reads them as documented: the median level, the expected difficulty,
  // the categories whose p(yes) reaches 0.5.
  Assessment a;
  MergeModelVerdict(verdict, *Classifier::CreateDefault(), true, &a);
  ASSERT_EQ(a.model.outcome, "ok");
  EXPECT_EQ(a.model.level, MedianLevel(answers.at("level")));
  EXPECT_NEAR(*a.model.difficulty, answers.at("difficulty").at("hard"), 1e-6);
  size_t yes = 0;
  for (const ModelQuestion& q : (*stage)->questions()) {
    if (q.kind == ModelQuestion::Kind::kCategory) yes += answers.at(q.id).at("yes") >= 0.5f;
  }
  EXPECT_EQ(a.model.categories.size(), yes);
  for (const ModelFinding& c : a.model.categories) {
    EXPECT_GE(c.probability, 0.5f);
    EXPECT_EQ(c.probability, answers.at(c.category).at("yes"));
  }

  // The conversation's prefill waits in the cache; the generation starts from it and gets
  // the tokens of a fresh prefill.
  EXPECT_TRUE(verdict->reused);
  EXPECT_EQ(cache.stats().entries, 1u);
  const std::vector<int32_t> prompt =
      tokenizer_->Encode(RenderForGeneration(ChatPromptOf(request)));
  std::unique_ptr<engine::Sequence> start = cache.Take(prompt);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->position, static_cast<int64_t>(conversation.size() / 16 * 16));
  engine::GenerateOptions greedy;
  greedy.sampling.temperature = 0;
  greedy.max_tokens = 16;
  std::promise<absl::StatusOr<engine::GenerateResult>> done;
  engine::RuntimeRequest r;
  r.prompt = prompt;
  r.options = greedy;
  r.start = std::move(start);
  r.on_done = [&](absl::StatusOr<engine::GenerateResult> g) { done.set_value(std::move(g)); };
  ASSERT_TRUE(runtime.Submit(std::move(r)).ok());
  const absl::StatusOr<engine::GenerateResult> reused = done.get_future().get();
  ASSERT_TRUE(reused.ok()) << reused.status();
  engine::SequenceState fresh = model_->NewSequence();
  auto logits = model_->Forward(&fresh, prompt);
  const auto want = engine::Generate(*model_, *tokenizer_, &fresh, *logits, greedy,
                                     [](std::string_view) { return true; });
  EXPECT_EQ(reused->tokens, want->tokens);
}

// The heads method: one prefill of the conversation; each head reads its pooled hidden state,
// and the prefill is kept for the generation as with the questions.
TEST_F(ModelStageTest, HeadsReadThePooledHiddenState) {
  engine::Runtime runtime(*model_, *tokenizer_);
  engine::PrefixCache cache(4, std::chrono::minutes(1));
  const size_t H = 64;
  auto head = [&](std::string question, std::vector<std::string> classes) {
    Head h{std::move(question),
           std::move(classes),
           std::vector<float>(H, 0.0f),
           std::vector<float>(H, 1.0f),
           {},
           {}};
    for (size_t k = 0; k < h.classes.size(); ++k) {
      h.bias.push_back(0.1f * static_cast<float>(k));
      for (size_t d = 0; d < H; ++d) h.weights.push_back(std::sin(static_cast<float>(k * H + d)));
    }
    return h;
  };
  Heads heads{2,
              {head("level", {"public", "internal", "confidential", "restricted"}),
               head("difficulty", {"easy", "hard"}), head("pii.health", {"no", "yes"})}};
  auto stage = ModelStage::Create(&runtime, &cache, heads);
  ASSERT_TRUE(stage.ok()) << stage.status();
  const v1::ChatRequest request = Request();
  const absl::StatusOr<ModelVerdict> verdict = Run(**stage, request);
  ASSERT_TRUE(verdict.ok()) << verdict.status();
  const std::vector<float> hidden = *PooledHidden(*model_, *tokenizer_, request, 2);
  const std::map<std::string, std::map<std::string, float>> answers = verdict->Answers();
  for (const Head& h : heads.heads) {
    const std::vector<float> want = h.Probabilities(hidden);
    for (size_t k = 0; k < h.classes.size(); ++k) {
      EXPECT_NEAR(answers.at(h.question).at(h.classes[k]), want[k], 1e-4)
          << h.question << " " << h.classes[k];
    }
  }
  Assessment a;
  MergeModelVerdict(verdict, *Classifier::CreateDefault(), true, &a);
  EXPECT_EQ(a.model.level, MedianLevel(answers.at("level")));
  EXPECT_NEAR(*a.model.difficulty, answers.at("difficulty").at("hard"), 1e-6);
  EXPECT_EQ(a.model.categories.empty(), answers.at("pii.health").at("yes") < 0.5f);
  EXPECT_TRUE(verdict->reused);
  EXPECT_EQ(cache.stats().entries, 1u);

  heads.heads[0].classes[1] = "secret";
  EXPECT_NE(ModelStage::Create(&runtime, &cache, heads).status().message().find("'secret'"),
            std::string::npos);
  heads.layer = 99;
  EXPECT_EQ(ModelStage::Create(&runtime, &cache, heads).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelStageTest, FailuresFollowFailClosedOrOpen) {
  engine::Runtime runtime(*model_, *tokenizer_);
  auto stage = ModelStage::Create(&runtime, nullptr, DefaultModelQuestions());
  ASSERT_TRUE(stage.ok());
  const absl::StatusOr<ModelVerdict> late =
      Run(**stage, Request(), std::chrono::steady_clock::now() - std::chrono::seconds(1));
  ASSERT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);

  Assessment closed;
  closed.level = Level::kInternal;
  MergeModelVerdict(late, *Classifier::CreateDefault(), /*fail_closed=*/true, &closed);
  EXPECT_EQ(closed.level, Level::kRestricted);
  EXPECT_EQ(closed.model.outcome, "failed_closed");
  EXPECT_NE(closed.model.error.find("model stage"), std::string::npos) << closed.model.error;

  Assessment open;
  open.level = Level::kInternal;
  MergeModelVerdict(late, *Classifier::CreateDefault(), /*fail_closed=*/false, &open);
  EXPECT_EQ(open.level, Level::kInternal);
  EXPECT_EQ(open.model.outcome, "failed_open");
}

// A verdict on the default questions with the given probabilities (level: public, internal,
// confidential, restricted; difficulty: easy, hard; categories: no, yes).
ModelVerdict VerdictOf(std::array<float, 4> level, float hard, float business, float health,
                       float person) {
  ModelVerdict v;
  v.questions = std::make_shared<const std::vector<ModelQuestion>>(DefaultModelQuestions());
  for (const ModelQuestion& q : *v.questions) {
    if (q.id == "level") {
      v.probabilities.push_back({level.begin(), level.end()});
      continue;
    }
    const float yes = q.id == "difficulty"              ? hard
                      : q.id == "confidential.business" ? business
                      : q.id == "pii.health"            ? health
                                                        : person;
    std::vector<float> p;  // in label order: yes (or hard) is the label worth 1
    for (const ModelLabel& l : q.labels) p.push_back(l.value == 1 ? yes : 1 - yes);
    v.probabilities.push_back(std::move(p));
  }
  return v;
}

TEST_F(ModelStageTest, TheModelNeverLowersTheAssessment) {
  const ModelVerdict v = VerdictOf({0.7f, 0.1f, 0.1f, 0.1f}, 0.25f, 0.1f, 0.1f, 0.1f);
  Assessment a;
  a.level = Level::kConfidential;
  a.difficulty = 0.7f;
  MergeModelVerdict(v, *Classifier::CreateDefault(), true, &a);
  EXPECT_EQ(a.level, Level::kConfidential);  // the model's public does not lower it
  EXPECT_EQ(a.model.outcome, "ok");
  EXPECT_EQ(a.model.level, Level::kPublic);
  EXPECT_TRUE(a.model.categories.empty());
  EXPECT_FLOAT_EQ(a.difficulty, 0.25f);  // the model's difficulty refines the estimate
  EXPECT_FLOAT_EQ(a.difficulty_signals.at("deterministic"), 0.7f);
  // A category raises it to the category's level.
  Assessment b;
  MergeModelVerdict(VerdictOf({0.7f, 0.1f, 0.1f, 0.1f}, 0.25f, 0.1f, 0.9f, 0.1f),
                    *Classifier::CreateDefault(), true, &b);
  EXPECT_EQ(b.level, Level::kRestricted);
  v1::Assessment proto;
  ToProto(b, &proto);
  EXPECT_EQ(proto.model().outcome(), "ok");
  ASSERT_EQ(proto.model().categories_size(), 1);
  EXPECT_EQ(proto.model().categories(0).category(), "pii.health");
  EXPECT_EQ(proto.model().level(), "public");
}

// The policy's model section decides which answers count: level thresholds on P(>= level),
// category thresholds by glob, and its level overrides apply to the model's categories.
TEST_F(ModelStageTest, ThePolicyReadsTheVerdict) {
  // P(>= internal) 0.6, P(>= confidential) 0.45, P(>= restricted) 0.3.
  const ModelVerdict v = VerdictOf({0.4f, 0.15f, 0.15f, 0.3f}, 0.5f, 0.35f, 0.6f, 0.8f);
  Assessment median;
  MergeModelVerdict(v, *Classifier::CreateDefault(), true, &median);
  EXPECT_EQ(median.model.level, Level::kInternal);
  ASSERT_EQ(median.model.categories.size(), 2u);  // health 0.6, person 0.8
  EXPECT_EQ(median.model.categories[0].category, "pii.health");
  EXPECT_EQ(median.model.categories[0].level, Level::kRestricted);
  EXPECT_EQ(median.model.categories[1].category, "pii.person");

  ClassifierOptions options;
  options.model.level_at = {0.9f, 0.5f, 0.25f};  // cautious about restricted
  options.model.categories = {{"pii.*", 0.7f}, {"confidential.*", 0.3f}};
  options.level_overrides = {{"pii.person", Level::kRestricted}};
  const auto strict = Classifier::Create(options);
  ASSERT_TRUE(strict.ok()) << strict.status();
  EXPECT_FLOAT_EQ((*strict)->model_thresholds().CategoryThreshold("pii.health"), 0.7f);
  EXPECT_FLOAT_EQ((*strict)->model_thresholds().CategoryThreshold("code.secret"), 0.5f);
  Assessment read;
  MergeModelVerdict(v, **strict, true, &read);
  EXPECT_EQ(read.model.level, Level::kRestricted);  // highest reaching its threshold
  ASSERT_EQ(read.model.categories.size(), 2u);      // business 0.35 >= 0.3; health 0.6 < 0.7
  EXPECT_EQ(read.model.categories[0].category, "confidential.business");
  EXPECT_EQ(read.model.categories[1].category, "pii.person");
  EXPECT_EQ(read.model.categories[1].level, Level::kRestricted);  // the override applies
  EXPECT_EQ(read.level, Level::kRestricted);

  options.model.categories = {{"pii.[", 0.7f}};
  EXPECT_EQ(Classifier::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelStageTest, BadQuestionsAreRefusedByName) {
  engine::Runtime runtime(*model_, *tokenizer_);
  std::vector<ModelQuestion> q = DefaultModelQuestions();
  q[0].labels[1].word = "secret";
  auto s = ModelStage::Create(&runtime, nullptr, q);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("'level'"), std::string::npos) << s.status();
  q = DefaultModelQuestions();
  q[1].labels = {{"hard", 1}, {"hardly", 0}};
  s = ModelStage::Create(&runtime, nullptr, q);
  EXPECT_NE(s.status().message().find("same token"), std::string::npos) << s.status();
  q = DefaultModelQuestions();
  q[2].labels.resize(1);
  s = ModelStage::Create(&runtime, nullptr, q);
  EXPECT_NE(s.status().message().find("two labels"), std::string::npos) << s.status();
}

}  // namespace
}  // namespace airlock::classifier
