// ModelConfig: what the engine needs from a Hugging Face `config.json` of a Nemotron-H model
// (NemotronHForCausalLM: Nemotron 3 Nano, Nemotron-H, Nano-v2), checked and normalised.
//
// The layer layout comes from `hybrid_override_pattern` (one letter per layer: M Mamba-2,
// * attention, E MoE, - dense MLP) or from `layers_block_type` (a list of names: mamba /
// linear_attention, attention / full_attention, moe, mlp); when both are given they must agree.
// `num_hidden_layers`, when given, must equal the layout's length.
// Legacy key names are read as their current ones (mamba_n_groups -> n_groups, mamba_d_conv
// -> conv_kernel, mamba_chunk_size -> chunk_size, mamba_dt_limit -> time_step_limit, norm_eps ->
// layer_norm_epsilon); giving both spellings with different values is an error.
// Numbers may be written as JSON numbers or as the non-standard `Infinity`, `-Infinity` and
// `NaN` (and the {"__float__": "Infinity"} spelling of transformers 5), which real configs
// contain (`time_step_limit: [0.0, Infinity]`).
// d_inner is mamba_num_heads x mamba_head_dim, never expand x hidden_size (spec §7.2).
// Keys the engine does not use (rope_theta, expand, time_step_min, ...) are ignored.
//
// Errors are INVALID_ARGUMENT "FILE: KEY: what is wrong (expected ...)", naming the key.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace airlock::engine {

enum class BlockType { kMamba, kAttention, kMoe, kMlp };

char BlockLetter(BlockType t);                          // 'M', '*', 'E', '-'
std::optional<BlockType> BlockFromLetter(char letter);  // nullopt for any other letter
std::string_view BlockName(BlockType t);                // "mamba", "attention", "moe", "mlp"

struct ModelConfig {
  std::vector<BlockType> layers;
  int64_t hidden_size = 0;
  int64_t vocab_size = 0;
  double norm_eps = 1e-5;  // layer_norm_epsilon: every RMSNorm, the gated one included
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;
  int64_t pad_token_id = 0;

  // Mamba-2 (layers M)
  int64_t mamba_num_heads = 0;
  int64_t mamba_head_dim = 0;
  int64_t ssm_state_size = 0;
  int64_t n_groups = 1;
  int64_t conv_kernel = 4;
  int64_t chunk_size = 128;
  bool use_conv_bias = true;
  double time_step_limit_min = 0.0;  // dt is clamped to [min, max] after softplus
  double time_step_limit_max = std::numeric_limits<double>::infinity();

  // Attention (layers *)
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // default hidden_size / num_attention_heads

  // MoE (layers E)
  int64_t n_routed_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  int64_t moe_shared_expert_intermediate_size = 0;
  int64_t n_shared_experts = 0;  // 0 or 1
  double routed_scaling_factor = 1.0;
  bool norm_topk_prob = true;

  // Dense MLP (layers -)
  int64_t intermediate_size = 0;

  int64_t d_inner() const { return mamba_num_heads * mamba_head_dim; }
  int64_t conv_dim() const { return d_inner() + 2 * n_groups * ssm_state_size; }
  // in_proj output: z (d_inner), xBC (conv_dim), dt (one per head).
  int64_t in_proj_dim() const { return d_inner() + conv_dim() + mamba_num_heads; }
  bool has(BlockType t) const;
  std::string pattern() const;  // "MEM*E-ME"
};

// Parses config.json text; `filename` names it in errors.
absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json, std::string_view filename);
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

// A config.json for c in the Hugging Face layout (architectures, model_type,
// hybrid_override_pattern and every field above), which ParseModelConfig reads back as c.
std::string ModelConfigJson(const ModelConfig& c);

}  // namespace airlock::engine
