#include "engine/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <vector>

#include "engine/safetensors.h"
#include "engine/strings.h"
#include "engine/tokenizer.h"
#include "nlohmann/json.hpp"

namespace airlock::engine {
namespace {

// splitmix64: seeds and a fast stream of 64-bit values.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Normal() {                                                           // Box-Muller
    const double u = 1.0 - Uniform(), v = Uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
};

uint64_t SeedFor(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a over the name, then mixed
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  Rng r{h};
  return r.Next();
}

// How a tensor's values are drawn.
enum class Init { kProjection, kNorm, kALog, kDtBias, kD, kConvBias, kScoreBias };

struct Spec {
  std::string name;
  std::vector<int64_t> shape;
  Init init;
  DType dtype;
  uint64_t bytes() const {
    uint64_t n = DTypeSize(dtype);
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);
    return n;
  }
};

std::vector<Spec> Specs(const ModelConfig& c, const SynthOptions& o) {
  std::vector<Spec> out;
  const DType t = o.dtype;
  const int64_t H = c.hidden_size;
  const std::string p = o.prefix;
  auto add = [&](std::string name, std::vector<int64_t> shape, Init init, DType dtype) {
    out.push_back(Spec{std::move(name), std::move(shape), init, dtype});
  };
  add(p + (o.singular_embedding ? "embedding.weight" : "embeddings.weight"), {c.vocab_size, H},
      Init::kProjection, t);
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const std::string at = Cat(p, "layers.", i, ".");
    const std::string m = at + "mixer.";
    add(at + "norm.weight", {H}, Init::kNorm, t);
    switch (c.layers[i]) {
      case BlockType::kMamba:
        add(m + "in_proj.weight", {c.in_proj_dim(), H}, Init::kProjection, t);
        add(m + "conv1d.weight", {c.conv_dim(), 1, c.conv_kernel}, Init::kProjection, t);
        if (c.use_conv_bias) add(m + "conv1d.bias", {c.conv_dim()}, Init::kConvBias, t);
        add(m + "dt_bias", {c.mamba_num_heads}, Init::kDtBias, t);
        add(m + "A_log", {c.mamba_num_heads}, Init::kALog, t);
        add(m + "D", {c.mamba_num_heads}, Init::kD, t);
        add(m + "norm.weight", {c.d_inner()}, Init::kNorm, t);
        add(m + "out_proj.weight", {H, c.d_inner()}, Init::kProjection, t);
        break;
      case BlockType::kAttention: {
        const int64_t q = c.num_attention_heads * c.head_dim,
                      kv = c.num_key_value_heads * c.head_dim;
        add(m + "q_proj.weight", {q, H}, Init::kProjection, t);
        add(m + "k_proj.weight", {kv, H}, Init::kProjection, t);
        add(m + "v_proj.weight", {kv, H}, Init::kProjection, t);
        add(m + "o_proj.weight", {H, q}, Init::kProjection, t);
        break;
      }
      case BlockType::kMoe: {
        const int64_t E = c.n_routed_experts, I = c.moe_intermediate_size;
        add(m + "gate.weight", {E, H}, Init::kProjection, t);
        add(m + "gate.e_score_correction_bias", {E}, Init::kScoreBias, DType::kF32);
        if (o.fused_experts) {
          add(m + "experts.up_proj", {E, I, H}, Init::kProjection, t);
          add(m + "experts.down_proj", {E, H, I}, Init::kProjection, t);
        } else {
          for (int64_t e = 0; e < E; ++e) {
            add(Cat(m, "experts.", e, ".up_proj.weight"), {I, H}, Init::kProjection, t);
            add(Cat(m, "experts.", e, ".down_proj.weight"), {H, I}, Init::kProjection, t);
          }
        }
        if (c.n_shared_experts > 0) {
          const int64_t S = c.moe_shared_expert_intermediate_size;
          add(m + "shared_experts.up_proj.weight", {S, H}, Init::kProjection, t);
          add(m + "shared_experts.down_proj.weight", {H, S}, Init::kProjection, t);
        }
        break;
      }
      case BlockType::kMlp:
        add(m + "up_proj.weight", {c.intermediate_size, H}, Init::kProjection, t);
        add(m + "down_proj.weight", {H, c.intermediate_size}, Init::kProjection, t);
        break;
    }
  }
  add(p + "norm_f.weight", {H}, Init::kNorm, t);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, H}, Init::kProjection, t);
  return out;
}

