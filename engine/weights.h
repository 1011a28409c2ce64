// ModelWeights: the tensors of a Nemotron-H model (engine/safetensors.h), bound by name to the
// layers of its ModelConfig, with every shape and dtype checked against the config.
//
// Names (docs/nemotron-h-spec.md §3.1), under the prefix `backbone.` (NVIDIA checkpoints) or
// `model.` (transformers 5), whichever the file uses:
//   embeddings.weight (or embedding.weight) [vocab, hidden]; norm_f.weight [hidden];
//   lm_head.weight [vocab, hidden] (no prefix; the embeddings when tie_word_embeddings);
//   layers.{i}.norm.weight [hidden], and per block type under layers.{i}.mixer.:
//   M: in_proj.weight [in_proj_dim, hidden], conv1d.weight [conv_dim, 1, K] (or [conv_dim, K]),
//      conv1d.bias [conv_dim] (when use_conv_bias), dt_bias / A_log / D [heads],
//      norm.weight [d_inner], out_proj.weight [hidden, d_inner];
//   *: q_proj [heads*head_dim, hidden], k_proj / v_proj [kv_heads*head_dim, hidden],
//      o_proj [hidden, heads*head_dim] (.weight each);
//   E: gate.weight [experts, hidden], gate.e_score_correction_bias [experts], per expert
//      experts.{e}.up_proj.weight [moe_inter, hidden] / down_proj.weight [hidden, moe_inter] or
//      fused experts.up_proj [experts, moe_inter, hidden] / experts.down_proj [experts, hidden,
//      moe_inter], and shared_experts.up_proj / down_proj .weight when n_shared_experts is 1;
//   -: up_proj.weight [inter, hidden], down_proj.weight [hidden, inter].
// Tensors the model does not use (mtp.*, anything else) are ignored.
//
// Errors are INVALID_ARGUMENT and name the tensor: "missing tensor 'backbone.layers.3.mixer.
// q_proj.weight' (layer 3, attention)", "tensor '...': shape [4096, 2688], expected [256, 2688]
// (num_key_value_heads x head_dim, hidden_size)", "tensor '...': dtype I64, expected BF16, F16
// or F32".
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model_config.h"
#include "engine/safetensors.h"

namespace airlock::engine {

struct MambaWeights {
  const Tensor* in_proj = nullptr;
  const Tensor* conv1d_weight = nullptr;
  const Tensor* conv1d_bias = nullptr;  // null without use_conv_bias
  const Tensor* dt_bias = nullptr;
  const Tensor* a_log = nullptr;
  const Tensor* d = nullptr;
  const Tensor* norm = nullptr;
  const Tensor* out_proj = nullptr;
};

struct AttentionWeights {
  const Tensor* q_proj = nullptr;
  const Tensor* k_proj = nullptr;
  const Tensor* v_proj = nullptr;
  const Tensor* o_proj = nullptr;
};

struct MoeWeights {
  const Tensor* gate = nullptr;
  const Tensor* score_bias = nullptr;  // e_score_correction_bias
  // Per-expert tensors, or (fused layout) one 3-D tensor each; exactly one of the two is set.
  std::vector<const Tensor*> up, down;
  const Tensor* up_fused = nullptr;
  const Tensor* down_fused = nullptr;
  const Tensor* shared_up = nullptr;  // null without a shared expert
  const Tensor* shared_down = nullptr;
};

struct MlpWeights {
  const Tensor* up = nullptr;
  const Tensor* down = nullptr;
};

struct LayerWeights {
  BlockType type = BlockType::kMamba;
  const Tensor* norm = nullptr;
  MambaWeights mamba;
  AttentionWeights attention;
  MoeWeights moe;
  MlpWeights mlp;
};

struct ModelWeights {
  std::string prefix;  // "backbone." or "model."
  const Tensor* embeddings = nullptr;
  const Tensor* norm_f = nullptr;
  const Tensor* lm_head = nullptr;  // the embeddings when tied
  std::vector<LayerWeights> layers;
};

absl::StatusOr<ModelWeights> BindWeights(const ModelConfig& config, const TensorStore& store);

}  // namespace airlock::engine
