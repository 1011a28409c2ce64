// ModelConfig: every spelling the spec lists is read (pattern or layer list, legacy keys,
// Infinity), the derived sizes follow the spec, and every mistake names its key.
#include "engine/model_config.h"

#include <cmath>
#include <string>

#include "engine/synth.h"
#include "gtest/gtest.h"

namespace airlock::engine {
namespace {

// The real Nemotron 3 Nano config.json, as transformers writes it (spec §1.2).
constexpr char kNano[] = R"({
  "architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
  "hidden_size": 2688, "num_hidden_layers": 52,
  "hybrid_override_pattern": "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME",
  "mamba_num_heads": 64, "mamba_head_dim": 64, "ssm_state_size": 128, "n_groups": 8,
  "conv_kernel": 4, "chunk_size": 128, "expand": 2, "use_conv_bias": true,
  "time_step_limit": [0.0, Infinity], "time_step_min": 0.001,
  "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 128, "rope_theta": 10000,
  "n_routed_experts": 128, "num_experts_per_tok": 6, "moe_intermediate_size": 1856,
  "intermediate_size": 1856, "n_shared_experts": 1, "moe_shared_expert_intermediate_size": 3712,
  "routed_scaling_factor": 2.5, "n_group": 1, "topk_group": 1, "norm_topk_prob": true,
  "vocab_size": 131072, "layer_norm_epsilon": 1e-05, "tie_word_embeddings": false,
  "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "mlp_hidden_act": "relu2"
})";

std::string Error(const std::string& json) {
  auto c = ParseModelConfig(json, "config.json");
  EXPECT_FALSE(c.ok());
  return c.ok() ? "" : std::string(c.status().message());
}

std::string Edit(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(ModelConfig, ReadsTheRealNanoConfig) {
  auto c = ParseModelConfig(kNano, "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->layers.size(), 52u);
  EXPECT_EQ(c->pattern().substr(0, 7), "MEMEM*E");
  EXPECT_EQ(c->layers[5], BlockType::kAttention);
  // d_inner is heads x head_dim (4096), not expand x hidden (5376); spec §7.2.
  EXPECT_EQ(c->d_inner(), 4096);
  EXPECT_EQ(c->conv_dim(), 6144);
  EXPECT_EQ(c->in_proj_dim(), 10304);
  EXPECT_TRUE(std::isinf(c->time_step_limit_max));
  EXPECT_EQ(c->time_step_limit_min, 0.0);
  EXPECT_EQ(c->num_experts_per_tok, 6);
  EXPECT_DOUBLE_EQ(c->routed_scaling_factor, 2.5);
  EXPECT_DOUBLE_EQ(c->norm_eps, 1e-5);
}

TEST(ModelConfig, LayerListsLegacyKeysAndOtherSpellings) {
  // layers_block_type with old and new names instead of the pattern; legacy key names; the
  // transformers 5 spelling of Infinity; eos as a list.
  const std::string text = R"({
    "hidden_size": 32, "vocab_size": 99,
    "layers_block_type": ["mamba", "moe", "linear_attention", "full_attention", "mlp"],
    "mamba_num_heads": 8, "mamba_head_dim": 16, "ssm_state_size": 16, "mamba_n_groups": 8,
    "mamba_d_conv": 4, "mamba_chunk_size": 64, "mamba_dt_limit": [0.0, {"__float__": "Infinity"}],
    "num_attention_heads": 4, "num_key_value_heads": 2,
    "n_routed_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 40,
    "n_shared_experts": 1, "moe_shared_expert_intermediate_size": 40, "intermediate_size": 40,
    "norm_eps": 1e-6, "eos_token_id": [2, 11]
  })";
  auto c = ParseModelConfig(text, "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->pattern(), "MEM*-");
  EXPECT_EQ(c->n_groups, 8);
  EXPECT_EQ(c->conv_kernel, 4);
  EXPECT_EQ(c->chunk_size, 64);
  EXPECT_TRUE(std::isinf(c->time_step_limit_max));
  EXPECT_EQ(c->head_dim, 8);  // hidden_size / num_attention_heads when not given
  EXPECT_DOUBLE_EQ(c->norm_eps, 1e-6);
  EXPECT_EQ(c->eos_token_id, 2);
}

TEST(ModelConfig, WrittenConfigReadsBackTheSame) {
  for (const char* preset : {"tiny", "bench", "nano"}) {
    auto c = PresetConfig(preset);
    ASSERT_TRUE(c.ok());
    auto again = ParseModelConfig(ModelConfigJson(*c), "config.json");
    ASSERT_TRUE(again.ok()) << preset << ": " << again.status();
    EXPECT_EQ(again->pattern(), c->pattern());
    EXPECT_EQ(again->in_proj_dim(), c->in_proj_dim());
    EXPECT_EQ(again->n_groups, c->n_groups);
    EXPECT_EQ(again->moe_shared_expert_intermediate_size, c->moe_shared_expert_intermediate_size);
    EXPECT_TRUE(std::isinf(again->time_step_limit_max));
  }
}

TEST(ModelConfig, MistakesNameTheKey) {
  EXPECT_EQ(Error("{ \"hidden_size\": 2688").rfind("config.json: not valid JSON: ", 0), 0u);
  EXPECT_EQ(Error("[1, 2]"), "config.json: expected a JSON object");
  EXPECT_EQ(Error(Edit(kNano, "MEMEM*E", "MEMEX*E")),
            "config.json: hybrid_override_pattern: unknown layer letter 'X' at position 4 "
            "(expected M, *, E or -)");
  EXPECT_EQ(Error(Edit(kNano, "\"num_hidden_layers\": 52", "\"num_hidden_layers\": 50")),
            "config.json: num_hidden_layers: 50 but the layout has 52 layers");
  EXPECT_EQ(Error(Edit(kNano, "\"mamba_head_dim\": 64, ", "")),
            "config.json: mamba_head_dim: missing (expected an integer >= 1)");
  EXPECT_EQ(Error(Edit(kNano, "\"hidden_size\": 2688", "\"hidden_size\": \"2688\"")),
            "config.json: hidden_size: expected an integer >= 1, got \"2688\"");
  EXPECT_EQ(Error(Edit(kNano, "\"n_groups\": 8", "\"n_groups\": 6")),
            "config.json: n_groups: 6 does not divide mamba_num_heads 64");
  EXPECT_EQ(Error(Edit(kNano, "\"n_groups\": 8", "\"n_groups\": 8, \"mamba_n_groups\": 4")),
            "config.json: n_groups: given as 8 and under its legacy name 'mamba_n_groups' as 4 "
            "(expected one value)");
  EXPECT_EQ(Error(Edit(kNano, "[0.0, Infinity]", "[1.0, 0.5]")),
            "config.json: time_step_limit: expected [min, max] with min <= max (Infinity "
            "allowed), got [1.0,0.5]");
  EXPECT_EQ(Error(Edit(kNano, "\"num_experts_per_tok\": 6", "\"num_experts_per_tok\": 200")),
            "config.json: num_experts_per_tok: 200 is more than n_routed_experts 128");
  EXPECT_EQ(Error(Edit(kNano, "\"n_group\": 1", "\"n_group\": 4")),
            "config.json: n_group: 4 (only 1 is supported: plain top-k)");
  EXPECT_EQ(Error(Edit(kNano, "\"hybrid_override_pattern\"", "\"pattern\"")),
            "config.json: hybrid_override_pattern: missing (expected it or layers_block_type to "
            "give the layer layout)");
  EXPECT_EQ(LoadModelConfig("/nonexistent/config.json").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace airlock::engine
