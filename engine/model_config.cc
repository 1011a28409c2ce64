#include "engine/model_config.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "engine/strings.h"
#include "nlohmann/json.hpp"

namespace airlock::engine {
namespace {

using Json = nlohmann::json;

// The text with the bare tokens Infinity, -Infinity and NaN (outside strings) quoted, so that a
// standard JSON parser reads them; Number() then reads the strings back.
std::string QuoteNonFinite(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < in.size()) {
        out.push_back(in[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out.push_back(c);
      continue;
    }
    bool replaced = false;
    for (std::string_view token : {"-Infinity", "Infinity", "NaN"}) {
      if (in.substr(i, token.size()) == token) {
        out.append("\"").append(token).append("\"");
        i += token.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out.push_back(c);
  }
  return out;
}

class Reader {
 public:
  Reader(const Json& j, std::string_view filename) : j_(j), filename_(filename) {}

  absl::Status Error(std::string_view key, std::string_view what) const {
    return absl::InvalidArgumentError(Cat(filename_, ": ", key, ": ", what));
  }

  // The value under key or its legacy name (both given and different: an error).
  absl::StatusOr<const Json*> Find(std::string_view key, std::string_view legacy = {}) const {
    const Json* a =
        j_.contains(key) && !j_.at(std::string(key)).is_null() ? &j_.at(std::string(key)) : nullptr;
    const Json* b = !legacy.empty() && j_.contains(legacy) && !j_.at(std::string(legacy)).is_null()
                        ? &j_.at(std::string(legacy))
                        : nullptr;
    if (a != nullptr && b != nullptr && *a != *b) {
      return Error(key, Cat("given as ", a->dump(), " and under its legacy name '", legacy, "' as ",
                            b->dump(), " (expected one value)"));
    }
    return a != nullptr ? a : b;
  }

  static std::optional<double> Number(const Json& v) {
    if (v.is_number()) return v.get<double>();
    const Json* s = &v;
    if (v.is_object() && v.size() == 1 && v.contains("__float__")) s = &v.at("__float__");
    if (s->is_string()) {
      const std::string& t = s->get_ref<const std::string&>();
      if (t == "Infinity") return std::numeric_limits<double>::infinity();
      if (t == "-Infinity") return -std::numeric_limits<double>::infinity();
      if (t == "NaN") return std::numeric_limits<double>::quiet_NaN();
    }
    return std::nullopt;
  }

  // An integer >= min (absent: *out unchanged unless required).
  absl::Status Int(std::string_view key, int64_t* out, bool required, int64_t min = 1,
                   std::string_view legacy = {}) const {
    auto v = Find(key, legacy);
    if (!v.ok()) return v.status();
    if (*v == nullptr) {
      return required ? Error(key, Cat("missing (expected an integer >= ", min, ")"))
                      : absl::OkStatus();
    }
    if (!(*v)->is_number_integer() || (*v)->get<int64_t>() < min) {
      return Error(key, Cat("expected an integer >= ", min, ", got ", (*v)->dump()));
    }
    *out = (*v)->get<int64_t>();
    return absl::OkStatus();
  }

  absl::Status Real(std::string_view key, double* out, std::string_view legacy = {}) const {
    auto v = Find(key, legacy);
    if (!v.ok()) return v.status();
    if (*v == nullptr) return absl::OkStatus();
    std::optional<double> d = Number(**v);
    if (!d || std::isnan(*d)) return Error(key, Cat("expected a number, got ", (*v)->dump()));
    *out = *d;
    return absl::OkStatus();
  }

  absl::Status Bool(std::string_view key, bool* out) const {
    auto v = Find(key);
    if (!v.ok()) return v.status();
    if (*v == nullptr) return absl::OkStatus();
    if (!(*v)->is_boolean()) return Error(key, Cat("expected true or false, got ", (*v)->dump()));
    *out = (*v)->get<bool>();
    return absl::OkStatus();
  }

 private:
  const Json& j_;
  std::string_view filename_;
};

std::optional<BlockType> BlockFromName(std::string_view n) {
  if (n == "mamba" || n == "linear_attention" || n == "M") return BlockType::kMamba;
  if (n == "attention" || n == "full_attention" || n == "*") return BlockType::kAttention;
  if (n == "moe" || n == "E") return BlockType::kMoe;
  if (n == "mlp" || n == "-") return BlockType::kMlp;
  return std::nullopt;
}

#define AIRLOCK_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    if (absl::Status s_ = (expr); !s_.ok()) return s_; \
  } while (false)

}  // namespace

std::optional<BlockType> BlockFromLetter(char c) {
  switch (c) {
    case 'M':
      return BlockType::kMamba;
    case '*':
      return BlockType::kAttention;
    case 'E':
      return BlockType::kMoe;
    case '-':
      return BlockType::kMlp;
    default:
      return std::nullopt;
  }
}

char BlockLetter(BlockType t) {
  switch (t) {
    case BlockType::kMamba:
      return 'M';
    case BlockType::kAttention:
      return '*';
    case BlockType::kMoe:
      return 'E';
    case BlockType::kMlp:
      return '-';
  }
  return '?';
}

std::string_view BlockName(BlockType t) {
  switch (t) {
    case BlockType::kMamba:
      return "mamba";
    case BlockType::kAttention:
      return "attention";
    case BlockType::kMoe:
      return "moe";
    case BlockType::kMlp:
      return "mlp";
  }
  return "?";
}

bool ModelConfig::has(BlockType t) const {
  for (BlockType l : layers) {
    if (l == t) return true;
  }
  return false;
}

std::string ModelConfig::pattern() const {
  std::string p;
  for (BlockType l : layers) p.push_back(BlockLetter(l));
  return p;
}

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view text, std::string_view filename) {
  Json j;
  try {
    j = Json::parse(QuoteNonFinite(text));
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(Cat(filename, ": not valid JSON: ", e.what()));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(Cat(filename, ": expected a JSON object"));
  }
  const Reader r(j, filename);
  ModelConfig c;

  // Layout.
  std::optional<std::vector<BlockType>> from_pattern, from_list;
  if (j.contains("hybrid_override_pattern") && !j["hybrid_override_pattern"].is_null()) {
    const Json& p = j["hybrid_override_pattern"];
    if (!p.is_string() || p.get_ref<const std::string&>().empty()) {
      return r.Error("hybrid_override_pattern",
                     "expected a non-empty string of M, *, E and - (one letter per layer)");
    }
    from_pattern.emplace();
    const std::string& s = p.get_ref<const std::string&>();
    for (size_t i = 0; i < s.size(); ++i) {
      auto t = BlockFromLetter(s[i]);
      if (!t) {
        return r.Error("hybrid_override_pattern",
                       Cat("unknown layer letter '", std::string(1, s[i]), "' at position ", i,
                           " (expected M, *, E or -)"));
      }
      from_pattern->push_back(*t);
    }
  }
  if (j.contains("layers_block_type") && !j["layers_block_type"].is_null()) {
    const Json& l = j["layers_block_type"];
    if (!l.is_array() || l.empty()) {
      return r.Error("layers_block_type", "expected a non-empty list of layer types");
    }
    from_list.emplace();
    for (size_t i = 0; i < l.size(); ++i) {
      auto t = l[i].is_string() ? BlockFromName(l[i].get_ref<const std::string&>()) : std::nullopt;
      if (!t) {
        return r.Error("layers_block_type",
                       Cat("entry ", i, " is ", l[i].dump(),
                           " (expected mamba, attention, moe or mlp, or their "
                           "transformers names linear_attention, full_attention)"));
      }
      from_list->push_back(*t);
    }
  }
  if (!from_pattern && !from_list) {
    return r.Error("hybrid_override_pattern",
                   "missing (expected it or layers_block_type to give the layer layout)");
  }
  if (from_pattern && from_list && *from_pattern != *from_list) {
    return r.Error("layers_block_type", "disagrees with hybrid_override_pattern");
  }
  c.layers = from_pattern ? *from_pattern : *from_list;
  int64_t n_layers = 0;
  AIRLOCK_RETURN_IF_ERROR(r.Int("num_hidden_layers", &n_layers, false));
  if (n_layers != 0 && n_layers != static_cast<int64_t>(c.layers.size())) {
    return r.Error("num_hidden_layers",
                   Cat(n_layers, " but the layout has ", c.layers.size(), " layers"));
  }

  AIRLOCK_RETURN_IF_ERROR(r.Int("hidden_size", &c.hidden_size, true));
  AIRLOCK_RETURN_IF_ERROR(r.Int("vocab_size", &c.vocab_size, true));
  AIRLOCK_RETURN_IF_ERROR(r.Real("layer_norm_epsilon", &c.norm_eps, "norm_eps"));
  if (!(c.norm_eps > 0)) return r.Error("layer_norm_epsilon", "expected a number > 0");
  AIRLOCK_RETURN_IF_ERROR(r.Bool("tie_word_embeddings", &c.tie_word_embeddings));
  AIRLOCK_RETURN_IF_ERROR(r.Int("bos_token_id", &c.bos_token_id, false, 0));
  AIRLOCK_RETURN_IF_ERROR(r.Int("pad_token_id", &c.pad_token_id, false, 0));
  if (j.contains("eos_token_id") && j["eos_token_id"].is_array()) {  // a list: the first
    const Json& e = j["eos_token_id"];
    if (e.empty() || !e[0].is_number_integer()) {
      return r.Error("eos_token_id", "expected an integer or a non-empty list of integers");
    }
    c.eos_token_id = e[0].get<int64_t>();
  } else {
    AIRLOCK_RETURN_IF_ERROR(r.Int("eos_token_id", &c.eos_token_id, false, 0));
  }

  const bool mamba = c.has(BlockType::kMamba), attention = c.has(BlockType::kAttention),
             moe = c.has(BlockType::kMoe), mlp = c.has(BlockType::kMlp);
  AIRLOCK_RETURN_IF_ERROR(r.Int("mamba_num_heads", &c.mamba_num_heads, mamba));
  AIRLOCK_RETURN_IF_ERROR(r.Int("mamba_head_dim", &c.mamba_head_dim, mamba));
  AIRLOCK_RETURN_IF_ERROR(r.Int("ssm_state_size", &c.ssm_state_size, mamba));
  AIRLOCK_RETURN_IF_ERROR(r.Int("n_groups", &c.n_groups, false, 1, "mamba_n_groups"));
  AIRLOCK_RETURN_IF_ERROR(r.Int("conv_kernel", &c.conv_kernel, false, 1, "mamba_d_conv"));
  AIRLOCK_RETURN_IF_ERROR(r.Int("chunk_size", &c.chunk_size, false, 1, "mamba_chunk_size"));
  AIRLOCK_RETURN_IF_ERROR(r.Bool("use_conv_bias", &c.use_conv_bias));
  if (auto v = r.Find("time_step_limit", "mamba_dt_limit"); !v.ok()) {
    return v.status();
  } else if (*v != nullptr) {
    const Json& l = **v;
    std::optional<double> lo, hi;
    if (l.is_array() && l.size() == 2) {
      lo = Reader::Number(l[0]);
      hi = Reader::Number(l[1]);
    }
    if (!lo || !hi || std::isnan(*lo) || std::isnan(*hi) || *lo > *hi) {
      return r.Error("time_step_limit",
                     Cat("expected [min, max] with min <= max (Infinity allowed), got ", l.dump()));
    }
    c.time_step_limit_min = *lo;
    c.time_step_limit_max = *hi;
  }
  if (mamba && c.mamba_num_heads % c.n_groups != 0) {
    return r.Error("n_groups",
                   Cat(c.n_groups, " does not divide mamba_num_heads ", c.mamba_num_heads));
  }

  AIRLOCK_RETURN_IF_ERROR(r.Int("num_attention_heads", &c.num_attention_heads, attention));
  AIRLOCK_RETURN_IF_ERROR(r.Int("num_key_value_heads", &c.num_key_value_heads, false));
  if (c.num_key_value_heads == 0) c.num_key_value_heads = c.num_attention_heads;
  AIRLOCK_RETURN_IF_ERROR(r.Int("head_dim", &c.head_dim, false));
  if (c.head_dim == 0 && c.num_attention_heads > 0) {
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (attention && c.num_attention_heads % c.num_key_value_heads != 0) {
    return r.Error(
        "num_key_value_heads",
        Cat(c.num_key_value_heads, " does not divide num_attention_heads ", c.num_attention_heads));
  }

  AIRLOCK_RETURN_IF_ERROR(r.Int("n_routed_experts", &c.n_routed_experts, moe));
  AIRLOCK_RETURN_IF_ERROR(r.Int("num_experts_per_tok", &c.num_experts_per_tok, moe));
  AIRLOCK_RETURN_IF_ERROR(r.Int("moe_intermediate_size", &c.moe_intermediate_size, moe));
  AIRLOCK_RETURN_IF_ERROR(r.Int("n_shared_experts", &c.n_shared_experts, false, 0));
  if (c.n_shared_experts > 1) {
    return r.Error("n_shared_experts", "at most 1 shared expert is supported");
  }
  AIRLOCK_RETURN_IF_ERROR(r.Int("moe_shared_expert_intermediate_size",
                                &c.moe_shared_expert_intermediate_size,
                                moe && c.n_shared_experts > 0));
  AIRLOCK_RETURN_IF_ERROR(r.Real("routed_scaling_factor", &c.routed_scaling_factor));
  AIRLOCK_RETURN_IF_ERROR(r.Bool("norm_topk_prob", &c.norm_topk_prob));
  if (moe && c.num_experts_per_tok > c.n_routed_experts) {
    return r.Error(
        "num_experts_per_tok",
        Cat(c.num_experts_per_tok, " is more than n_routed_experts ", c.n_routed_experts));
  }
  for (const char* key : {"n_group", "topk_group"}) {  // group-limited top-k: only 1 / 1
    int64_t v = 1;
    AIRLOCK_RETURN_IF_ERROR(r.Int(key, &v, false));
    if (v != 1) return r.Error(key, Cat(v, " (only 1 is supported: plain top-k)"));
  }
  if (auto v = r.Find("moe_latent_size"); v.ok() && *v != nullptr) {
    return r.Error("moe_latent_size", "latent MoE (Nemotron 3 Super) is not supported");
  }
  AIRLOCK_RETURN_IF_ERROR(r.Int("intermediate_size", &c.intermediate_size, mlp));
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return absl::Status(absl::ErrnoToStatusCode(err),
                        Cat(path, ": cannot open model config: ", std::strerror(err)));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return ParseModelConfig(bytes.str(), path);
}

std::string ModelConfigJson(const ModelConfig& c) {
  Json j;
  j["architectures"] = {"NemotronHForCausalLM"};
  j["model_type"] = "nemotron_h";
  j["hybrid_override_pattern"] = c.pattern();
  j["num_hidden_layers"] = c.layers.size();
  j["hidden_size"] = c.hidden_size;
  j["vocab_size"] = c.vocab_size;
  j["layer_norm_epsilon"] = c.norm_eps;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  j["pad_token_id"] = c.pad_token_id;
  // Each block type's sizes only when the layout has that block (a 0 size is no size).
  if (c.has(BlockType::kMamba)) {
    j["mamba_num_heads"] = c.mamba_num_heads;
    j["mamba_head_dim"] = c.mamba_head_dim;
    j["ssm_state_size"] = c.ssm_state_size;
    j["n_groups"] = c.n_groups;
    j["conv_kernel"] = c.conv_kernel;
    j["chunk_size"] = c.chunk_size;
    j["use_conv_bias"] = c.use_conv_bias;
    j["mamba_hidden_act"] = "silu";
  }
  if (c.has(BlockType::kAttention)) {
    j["num_attention_heads"] = c.num_attention_heads;
    j["num_key_value_heads"] = c.num_key_value_heads;
    j["head_dim"] = c.head_dim;
    j["attention_bias"] = false;
  }
  if (c.has(BlockType::kMoe)) {
    j["n_routed_experts"] = c.n_routed_experts;
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    if (c.n_shared_experts > 0) {
      j["moe_shared_expert_intermediate_size"] = c.moe_shared_expert_intermediate_size;
    }
    j["n_shared_experts"] = c.n_shared_experts;
    j["routed_scaling_factor"] = c.routed_scaling_factor;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["n_group"] = 1;
    j["topk_group"] = 1;
  }
  if (c.has(BlockType::kMlp)) j["intermediate_size"] = c.intermediate_size;
  j["mlp_hidden_act"] = "relu2";
  j["mamba_ssm_cache_dtype"] = "float32";
  std::string text = j.dump(2);
  // time_step_limit as transformers writes it: Infinity is not JSON, and nlohmann refuses it.
  // Floats keep a decimal point (0.0, not 0): transformers' config validation wants floats.
  auto number = [](double v) {
    if (std::isinf(v)) return std::string(v > 0 ? "Infinity" : "-Infinity");
    std::ostringstream s;
    s.precision(17);
    s << v;
    std::string out = s.str();
    if (out.find_first_of(".e") == std::string::npos) out += ".0";
    return out;
  };
  text.insert(text.size() - 2, Cat(",\n  \"time_step_limit\": [", number(c.time_step_limit_min),
                                   ", ", number(c.time_step_limit_max), "]"));
  return text + "\n";
}

}  // namespace airlock::engine