TensorData Generate(const Spec& s, uint64_t seed) {
  Rng rng{SeedFor(seed, s.name)};
  const int64_t fan_in = s.shape.empty() ? 1 : s.shape.back();
  const double std_dev = 0.02 / std::sqrt(std::max<double>(1.0, static_cast<double>(fan_in) / 64));
  const uint64_t n = s.bytes() / DTypeSize(s.dtype);
  TensorData t{s.name, s.dtype, s.shape, std::string(s.bytes(), '\0')};
  for (uint64_t i = 0; i < n; ++i) {
    double v = 0;
    switch (s.init) {
      case Init::kProjection:
        v = std_dev * rng.Normal();
        break;
      case Init::kNorm:
        v = 1.0 + 0.1 * rng.Normal();
        break;
      case Init::kALog:
        v = std::log(1.0 + 15.0 * rng.Uniform());
        break;
      case Init::kDtBias: {
        const double dt = 0.001 + 0.099 * rng.Uniform();
        v = dt + std::log(-std::expm1(-dt));  // inverse softplus
        break;
      }
      case Init::kD:
        v = 0.5 + rng.Uniform();
        break;
      case Init::kConvBias:
        v = 0.1 * rng.Normal();
        break;
      case Init::kScoreBias:
        v = 0.1 * rng.Uniform();
        break;
    }
    const float f = static_cast<float>(v);
    char* dst = t.bytes.data() + i * DTypeSize(s.dtype);
    if (s.dtype == DType::kF32) {
      std::memcpy(dst, &f, 4);
    } else {
      const uint16_t h = s.dtype == DType::kBF16 ? FloatToBf16(f) : FloatToF16(f);
      std::memcpy(dst, &h, 2);
    }
  }
  return t;
}

constexpr const char* kCorpus =
    "The quick brown fox jumps over the lazy dog. A privacy gateway routes each request to the "
    "model that may see it: sensitive work stays on the machine, public work may go out. The "
    "security team writes the policy, tests it like code, and reads the audit log. When the "
    "model calls a tool, the gateway returns the call to the agent, which runs it and sends the "
    "result back. Numbers such as 2024, 3.14 and 1,000 appear in text, and so do names, places "
    "and dates. This is a synthetic tokenizer for random weights: its text means nothing, but "
    "every byte of every string can be written with it and read back the same. Hello world! How "
    "are you today? I am fine, thank you, and you? We will meet on Monday at the station near "
    "the river, then walk to the old market and have lunch in the square.";

}  // namespace

std::string SynthTokenizerJson(int64_t vocab_size) {
  using Json = nlohmann::ordered_json;
  const std::vector<std::string> specials = {
      "<unk>",       "<s>",         "</s>",        "<SPECIAL_3>", "<SPECIAL_4>",  "<SPECIAL_5>",
      "<SPECIAL_6>", "<SPECIAL_7>", "<SPECIAL_8>", "<SPECIAL_9>", "<|im_start|>", "<|im_end|>",
      "<think>",     "</think>",    "<tool_call>", "</tool_call>"};
  Json vocab = Json::object();
  Json added = Json::array();
  int64_t next = 0;
  auto add_special = [&](const std::string& s) {
    added.push_back({{"id", next},
                     {"content", s},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
    vocab[s] = next++;
  };
  for (const std::string& s : specials) add_special(s);
  std::vector<std::string> byte(256);
  for (unsigned b = 0; b < 256; ++b) {
    byte[b] = std::string(ByteLevelChar(static_cast<uint8_t>(b)));
    vocab[byte[b]] = next++;
  }
  // Learn merges: words (a leading space kept with the word), in the byte alphabet, as symbols.
  std::vector<std::vector<std::string>> words;
  const std::string corpus = kCorpus;
  for (size_t i = 0; i < corpus.size();) {
    size_t j = i + 1;
    while (j < corpus.size() && corpus[j] != ' ') ++j;
    std::vector<std::string> w;
    for (size_t k = i; k < j; ++k) w.push_back(byte[static_cast<unsigned char>(corpus[k])]);
    words.push_back(std::move(w));
    i = j;
  }
  Json merges = Json::array();
  while (next < vocab_size) {
    std::map<std::pair<std::string, std::string>, int> counts;
    for (const auto& w : words) {
      for (size_t k = 0; k + 1 < w.size(); ++k) ++counts[{w[k], w[k + 1]}];
    }
    const std::pair<std::string, std::string>* best = nullptr;
    int best_count = 1;  // a pair seen once is not worth a token
    for (const auto& [pair, count] : counts) {
      if (count > best_count && !vocab.contains(pair.first + pair.second)) {
        best = &pair;
        best_count = count;
      }
    }
    if (best == nullptr) break;
    const std::string a = best->first, b = best->second;
    merges.push_back(a + " " + b);
    vocab[a + b] = next++;
    for (auto& w : words) {
      for (size_t k = 0; k + 1 < w.size(); ++k) {
        if (w[k] == a && w[k + 1] == b) {
          w[k] += w[k + 1];
          w.erase(w.begin() + static_cast<std::ptrdiff_t>(k) + 1);
        }
      }
    }
  }
  for (int64_t k = next; next < vocab_size; ++k) add_special(Cat("<SPECIAL_", k, ">"));
  Json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern",
                            {{"Regex",
                              "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                              "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                           {"behavior", "Isolated"},
                           {"invert", false}},
                          {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", true},
                           {"use_regex", false}}}}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"},
                  {"add_prefix_space", true},
                  {"trim_offsets", true},
                  {"use_regex", true}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", true},
                {"vocab", vocab},
                {"merges", merges}};
  return j.dump() + "\n";
}

