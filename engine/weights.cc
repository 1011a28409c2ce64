#include "engine/weights.h"

#include <utility>

#include "engine/strings.h"

namespace airlock::engine {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

class Binder {
 public:
  Binder(const ModelConfig& c, const TensorStore& s) : c_(c), s_(s) {}

  // The tensor called name, with one of the shapes given (each with a description of where its
  // dimensions come from); `what` says which part of the model wants it.
  absl::StatusOr<const Tensor*> Get(const std::string& name, const std::string& what,
                                    const std::vector<std::vector<int64_t>>& shapes,
                                    const std::string& from) const {
    const Tensor* t = s_.Find(name);
    if (t == nullptr)
      return absl::InvalidArgumentError(Cat("missing tensor '", name, "' (", what, ")"));
    if (t->dtype == DType::kOther) {
      return absl::InvalidArgumentError(
          Cat("tensor '", name, "': dtype ", t->dtype_name, ", expected BF16, F16 or F32"));
    }
    for (const auto& shape : shapes) {
      if (t->shape == shape) return t;
    }
    return absl::InvalidArgumentError(Cat("tensor '", name, "': shape ", ShapeText(t->shape),
                                          ", expected ", ShapeText(shapes.front()), " (", from,
                                          ")"));
  }

  absl::StatusOr<ModelWeights> Bind() const {
    ModelWeights w;
    for (const char* p : {"backbone.", "model."}) {
      if (s_.Find(std::string(p) + "norm_f.weight") != nullptr ||
          s_.Find(std::string(p) + "embeddings.weight") != nullptr ||
          s_.Find(std::string(p) + "embedding.weight") != nullptr) {
        w.prefix = p;
        break;
      }
    }
    if (w.prefix.empty()) {
      return absl::InvalidArgumentError(
          "missing tensor 'backbone.embeddings.weight' (no tensor under backbone. or model.: not "
          "a Nemotron-H checkpoint?)");
    }
    const int64_t H = c_.hidden_size, V = c_.vocab_size;
    const std::string p = w.prefix;
    const std::string emb =
        s_.Find(p + "embedding.weight") != nullptr && s_.Find(p + "embeddings.weight") == nullptr
            ? p + "embedding.weight"
            : p + "embeddings.weight";
#define BIND(dst, ...)                \
  do {                                \
    auto t_ = Get(__VA_ARGS__);       \
    if (!t_.ok()) return t_.status(); \
    dst = *t_;                        \
  } while (false)
    BIND(w.embeddings, emb, "embeddings", {{V, H}}, "vocab_size, hidden_size");
    BIND(w.norm_f, p + "norm_f.weight", "final norm", {{H}}, "hidden_size");
    if (c_.tie_word_embeddings) {
      w.lm_head = w.embeddings;
    } else {
      BIND(w.lm_head, "lm_head.weight", "output projection", {{V, H}}, "vocab_size, hidden_size");
    }
    for (size_t i = 0; i < c_.layers.size(); ++i) {
      LayerWeights l;
      l.type = c_.layers[i];
      const std::string at = Cat(p, "layers.", i, ".");
      const std::string m = at + "mixer.";
      const std::string what = Cat("layer ", i, ", ", BlockName(l.type));
      BIND(l.norm, at + "norm.weight", what, {{H}}, "hidden_size");
      switch (l.type) {
        case BlockType::kMamba: {
          const int64_t heads = c_.mamba_num_heads, conv = c_.conv_dim();
          BIND(l.mamba.in_proj, m + "in_proj.weight", what, {{c_.in_proj_dim(), H}},
               "d_inner + conv_dim + mamba_num_heads, hidden_size");
          BIND(l.mamba.conv1d_weight, m + "conv1d.weight", what,
               {{conv, 1, c_.conv_kernel}, {conv, c_.conv_kernel}},
               "conv_dim = d_inner + 2 x n_groups x ssm_state_size, 1, conv_kernel");
          if (c_.use_conv_bias)
            BIND(l.mamba.conv1d_bias, m + "conv1d.bias", what, {{conv}}, "conv_dim");
          BIND(l.mamba.dt_bias, m + "dt_bias", what, {{heads}}, "mamba_num_heads");
          BIND(l.mamba.a_log, m + "A_log", what, {{heads}}, "mamba_num_heads");
          BIND(l.mamba.d, m + "D", what, {{heads}}, "mamba_num_heads");
          BIND(l.mamba.norm, m + "norm.weight", what, {{c_.d_inner()}},
               "d_inner = mamba_num_heads x mamba_head_dim");
          BIND(l.mamba.out_proj, m + "out_proj.weight", what, {{H, c_.d_inner()}},
               "hidden_size, d_inner");
          break;
        }
        case BlockType::kAttention: {
          const int64_t q = c_.num_attention_heads * c_.head_dim;
          const int64_t kv = c_.num_key_value_heads * c_.head_dim;
          BIND(l.attention.q_proj, m + "q_proj.weight", what, {{q, H}},
               "num_attention_heads x head_dim, hidden_size");
          BIND(l.attention.k_proj, m + "k_proj.weight", what, {{kv, H}},
               "num_key_value_heads x head_dim, hidden_size");
          BIND(l.attention.v_proj, m + "v_proj.weight", what, {{kv, H}},
               "num_key_value_heads x head_dim, hidden_size");
          BIND(l.attention.o_proj, m + "o_proj.weight", what, {{H, q}},
               "hidden_size, num_attention_heads x head_dim");
          break;
        }
        case BlockType::kMoe: {
          const int64_t E = c_.n_routed_experts, I = c_.moe_intermediate_size;
          BIND(l.moe.gate, m + "gate.weight", what, {{E, H}}, "n_routed_experts, hidden_size");
          BIND(l.moe.score_bias, m + "gate.e_score_correction_bias", what, {{E}},
               "n_routed_experts");
          if (s_.Find(m + "experts.up_proj") != nullptr) {
            BIND(l.moe.up_fused, m + "experts.up_proj", what, {{E, I, H}},
                 "n_routed_experts, moe_intermediate_size, hidden_size");
            BIND(l.moe.down_fused, m + "experts.down_proj", what, {{E, H, I}},
                 "n_routed_experts, hidden_size, moe_intermediate_size");
          } else {
            for (int64_t e = 0; e < E; ++e) {
              const std::string ex = Cat(m, "experts.", e, ".");
              const Tensor* up = nullptr;
              const Tensor* down = nullptr;
              BIND(up, ex + "up_proj.weight", what, {{I, H}}, "moe_intermediate_size, hidden_size");
              BIND(down, ex + "down_proj.weight", what, {{H, I}},
                   "hidden_size, moe_intermediate_size");
              l.moe.up.push_back(up);
              l.moe.down.push_back(down);
            }
          }
          if (c_.n_shared_experts > 0) {
            const int64_t S = c_.moe_shared_expert_intermediate_size;
            BIND(l.moe.shared_up, m + "shared_experts.up_proj.weight", what, {{S, H}},
                 "moe_shared_expert_intermediate_size, hidden_size");
            BIND(l.moe.shared_down, m + "shared_experts.down_proj.weight", what, {{H, S}},
                 "hidden_size, moe_shared_expert_intermediate_size");
          }
          break;
        }
        case BlockType::kMlp: {
          const int64_t I = c_.intermediate_size;
          BIND(l.mlp.up, m + "up_proj.weight", what, {{I, H}}, "intermediate_size, hidden_size");
          BIND(l.mlp.down, m + "down_proj.weight", what, {{H, I}},
               "hidden_size, intermediate_size");
          break;
        }
      }
      w.layers.push_back(std::move(l));
    }
#undef BIND
    return w;
  }

 private:
  const ModelConfig& c_;
  const TensorStore& s_;
};

}  // namespace

absl::StatusOr<ModelWeights> BindWeights(const ModelConfig& config, const TensorStore& store) {
  return Binder(config, store).Bind();
}

}  // namespace airlock::engine
