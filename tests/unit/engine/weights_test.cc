// BindWeights and the synthetic models: every layout the spec lists binds (both prefixes, both
// embedding names, per-expert and fused experts, shards), and a missing, misshapen or mistyped
// tensor is refused with its name.
#include "engine/weights.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "engine/synth.h"
#include "gtest/gtest.h"

namespace airlock::engine {
namespace {

namespace fs = std::filesystem;

class WeightsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("weights_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    config_ = *PresetConfig("tiny");
  }
  void TearDown() override { fs::remove_all(dir_); }

  absl::StatusOr<ModelWeights> Bind(const std::string& dir) {
    store_ = nullptr;
    auto store = TensorStore::Open(dir);
    if (!store.ok()) return store.status();
    store_ = std::move(*store);
    return BindWeights(config_, *store_);
  }

  // Rewrites the tiny model with `edit` applied to its tensors, and binds it.
  std::string BindError(const std::function<void(std::vector<TensorData>*)>& edit) {
    const std::string src = (dir_ / "src").string(), dst = (dir_ / "dst").string();
    EXPECT_TRUE(SynthesizeModel(config_, src, {}).ok());
    auto store = TensorStore::Open(src);
    EXPECT_TRUE(store.ok());
    std::vector<TensorData> tensors;
    for (const std::string& name : (*store)->names()) {
      const Tensor* t = (*store)->Find(name);
      tensors.push_back({name, t->dtype, t->shape,
                         std::string(reinterpret_cast<const char*>(t->data), t->bytes)});
    }
    edit(&tensors);
    fs::create_directories(dst);
    EXPECT_TRUE(WriteSafetensors(dst + "/model.safetensors", tensors).ok());
    auto w = Bind(dst);
    EXPECT_FALSE(w.ok());
    fs::remove_all(src);
    fs::remove_all(dst);
    return w.ok() ? "" : std::string(w.status().message());
  }

  fs::path dir_;
  ModelConfig config_;
  std::unique_ptr<TensorStore> store_;
};

TEST_F(WeightsTest, EveryLayoutOfTheSpecBinds) {
  struct Variant {
    const char* name;
    SynthOptions options;
  };
  SynthOptions fused, model_prefix, singular, sharded, f32;
  fused.fused_experts = true;
  model_prefix.prefix = "model.";
  singular.singular_embedding = true;
  sharded.shard_bytes = 64 << 10;
  f32.dtype = DType::kF32;
  for (const Variant& v :
       {Variant{"default", {}}, Variant{"fused", fused}, Variant{"model_prefix", model_prefix},
        Variant{"singular", singular}, Variant{"sharded", sharded}, Variant{"f32", f32}}) {
    const std::string dir = (dir_ / v.name).string();
    ASSERT_TRUE(SynthesizeModel(config_, dir, v.options).ok()) << v.name;
    auto loaded = LoadModelConfig(dir + "/config.json");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->pattern(), "MEM*E-ME");
    auto w = Bind(dir);
    ASSERT_TRUE(w.ok()) << v.name << ": " << w.status();
    ASSERT_EQ(w->layers.size(), 8u);
    EXPECT_EQ(w->prefix, v.options.prefix);
    EXPECT_EQ(w->layers[0].mamba.in_proj->shape, (std::vector<int64_t>{8 * 16 + 192 + 8, 64}));
    EXPECT_EQ(w->layers[3].attention.k_proj->shape, (std::vector<int64_t>{32, 64}));
    EXPECT_EQ(w->layers[1].moe.score_bias->dtype, DType::kF32);
    EXPECT_EQ(w->layers[5].mlp.up->shape, (std::vector<int64_t>{48, 64}));
    if (v.options.fused_experts) {
      EXPECT_EQ(w->layers[1].moe.up_fused->shape, (std::vector<int64_t>{8, 32, 64}));
      EXPECT_TRUE(w->layers[1].moe.up.empty());
    } else {
      EXPECT_EQ(w->layers[1].moe.up.size(), 8u);
    }
    EXPECT_NE(w->lm_head, w->embeddings);
  }
  EXPECT_GT(std::distance(fs::directory_iterator(dir_ / "sharded"), fs::directory_iterator{}), 3);
}

