// The forward pass, on the reference path and on the CPU kernels: golden logits from two
// independent references, the project's numpy one and transformers' NemotronHForCausalLM
// (chunked SSD over 3 chunks, every block type, n_groups 2, top-2 of 8 experts with a non-zero
// selection bias, BF16 and F16 with fused experts), and its own consistency: a sequence continued
// in pieces or decoded token by token gives the logits of the whole prompt at once, and a batched
// step gives each sequence what it gets alone.
#include "engine/model.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/synth.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace airlock::engine {
namespace {

namespace fs = std::filesystem;

// Logits are around 0.1 to 1; the reference computes in float64, the engine accumulates in
// double with float32 activations and state: differences stay near 1e-6. 1e-4 leaves room for
// libm differences while catching any real mistake (a wrong group, chunk or expert moves
// logits by 1e-2 or more).
constexpr double kGoldenTolerance = 1e-4;

class ModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("model_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Model> Tiny(const SynthOptions& options, const std::string& name = "m",
                              const ModelOptions& model_options = {}) {
    const std::string dir = (dir_ / name).string();
    if (!fs::exists(dir)) {
      EXPECT_TRUE(SynthesizeModel(*PresetConfig("tiny"), dir, options).ok());
    }
    auto m = Model::Load(dir, model_options);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *std::move(m) : nullptr;
  }

  static std::vector<int32_t> Prompt() {
    std::vector<int32_t> ids;
    for (int i = 0; i < 40; ++i) ids.push_back((i * 37 + 11) % 512);
    return ids;
  }

  fs::path dir_;
};

