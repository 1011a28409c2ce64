// Generate on the tiny synthetic model: greedy tokens are the argmax of the reference forward,
// stop ids, stop strings (held back, cut before), max_tokens and cancellation end it as they
// should, and the streamed text is the decoded tokens.
#include "engine/generate.h"

#include <unistd.h>

#include <filesystem>

#include "engine/chat_template.h"
#include "engine/synth.h"
#include "gtest/gtest.h"

namespace airlock::engine {
namespace {

namespace fs = std::filesystem;

class GenerateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("generate_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    ASSERT_TRUE(SynthesizeModel(*PresetConfig("tiny"), dir_.string(), {}).ok());
    model_ = *Model::Load(dir_.string());
    tokenizer_ = *Tokenizer::Load((dir_ / "tokenizer.json").string());
    prompt_ = tokenizer_->Encode(
        RenderNemotron3Chat({{"user", "Hello there, how are you?", "", {}}}, {}, {}));
  }
  void TearDown() override { fs::remove_all(dir_); }

  GenerateResult Run(const GenerateOptions& o, std::vector<std::string>* pieces = nullptr,
                     int cancel_after = -1) {
    SequenceState s = model_->NewSequence();
    auto logits = model_->Forward(&s, prompt_);
    EXPECT_TRUE(logits.ok());
    int calls = 0;
    auto r = Generate(*model_, *tokenizer_, &s, *logits, o, [&](std::string_view text) {
      if (pieces) pieces->emplace_back(text);
      return ++calls != cancel_after;
    });
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : GenerateResult{};
  }

  fs::path dir_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<int32_t> prompt_;
};

TEST_F(GenerateTest, GreedyTokensAreTheArgmaxOfTheForwardPass) {
  GenerateOptions o;
  o.sampling.temperature = 0;
  o.max_tokens = 12;
  std::vector<std::string> pieces;
  const GenerateResult r = Run(o, &pieces);
  EXPECT_EQ(r.finish_reason, "length");
  ASSERT_EQ(r.tokens.size(), 12u);
  SequenceState s = model_->NewSequence();
  std::vector<float> logits = *model_->Forward(&s, prompt_);
  for (int32_t want : r.tokens) {
    const int32_t argmax =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    ASSERT_EQ(argmax, want);
    logits = *model_->Forward(&s, std::vector<int32_t>{want});
  }
  std::string joined;
  for (const std::string& p : pieces) joined += p;
  EXPECT_EQ(joined, r.text);
  // Random weights write broken UTF-8 at times; the stream replaces it as ToValidUtf8 does.
  EXPECT_EQ(r.text, ToValidUtf8(tokenizer_->Decode(r.tokens)));
}

TEST_F(GenerateTest, StopIdsStopStringsAndCancellation) {
  GenerateOptions o;
  o.sampling.temperature = 0;
  o.max_tokens = 12;
  const GenerateResult full = Run(o);
  ASSERT_GE(full.text.size(), 4u);

  GenerateOptions by_id = o;
  by_id.stop_ids = {full.tokens[0]};
  const GenerateResult none = Run(by_id);
  EXPECT_EQ(none.finish_reason, "stop");
  EXPECT_TRUE(none.tokens.empty());
  EXPECT_EQ(none.text, "");

  // A stop string from the middle of the greedy text: the text stops right before it.
  const size_t at = full.text.size() / 2;
  GenerateOptions by_string = o;
  by_string.stop = {full.text.substr(at, 3)};
  const GenerateResult cut = Run(by_string);
  EXPECT_EQ(cut.finish_reason, "stop");
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(by_string.stop[0])));

  std::vector<std::string> pieces;
  const GenerateResult cancelled = Run(o, &pieces, /*cancel_after=*/1);
  EXPECT_EQ(cancelled.finish_reason, "cancelled");
  EXPECT_EQ(pieces.size(), 1u);
  EXPECT_LT(cancelled.tokens.size(), full.tokens.size());
}

TEST_F(GenerateTest, SeededSamplingIsReproducible) {
  GenerateOptions o;
  o.sampling = {.temperature = 1.0f, .top_p = 0.9f, .seed = 11};
  o.max_tokens = 10;
  EXPECT_EQ(Run(o).tokens, Run(o).tokens);
}

}  // namespace
}  // namespace airlock::engine