TEST_F(WeightsTest, SameSeedSameWeightsWhateverTheSharding) {
  SynthOptions sharded;
  sharded.shard_bytes = 32 << 10;
  ASSERT_TRUE(SynthesizeModel(config_, (dir_ / "a").string(), {}).ok());
  ASSERT_TRUE(SynthesizeModel(config_, (dir_ / "b").string(), sharded).ok());
  SynthOptions other_seed;
  other_seed.seed = 1;
  ASSERT_TRUE(SynthesizeModel(config_, (dir_ / "c").string(), other_seed).ok());
  auto a = TensorStore::Open((dir_ / "a").string());
  auto b = TensorStore::Open((dir_ / "b").string());
  auto c = TensorStore::Open((dir_ / "c").string());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_EQ((*a)->names(), (*b)->names());
  for (const std::string& name : (*a)->names()) {
    const Tensor* x = (*a)->Find(name);
    const Tensor* y = (*b)->Find(name);
    ASSERT_EQ(x->bytes, y->bytes) << name;
    EXPECT_EQ(std::memcmp(x->data, y->data, x->bytes), 0) << name;
  }
  const Tensor* x = (*a)->Find("backbone.layers.0.mixer.in_proj.weight");
  const Tensor* z = (*c)->Find("backbone.layers.0.mixer.in_proj.weight");
  EXPECT_NE(std::memcmp(x->data, z->data, x->bytes), 0);
}

TEST_F(WeightsTest, MissingMisshapenAndMistypedTensorsAreNamed) {
  auto drop = [](const std::string& name) {
    return [name](std::vector<TensorData>* ts) {
      std::erase_if(*ts, [&](const TensorData& t) { return t.name == name; });
    };
  };
  EXPECT_EQ(BindError(drop("backbone.layers.3.mixer.q_proj.weight")),
            "missing tensor 'backbone.layers.3.mixer.q_proj.weight' (layer 3, attention)");
  EXPECT_EQ(BindError(drop("backbone.layers.1.mixer.experts.5.down_proj.weight")),
            "missing tensor 'backbone.layers.1.mixer.experts.5.down_proj.weight' (layer 1, moe)");
  EXPECT_EQ(BindError(drop("lm_head.weight")),
            "missing tensor 'lm_head.weight' (output projection)");
  EXPECT_EQ(BindError([](std::vector<TensorData>* ts) {
              for (TensorData& t : *ts) {
                if (t.name == "backbone.layers.0.mixer.A_log") {
                  t.shape = {4, 2};
                }
              }
            }),
            "tensor 'backbone.layers.0.mixer.A_log': shape [4, 2], expected [8] "
            "(mamba_num_heads)");
  EXPECT_EQ(BindError([](std::vector<TensorData>* ts) {
              for (TensorData& t : *ts) {
                if (t.name == "backbone.embeddings.weight") t.shape = {64, 512};
              }
            }),
            "tensor 'backbone.embeddings.weight': shape [64, 512], expected [512, 64] "
            "(vocab_size, hidden_size)");
  // A dtype the engine does not compute with: the file's only F32 tensors are the score
  // biases (BF16 model), and the first in the header becomes I32 (same size, same length).
  const std::string dir = (dir_ / "i32").string();
  ASSERT_TRUE(SynthesizeModel(config_, dir, {}).ok());
  {
    std::fstream f(dir + "/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    std::string head(1 << 16, '\0');
    f.read(head.data(), static_cast<std::streamsize>(head.size()));
    const size_t at = head.find("\"dtype\":\"F32\"");
    ASSERT_NE(at, std::string::npos);
    f.clear();
    f.seekp(static_cast<std::streamoff>(at + 9));
    f.write("I32", 3);
  }
  auto w = Bind(dir);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().message(),
            "tensor 'backbone.layers.1.mixer.gate.e_score_correction_bias': dtype I32, expected "
            "BF16, F16 or F32");
}

}  // namespace
}  // namespace airlock::engine