// Both references: the project's numpy one (goldens.json) and transformers' own
// NemotronHForCausalLM (transformers_goldens.json).
class GoldenTest : public ModelTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(GoldenTest, MatchesTheReferenceGoldens) {
  const fs::path path =
      fs::path(__FILE__).parent_path().parent_path().parent_path() / "data" / "engine" / GetParam();
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  const nlohmann::json goldens = nlohmann::json::parse(in);
  ASSERT_EQ(goldens["cases"].size(), 2u);
  for (const auto& c : goldens["cases"]) {
    SynthOptions o;
    o.seed = c["seed"].get<uint64_t>();
    for (const auto& arg : c["args"]) {
      if (arg == "--fused-experts") o.fused_experts = true;
      if (arg == "f16") o.dtype = DType::kF16;
    }
    for (const bool reference : {true, false}) {  // the plain path and the CPU kernels
      auto model = Tiny(o, c["name"].get<std::string>(), ModelOptions{.reference = reference});
      ASSERT_NE(model, nullptr);
      const std::vector<int32_t> ids = c["ids"].get<std::vector<int32_t>>();
      SequenceState s = model->NewSequence();
      auto logits = model->Forward(&s, ids, /*all_logits=*/true);
      ASSERT_TRUE(logits.ok()) << logits.status();
      const size_t vocab = 512;
      ASSERT_EQ(logits->size(), ids.size() * vocab);
      const auto rows = c["rows"].get<std::vector<size_t>>();
      for (size_t k = 0; k < rows.size(); ++k) {
        const auto want = c["logits"][k].get<std::vector<double>>();
        double worst = 0;
        for (size_t v = 0; v < vocab; ++v) {
          const double d = std::abs((*logits)[rows[k] * vocab + v] - want[v]);
          if (!(d <= worst)) worst = d;  // a NaN is kept, and fails the check below
        }
        EXPECT_LT(worst, kGoldenTolerance) << GetParam() << " " << c["name"] << " position "
                                           << rows[k] << (reference ? " (reference)" : " (cpu)");
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Engine, GoldenTest,
                         ::testing::Values("goldens.json", "transformers_goldens.json"),
                         [](const auto& info) {
                           return std::string(info.param).starts_with("transformers")
                                      ? "Transformers"
                                      : "Numpy";
                         });

// The largest |a[i] - b[offset + i]| (NaN if any is NaN).
double MaxDiff(const std::vector<float>& a, const std::vector<float>& b, size_t offset) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - b[offset + i]);
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

// A prompt continued after a cached state, or decoded token by token, gives the logits of the
// whole prompt at once. The reference path runs every token through the recurrence: the same
// bits however the prompt is split. The CPU kernels run a prompt's tokens in SSD chunks aligned
// to multiples of chunk_size (16 here: the 40-token prompt is 3 chunks): split at such a
// position, the same bits (what the runtime relies on); split elsewhere, or token by token (the
// recurrence), the same logits up to FP32 rounding, far below kGoldenTolerance.
TEST_F(ModelTest, ContinuationAndStepByStepDecodeEqualTheWholePrompt) {
  constexpr double kRounding = 1e-5;
  for (const bool reference : {false, true}) {
    SCOPED_TRACE(reference ? "reference" : "cpu kernels");
    auto model = Tiny({}, "m", ModelOptions{.reference = reference});
    ASSERT_NE(model, nullptr);
    EXPECT_EQ(model->prefill_granule(), reference ? 1 : 16);
    const std::vector<int32_t> ids = Prompt();
    const size_t vocab = 512;
    SequenceState whole = model->NewSequence();
    const std::vector<float> all = *model->Forward(&whole, ids, true);
    EXPECT_EQ(whole.position, 40);

    for (const size_t split : {32, 23}) {  // a chunk edge, and inside a chunk
      SequenceState pieces = model->NewSequence();
      ASSERT_TRUE(model->Forward(&pieces, std::span(ids).first(split)).ok());
      auto rest = model->Forward(&pieces, std::span(ids).subspan(split), true);
      ASSERT_TRUE(rest.ok());
      ASSERT_EQ(rest->size(), (40 - split) * vocab);
      if (reference || split % 16 == 0) {
        for (size_t v = 0; v < rest->size(); ++v) {
          ASSERT_EQ((*rest)[v], all[split * vocab + v]) << "split " << split << ", " << v;
        }
      } else {
        EXPECT_LT(MaxDiff(*rest, all, split * vocab), kRounding) << "split " << split;
      }
    }
    // Decode one token at a time; each step's logits are that position's.
    SequenceState steps = model->NewSequence();
    for (size_t t = 0; t < ids.size(); ++t) {
      auto one = model->Forward(&steps, std::span(ids).subspan(t, 1));
      ASSERT_TRUE(one.ok());
      if (reference || t == 0) {
        for (size_t v = 0; v < vocab; ++v) ASSERT_EQ((*one)[v], all[t * vocab + v]) << t;
      } else {
        EXPECT_LT(MaxDiff(*one, all, t * vocab), kRounding) << "position " << t;
      }
    }
    EXPECT_EQ(steps.position, 40);
    // A sequence's state is its own: a second sequence interleaved with the first changes
    // nothing (split at a chunk edge: the same bits).
    SequenceState a = model->NewSequence(), b = model->NewSequence();
    ASSERT_TRUE(model->Forward(&a, std::span(ids).first(16)).ok());
    ASSERT_TRUE(model->Forward(&b, std::vector<int32_t>{3, 4, 5}).ok());
    auto a_rest = model->Forward(&a, std::span(ids).subspan(16), true);
    ASSERT_TRUE(a_rest.ok());
    EXPECT_EQ(a_rest->back(), all.back());
  }
}

// One Step over sequences in different phases (decoding, prefilling from scratch, a prompt
// chunk without logits, a prompt of 9 tokens: more than one group of 4 rows) gives each the
// bits it gets alone, on both paths.
TEST_F(ModelTest, BatchedStepEqualsEachSequenceAlone) {
  for (const bool reference : {false, true}) {
    auto model = Tiny({}, "m", ModelOptions{.reference = reference});
    ASSERT_NE(model, nullptr);
    const std::vector<int32_t> ids = Prompt();
    const size_t vocab = 512;
    SequenceState a = model->NewSequence(), b = model->NewSequence(), c = model->NewSequence(),
                  d = model->NewSequence();
    ASSERT_TRUE(model->Forward(&a, std::span(ids).first(10)).ok());
    ASSERT_TRUE(model->Forward(&c, std::span(ids).first(3)).ok());
    SequenceState a1 = a, b1 = b, c1 = c, d1 = d;
    const std::vector<int32_t> next{7};
    const std::vector<StepItem> items{{&a, next},
                                      {&b, std::span(ids).subspan(5, 17), Logits::kAll},
                                      {&c, std::span(ids).subspan(3, 5), Logits::kNone},
                                      {&d, std::span(ids).subspan(20, 9)}};
    auto batched = model->Step(items);
    ASSERT_TRUE(batched.ok()) << batched.status();
    ASSERT_EQ(batched->size(), (1 + 17 + 1) * vocab);
    std::vector<float> alone = *model->Forward(&a1, next);
    const std::vector<float> b_all = *model->Forward(&b1, std::span(ids).subspan(5, 17), true);
    alone.insert(alone.end(), b_all.begin(), b_all.end());
    ASSERT_TRUE(model->Forward(&c1, std::span(ids).subspan(3, 5)).ok());
    const std::vector<float> d_last = *model->Forward(&d1, std::span(ids).subspan(20, 9));
    alone.insert(alone.end(), d_last.begin(), d_last.end());
    for (size_t v = 0; v < alone.size(); ++v) {
      ASSERT_EQ((*batched)[v], alone[v]) << v << (reference ? " (reference)" : " (cpu)");
    }
    // The states moved on exactly as alone, the chunk without logits included.
    for (const auto& [x, y] : {std::pair{&a, &a1}, {&b, &b1}, {&c, &c1}, {&d, &d1}}) {
      EXPECT_EQ(x->position, y->position);
      EXPECT_EQ(x->ssm, y->ssm);
      EXPECT_EQ(x->conv, y->conv);
      EXPECT_EQ(x->keys, y->keys);
      EXPECT_EQ(x->values, y->values);
    }
  }
}

// Hidden states for the classifier's heads: a layer's residual stream summed over an item's
// tokens, the same alone and in a batch, and over pieces of a prompt split at a chunk edge.
TEST_F(ModelTest, HiddenStatesAreSummedPerItem) {
  auto model = Tiny({});
  ASSERT_NE(model, nullptr);
  const std::vector<int32_t> ids = Prompt();
  const size_t H = 64;
  const int layer = 2;
  std::vector<float> whole(H, 0.0f);
  SequenceState s = model->NewSequence();
  StepItem item{&s, ids, Logits::kNone, layer, whole.data()};
  ASSERT_TRUE(model->Step({&item, 1}).ok());
  double norm = 0;
  for (float v : whole) norm += std::abs(v);
  EXPECT_GT(norm, 0.0);

  // In two pieces (a chunk edge), each in a batch with another sequence.
  std::vector<float> pieces(H, 0.0f), other(H, 0.0f);
  SequenceState a = model->NewSequence(), b = model->NewSequence();
  for (const auto& [from, count] : {std::pair<size_t, size_t>{0, 16}, {16, 24}}) {
    const std::vector<StepItem> items{
        {&b, std::span(ids).first(5), Logits::kLast, layer, other.data()},
        {&a, std::span(ids).subspan(from, count), Logits::kNone, layer, pieces.data()}};
    ASSERT_TRUE(model->Step(items).ok());
  }
  for (size_t d = 0; d < H; ++d) EXPECT_NEAR(pieces[d], whole[d], 1e-4 * (1 + std::abs(whole[d])));

  item.hidden_layer = 99;
  auto bad = model->Step({&item, 1});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("hidden_layer 99"), std::string::npos) << bad.status();
}

TEST_F(ModelTest, BadTokensAreRefusedAndLeaveTheStateAlone) {
  auto model = Tiny({});
  ASSERT_NE(model, nullptr);
  SequenceState s = model->NewSequence();
  auto r = model->Forward(&s, std::vector<int32_t>{1, 512});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "token 1: id 512 is outside the vocabulary (0 to 511)");
  EXPECT_EQ(s.position, 0);
  EXPECT_EQ(Model::Load((dir_ / "nothing").string()).status().code(), absl::StatusCode::kNotFound);
  // In a batch, the error names the sequence too, and no state moves.
  SequenceState t = model->NewSequence();
  const std::vector<int32_t> good{1, 2}, bad{3, -1};
  r = model->Step(std::vector<StepItem>{{&s, good}, {&t, bad}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "sequence 1, token 1: id -1 is outside the vocabulary (0 to 511)");
  EXPECT_EQ(s.position, 0);
  EXPECT_EQ(t.position, 0);
}

}  // namespace
}  // namespace airlock::engine