absl::Status SynthesizeModel(const ModelConfig& config, const std::string& dir,
                             const SynthOptions& options) {
  namespace fs = std::filesystem;
  if (options.dtype == DType::kOther)
    return absl::InvalidArgumentError("dtype: expected F32, F16 or BF16");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(Cat(dir, ": cannot create: ", ec.message()));
  {
    std::ofstream out(fs::path(dir) / "config.json", std::ios::trunc);
    out << ModelConfigJson(config);
    if (!out) return absl::InternalError(Cat(dir, "/config.json: cannot write"));
  }
  if (config.vocab_size < 272) {
    return absl::InvalidArgumentError(Cat("vocab_size ", config.vocab_size,
                                          ": a synthetic model needs at least 272 (16 special "
                                          "tokens and 256 bytes)"));
  }
  {
    std::ofstream out(fs::path(dir) / "tokenizer.json", std::ios::trunc);
    out << SynthTokenizerJson(config.vocab_size);
    if (!out) return absl::InternalError(Cat(dir, "/tokenizer.json: cannot write"));
  }
  const std::vector<Spec> specs = Specs(config, options);
  // Shards: consecutive tensors up to shard_bytes each (a larger tensor gets a shard alone).
  std::vector<std::vector<const Spec*>> shards(1);
  uint64_t in_shard = 0, total = 0;
  for (const Spec& s : specs) {
    if (options.shard_bytes > 0 && in_shard > 0 && in_shard + s.bytes() > options.shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(&s);
    in_shard += s.bytes();
    total += s.bytes();
  }
  const bool sharded = options.shard_bytes > 0;
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t k = 0; k < shards.size(); ++k) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", k + 1, shards.size());
    const std::string file = sharded ? name : "model.safetensors";
    std::vector<TensorData> data;
    for (const Spec* s : shards[k]) {
      data.push_back(Generate(*s, options.seed));
      weight_map[s->name] = file;
    }
    if (absl::Status st = WriteSafetensors((fs::path(dir) / file).string(), data); !st.ok()) {
      return st;
    }
  }
  if (sharded) {
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    std::ofstream out(fs::path(dir) / "model.safetensors.index.json", std::ios::trunc);
    out << index.dump(2) << "\n";
    if (!out) return absl::InternalError(Cat(dir, "/model.safetensors.index.json: cannot write"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> PresetConfig(const std::string& name) {
  ModelConfig c;
  auto pattern = [&](const std::string& p) {
    c.layers.clear();
    for (char ch : p) c.layers.push_back(*BlockFromLetter(ch));
  };
  if (name == "tiny") {
    pattern("MEM*E-ME");
    c.hidden_size = 64;
    c.vocab_size = 512;
    c.mamba_num_heads = 8;
    c.mamba_head_dim = 16;
    c.ssm_state_size = 16;
    c.n_groups = 2;
    c.chunk_size = 16;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 16;
    c.n_routed_experts = 8;
    c.num_experts_per_tok = 2;
    c.moe_intermediate_size = 32;
    c.n_shared_experts = 1;
    c.moe_shared_expert_intermediate_size = 48;
    c.routed_scaling_factor = 2.5;
    c.intermediate_size = 48;
    return c;
  }
  if (name == "bench" || name == "nano") {
    const bool nano = name == "nano";
    pattern(nano ? "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME" : "MEMEM*EMEMEM*EME");
    c.hidden_size = nano ? 2688 : 2048;
    c.vocab_size = 131072;
    c.mamba_num_heads = nano ? 64 : 32;
    c.mamba_head_dim = 64;
    c.ssm_state_size = 128;
    c.n_groups = 8;
    c.chunk_size = 128;
    c.num_attention_heads = nano ? 32 : 16;
    c.num_key_value_heads = 2;
    c.head_dim = 128;
    c.n_routed_experts = nano ? 128 : 32;
    c.num_experts_per_tok = 6;
    c.moe_intermediate_size = nano ? 1856 : 384;
    c.n_shared_experts = 1;
    c.moe_shared_expert_intermediate_size = nano ? 3712 : 768;
    c.routed_scaling_factor = 2.5;
    c.eos_token_id = 2;
    if (!nano) c.vocab_size = 32768;  // with the smaller experts: about 1.3 GB at BF16
    return c;
  }
  return absl::InvalidArgumentError(
      Cat("unknown preset '", name, "' (expected tiny, bench, nano)"));
}

}  // namespace airlock::engine
