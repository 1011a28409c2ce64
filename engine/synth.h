// Synthetic models: random weights for any Nemotron-H configuration, written in the real
// on-disk format (config.json + safetensors, sharded with an index when asked), for tests and
// benchmarks. Weights are random, so the text such a model writes is meaningless.
//
// Deterministic: each tensor's values depend only on the seed and the tensor's name, not on
// the dtype's rounding order, the sharding or the other tensors. Values are chosen to keep a
// forward pass numerically tame and to exercise every path (docs/nemotron-h-spec.md §5.6):
// projections N(0, 0.02) scaled by 1/sqrt(fan_in / 64); norms 1 + N(0, 0.1); A_log = log of
// U(1, 16); dt_bias the inverse softplus of U(0.001, 0.1) (so that softplus(dt) stays above
// transformers' 1e-3 clamp); D U(0.5, 1.5); conv bias N(0, 0.1); a non-zero
// e_score_correction_bias U(0, 0.1).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/dtype.h"
#include "engine/model_config.h"

namespace airlock::engine {

struct SynthOptions {
  uint64_t seed = 0;
  DType dtype = DType::kBF16;  // F32, F16 or BF16; e_score_correction_bias is always F32
  // Shards of at most this many bytes (model-0000K-of-0000N.safetensors and
  // model.safetensors.index.json); 0: one model.safetensors.
  uint64_t shard_bytes = 0;
  bool fused_experts = false;        // experts.up_proj [E, I, H] instead of experts.{e}.*
  std::string prefix = "backbone.";  // or "model."
  bool singular_embedding = false;   // embedding.weight instead of embeddings.weight
};

// Writes config.json, tokenizer.json (SynthTokenizerJson) and the weights into dir (created if
// needed).
absl::Status SynthesizeModel(const ModelConfig& config, const std::string& dir,
                             const SynthOptions& options);

// A byte-level BPE tokenizer.json of exactly vocab_size ids (at least 272), in the layout of
// Nemotron 3's: special tokens at 0..15 (<unk> 0, <s> 1, </s> 2, <SPECIAL_3>..<SPECIAL_9>,
// <|im_start|> 10, <|im_end|> 11, <think> 12, </think> 13, <tool_call> 14, </tool_call> 15),
// the 256 byte characters at 16..271, then merges learnt from a built-in English text, then
// <SPECIAL_N> tokens up to vocab_size; Tekken's split regex and the ByteLevel pre-tokenizer and
// decoder. Any text round-trips through it.
std::string SynthTokenizerJson(int64_t vocab_size);

// Configurations by name: "tiny" (spec §5.6: MEM*E-ME, hidden 64, n_groups 2, chunk 16, 8
// experts top-2, vocab 512), "bench" (hidden 2048, 16 layers of the real pattern, 32 experts
// top-6, experts of 384, vocab 32768: about 1.3 GB at BF16) and "nano" (the real Nemotron 3 Nano
// 30B-A3B shape, 63 GB at BF16). INVALID_ARGUMENT for another name.
absl::StatusOr<ModelConfig> PresetConfig(const std::string& name);

}  // namespace airlock::engine
