// The model stage on the tiny synthetic model: each question's label probabilities are the
// softmax of the label tokens' logits after the conversation and the question; the
// conversation's prefill, kept in the PrefixCache, gives the generation the tokens of a fresh
// prefill; failures follow fail_closed / fail_open; the model never lowers the assessment.
#include "classifier/model_stage.h"

#include <unistd.h>

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
  for (const ModelQuestion& q : (*stage)->questions()) {
    std::vector<int32_t> prompt = conversation;
    const std::vector<int32_t> turn = tokenizer_->Encode(
        "<|im_start|>user\n" + q.text + "<|im_end|>\n<|im_start|>assistant\n<think></think>");
    prompt.insert(prompt.end(), turn.begin(), turn.end());
    engine::SequenceState s = model_->NewSequence();
    const std::vector<float> logits = *model_->Forward(&s, prompt);
    double sum = 0;
    for (const ModelLabel& l : q.labels) sum += std::exp(logits[tokenizer_->Encode(l.word)[0]]);
    const std::map<std::string, float>& answer = verdict->answers.at(q.id);
    ASSERT_EQ(answer.size(), q.labels.size());
    double total = 0;
    for (const ModelLabel& l : q.labels) {
      const double want = std::exp(logits[tokenizer_->Encode(l.word)[0]]) / sum;
      EXPECT_NEAR(answer.at(l.word), want, 1e-6) << q.id << " " << l.word;
      total += answer.at(l.word);
    }
    EXPECT_NEAR(total, 1.0, 1e-6);
  }
  // The verdict reads them as documented.
  const std::map<std::string, float>& level = verdict->answers.at("level");
  const auto best = std::max_element(
      level.begin(), level.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  EXPECT_EQ(verdict->level, ParseLevel(best->first));
  EXPECT_NEAR(*verdict->difficulty, verdict->answers.at("difficulty").at("hard"), 1e-6);
  for (const ModelFinding& c : verdict->categories) {
    EXPECT_GE(c.probability, 0.5f);
    EXPECT_EQ(c.probability, verdict->answers.at(c.category).at("yes"));
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
  for (const Head& h : heads.heads) {
    const std::vector<float> want = h.Probabilities(hidden);
    for (size_t k = 0; k < h.classes.size(); ++k) {
      EXPECT_NEAR(verdict->answers.at(h.question).at(h.classes[k]), want[k], 1e-4)
          << h.question << " " << h.classes[k];
    }
  }
  const std::map<std::string, float>& level = verdict->answers.at("level");
  EXPECT_EQ(
      verdict->level,
      ParseLevel(std::max_element(level.begin(), level.end(), [](const auto& a, const auto& b) {
                   return a.second < b.second;
                 })->first));
  EXPECT_NEAR(*verdict->difficulty, verdict->answers.at("difficulty").at("hard"), 1e-6);
  EXPECT_EQ(verdict->categories.empty(), verdict->answers.at("pii.health").at("yes") < 0.5f);
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
  MergeModelVerdict(late, /*fail_closed=*/true, &closed);
  EXPECT_EQ(closed.level, Level::kRestricted);
  EXPECT_EQ(closed.model.outcome, "failed_closed");
  EXPECT_NE(closed.model.error.find("model stage"), std::string::npos) << closed.model.error;

  Assessment open;
  open.level = Level::kInternal;
  MergeModelVerdict(late, /*fail_closed=*/false, &open);
  EXPECT_EQ(open.level, Level::kInternal);
  EXPECT_EQ(open.model.outcome, "failed_open");
}

TEST_F(ModelStageTest, TheModelNeverLowersTheAssessment) {
  ModelVerdict v;
  v.level = Level::kPublic;
  v.difficulty = 0.25f;
  Assessment a;
  a.level = Level::kConfidential;
  a.difficulty = 0.7f;
  MergeModelVerdict(v, true, &a);
  EXPECT_EQ(a.level, Level::kConfidential);  // the model's public does not lower it
  EXPECT_EQ(a.model.outcome, "ok");
  EXPECT_EQ(a.model.level, Level::kPublic);
  EXPECT_FLOAT_EQ(a.difficulty, 0.25f);  // the model's difficulty refines the estimate
  EXPECT_FLOAT_EQ(a.difficulty_signals.at("deterministic"), 0.7f);
  // A category raises it to the category's level.
  v.categories.push_back({"pii.health", Level::kRestricted, 0.9f});
  Assessment b;
  MergeModelVerdict(v, true, &b);
  EXPECT_EQ(b.level, Level::kRestricted);
  v1::Assessment proto;
  ToProto(b, &proto);
  EXPECT_EQ(proto.model().outcome(), "ok");
  ASSERT_EQ(proto.model().categories_size(), 1);
  EXPECT_EQ(proto.model().categories(0).category(), "pii.health");
  EXPECT_EQ(proto.model().level(), "public");
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
