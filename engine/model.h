// Model: a loaded Nemotron-H folder (config, memory-mapped weights bound to it), a sequence's
// state, and the forward pass.
//
// The forward pass is the spec's math written plainly (docs/nemotron-h-spec.md §2), the tokens
// of a step as the rows of one batch through every layer (the recurrences going row by row),
// in FP32 with the weights converted as they are read (BF16 / FP16 / FP32, used in place: no
// copy of the model). ModelOptions picks the plain reference path or the CPU kernels; both are
// held to golden logits from two independent references (tests/reference/: the project's numpy
// one and transformers' NemotronHForCausalLM), to their own cached decode, and to batched ==
// unbatched.
//
//   h = embeddings[token]
//   for each layer: h = h + mixer(RMSNorm(h))      mixer: Mamba-2, attention, MoE or MLP
//   logits = lm_head(RMSNorm_f(h))
//
// Mamba-2 (per token): in_proj -> [z | xBC | dt]; causal depthwise conv over xBC with the last
// conv_kernel-1 inputs kept in the state, SiLU; dt = softplus(dt + dt_bias) (threshold 20),
// clamped to time_step_limit; S = S * exp(dt * -exp(A_log)) + dt * B x (FP32 state [H, P, N],
// head h reads group h / (H / G)); y = S C + D x; y * silu(z), RMS-normalised per group of
// d_inner / G, times norm.weight; out_proj. On the CPU kernels a prompt's tokens take the SSM in
// the chunked SSD form instead (chunks of chunk_size tokens aligned to multiples of it in
// positions: the same math as products over the chunk), a decoded token the recurrence; the
// reference path takes every token through the recurrence.
// Attention: no positional encoding, causal softmax over the KV cache, GQA.
// MoE: FP32 router, sigmoid scores, top-k selected on score + e_score_correction_bias, weights
// the unbiased scores (normalised when norm_topk_prob) times routed_scaling_factor; experts
// and the shared expert are down(relu(up x)^2).
//
// Thread-safety: a Model is immutable after Load and may serve many SequenceStates at once; a
// SequenceState is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/cpu_kernels.h"
#include "engine/model_config.h"
#include "engine/safetensors.h"
#include "engine/weights.h"

namespace airlock::engine {

// What a sequence carries between forward calls on the CPU.
struct SequenceState : Sequence {
  // Per layer (empty for the layers that keep nothing):
  std::vector<std::vector<float>> conv;  // Mamba: [conv_dim][conv_kernel - 1], oldest first
  std::vector<std::vector<float>> ssm;   // Mamba: [H][P][N], FP32
  std::vector<std::vector<float>> keys;  // attention: [position][kv_heads * head_dim]
  std::vector<std::vector<float>> values;
};

struct ModelOptions {
  // The plain reference path: one thread, scalar code, double accumulation. Otherwise the CPU
  // kernels (engine/cpu_kernels.h) on `threads` threads (0: all cores): the weight products
  // (AVX-512 or AVX2/FMA, whichever the CPU has) and the SSM and attention inner loops (AVX2)
  // in FP32, the conv channels and SSM and attention heads split over the threads. Both
  // compute the same math; each is held to the golden logits.
  bool reference = false;
  size_t threads = 0;
};

// The CPU backend (engine/backend.h).
class Model : public Backend {
 public:
  // Loads dir's config.json and weights (engine/model_config.h, engine/weights.h).
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& dir,
                                                     const ModelOptions& options = {});
  ~Model() override;

  const ModelConfig& config() const override { return config_; }
  const ModelWeights& weights() const { return weights_; }

  // A fresh sequence (position 0, zero state).
  SequenceState NewSequence() const;

  // Runs tokens through the model after what state holds, advancing it. Returns the logits of
  // every token, row after row (tokens.size() x vocab_size), or of the last one only. A prompt
  // run in pieces that end at multiples of prefill_granule() gives the bits it gives whole;
  // otherwise (and token by token) the same logits up to FP32 rounding.
  // INVALID_ARGUMENT for a token id outside the vocabulary (state unchanged).
  absl::StatusOr<std::vector<float>> Forward(SequenceState* state, std::span<const int32_t> tokens,
                                             bool all_logits = false) const;

  // Forward for several sequences in one pass: every item's tokens become rows of one batch, so
  // each weight matrix is read once for all of them (decode of many sequences, prefill of a
  // whole prompt chunk). A prompt's tokens may be split across steps (continuation prefill).
  // Returns the items' logits in order (each item's last token's, all its tokens', or none: a
  // prompt chunk that is not the last skips the lm_head). Each row's arithmetic is the same
  // whatever else is in the batch, so the results are bit for bit those of Forward on each item
  // alone. The sequences must be distinct SequenceStates. INVALID_ARGUMENT as Forward (no state
  // changed).
  absl::StatusOr<std::vector<float>> Step(std::span<const StepItem> items) const override;

  // Backend: "cpu: KERNEL, N threads" (or "cpu: reference"); the bytes of a SequenceState; a
  // SequenceState with its KV cache reserved for `tokens` tokens.
  std::string Describe() const override;
  uint64_t SequenceBytes(int64_t tokens) const override;
  absl::StatusOr<std::unique_ptr<Sequence>> StartSequence(int64_t tokens) const override;
  // The SSD chunk (chunk_size) on the CPU kernels; 1 on the reference path, which runs every
  // token through the recurrence.
  int64_t prefill_granule() const override;
  absl::StatusOr<std::unique_ptr<Sequence>> Fork(const Sequence& sequence) const override;

 private:
  Model() = default;
  void Layer(size_t i, std::span<SequenceState* const> rows, const float* x, float* out) const;
  void Mamba(size_t i, std::span<SequenceState* const> rows, const float* zxbcdt, float* y) const;
  void Attend(size_t i, const SequenceState& state, size_t seen, size_t h, const float* q,
              float* o) const;
  // fn over [0, n) in chunks on the pool's threads (on this one for the reference path).
  void For(size_t n, const std::function<void(size_t, size_t)>& fn) const;
  void Moe(const MoeWeights& w, const float* x, size_t n, float* out) const;
  void Mm(const Tensor& w, size_t offset, size_t rows, size_t cols, const float* x, size_t n,
          float* y) const;
  void MmGroup(std::span<const MatMul> jobs) const;
  void Ffn(const Tensor& up, size_t up_offset, const Tensor& down, size_t down_offset, size_t inter,
           size_t hidden, const float* x, size_t n, float* out) const;

  ModelConfig config_;
  std::unique_ptr<TensorStore> store_;
  ModelWeights weights_;
  std::unique_ptr<ThreadPool> pool_;  // null: the reference path
};

}  // namespace airlock::engine
