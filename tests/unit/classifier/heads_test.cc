// Heads on hidden states: training is deterministic and separates what is separable, the
// report's figures are the textbook ones on a hand-made case, the file round-trips, and the
// pooled hidden state is the mean of the layer's rows.
#include "classifier/heads.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "classifier/chat_prompt.h"
#include "engine/synth.h"
#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

namespace fs = std::filesystem;

// Two Gaussian-ish blobs in 3 dimensions, from a fixed LCG.
void Blobs(size_t n, std::vector<float>* x, std::vector<int>* y) {
  uint64_t s = 7;
  auto uniform = [&] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((s >> 40) & 0xFFFFFF) / 16777216.0f - 0.5f;
  };
  for (size_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);
    x->push_back((label ? 2.0f : -2.0f) + uniform());
    x->push_back(uniform() * 5);  // noise
    x->push_back(100 + uniform());
    y->push_back(label);
  }
}

TEST(Heads, TrainingIsDeterministicAndSeparatesBlobs) {
  std::vector<float> x;
  std::vector<int> y;
  Blobs(200, &x, &y);
  const Head a = TrainHead("difficulty", {"easy", "hard"}, x, 3, y);
  const Head b = TrainHead("difficulty", {"easy", "hard"}, x, 3, y);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.bias, b.bias);
  const HeadReport r = Evaluate(a, x, 3, y);
  EXPECT_EQ(r.examples, 200u);
  EXPECT_DOUBLE_EQ(r.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(*r.auroc, 1.0);
  EXPECT_LT(r.ece, 0.1);
  ASSERT_EQ(r.thresholds.size(), 9u);
  EXPECT_DOUBLE_EQ(r.thresholds[4].precision, 1.0);
  EXPECT_DOUBLE_EQ(r.thresholds[4].recall, 1.0);
  // The separating feature carries the weight; the constant one none.
  EXPECT_GT(std::abs(a.weights[3]), 10 * std::abs(a.weights[4]));
}

TEST(Heads, TheReportCountsAsDocumented) {
  // One feature, no standardisation: p(second) = sigmoid(2 x).
  Head h{"pii.health", {"no", "yes"}, {0}, {1}, {-1, 1}, {0, 0}};
  const std::vector<float> x{-2, -1, 1, 2, 0.1f};
  const std::vector<int> y{0, 1, 1, 1, 0};  // predicted: no, no, yes, yes, yes
  const HeadReport r = Evaluate(h, x, 1, y);
  EXPECT_DOUBLE_EQ(r.accuracy, 3.0 / 5);
  EXPECT_DOUBLE_EQ(r.precision[1], 2.0 / 3);  // yes: 2 right of 3 predicted
  EXPECT_DOUBLE_EQ(r.recall[1], 2.0 / 3);     // of 3 true
  EXPECT_DOUBLE_EQ(r.precision[0], 1.0 / 2);
  EXPECT_DOUBLE_EQ(r.recall[0], 1.0 / 2);
  // Ranks of p(yes): 0 (-2) < 1 (-1) < 0 (0.1) < 1 (1) < 1 (2): 5 of 6 pairs ordered.
  EXPECT_DOUBLE_EQ(*r.auroc, 5.0 / 6);
  EXPECT_NE(FormatReport(h, r).find("accuracy 0.600"), std::string::npos) << FormatReport(h, r);
}

TEST(Heads, TheFileRoundTripsAndBadFilesAreNamed) {
  const fs::path dir = fs::temp_directory_path() / ("heads_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Heads heads{
      3,
      {Head{"level", {"public", "internal"}, {1, 2}, {0.5f, 0.25f}, {1, 2, 3, 4}, {0.1f, -0.1f}}}};
  ASSERT_TRUE(SaveHeads(heads, (dir / "h.json").string()).ok());
  absl::StatusOr<Heads> back = LoadHeads((dir / "h.json").string());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->layer, 3);
  ASSERT_NE(back->Find("level"), nullptr);
  EXPECT_EQ(back->Find("level")->Probabilities(std::vector<float>{3, 1}),
            heads.heads[0].Probabilities(std::vector<float>{3, 1}));
  std::ofstream(dir / "bad.json") << R"({"layer": 1, "heads": [{"question": "q", "classes":
      ["a", "b"], "mean": [0], "scale": [1], "weights": [1], "bias": [0, 0]}]})";
  absl::StatusOr<Heads> bad = LoadHeads((dir / "bad.json").string());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("heads[0] ('q')"), std::string::npos) << bad.status();
  fs::remove_all(dir);
}

TEST(Heads, PooledHiddenIsTheMeanOfTheLayersRows) {
  const fs::path dir = fs::temp_directory_path() / ("heads_model_" + std::to_string(::getpid()));
  ASSERT_TRUE(engine::SynthesizeModel(*engine::PresetConfig("tiny"), dir.string(), {}).ok());
  auto model = engine::Model::Load(dir.string());
  auto tok = engine::Tokenizer::Load((dir / "tokenizer.json").string());
  ASSERT_TRUE(model.ok() && tok.ok());
  v1::ChatRequest r;
  r.add_messages()->set_content("patient history: two visits");
  absl::StatusOr<std::vector<float>> pooled = PooledHidden(**model, **tok, r, 1);
  ASSERT_TRUE(pooled.ok()) << pooled.status();
  const std::vector<int32_t> ids = (*tok)->Encode(RenderConversation(ChatPromptOf(r)));
  std::vector<float> sum(64, 0.0f);
  engine::SequenceState s = (*model)->NewSequence();
  const engine::StepItem item{&s, ids, engine::Logits::kNone, 1, sum.data()};
  ASSERT_TRUE((*model)->Step({&item, 1}).ok());
  for (size_t d = 0; d < 64; ++d) EXPECT_FLOAT_EQ((*pooled)[d], sum[d] / ids.size());
  EXPECT_EQ(PooledHidden(**model, **tok, r, 40).status().code(),
            absl::StatusCode::kInvalidArgument);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace airlock::classifier
