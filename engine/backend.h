// Backend: where a Nemotron-H model's forward pass runs; the interface between the runtime
// (engine/runtime.h) and the hardware. The CPU backend is engine/model.h (Model); the CUDA
// backend (kernels/, issue #7) implements the same interface.
//
// A backend makes sequences (a request's state: the attention layers' KV cache and the Mamba
// layers' conv and SSM state, kept wherever the backend computes) and runs steps over them.
// What the runtime relies on:
//   - Step runs every item's tokens as the rows of one batch and returns, item after item, the
//     logits it asks for (Logits::kLast: its last token's row, kAll: one row per token, kNone:
//     none), each row vocab_size floats;
//   - a row's result does not depend on what else is in the batch (batched == unbatched), and a
//     prompt fed over several steps, split at positions that are multiples of prefill_granule(),
//     gives the same bits as in one (continuation prefill); split elsewhere, or decoded token by
//     token, it gives the same logits up to rounding (a backend may compute a prompt's chunks
//     in another order of operations than single tokens, as the chunked SSD form does);
//   - a token outside the vocabulary is INVALID_ARGUMENT and changes no sequence; any other
//     error fails that step (the runtime fails its requests) and leaves the backend usable;
//   - the sequences of a step come from this backend's StartSequence, are distinct, and are used
//     by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model_config.h"

namespace airlock::engine {

// A sequence's state, as its backend keeps it.
struct Sequence {
  virtual ~Sequence() = default;
  int64_t position = 0;  // tokens processed so far
};

enum class Logits { kLast, kAll, kNone };

struct StepItem {
  Sequence* sequence;
  std::span<const int32_t> tokens;
  Logits logits = Logits::kLast;
  // Hidden states (the classifier's trained heads): when hidden_sum is set, the residual
  // stream after layer hidden_layer (0-based) of each of this item's tokens is added into it
  // (hidden_size floats), so that a prompt fed over several steps can be mean-pooled.
  int hidden_layer = -1;
  float* hidden_sum = nullptr;
};

// The checks every backend's Step makes before it changes anything: INVALID_ARGUMENT for a
// token outside the vocabulary ("sequence 1, token 3: id 600 is outside the vocabulary (0 to
// 511)") or a hidden_layer that is not a layer.
absl::Status CheckStepItems(const ModelConfig& config, std::span<const StepItem> items);

// The bytes of a sequence's state of up to `tokens` tokens, in FP32 (what both backends keep):
// the Mamba layers' conv and SSM state plus the attention layers' keys and values per token.
uint64_t StateBytes(const ModelConfig& config, int64_t tokens);

class Backend {
 public:
  virtual ~Backend() = default;

  virtual const ModelConfig& config() const = 0;
  // What runs the model, for logs and status (e.g. "cpu: avx512f, 2 threads").
  virtual std::string Describe() const = 0;
  // The memory the state of one sequence of up to `tokens` tokens takes (admission uses it).
  virtual uint64_t SequenceBytes(int64_t tokens) const = 0;
  // A fresh sequence (position 0) with room for `tokens` tokens, its memory allocated now.
  virtual absl::StatusOr<std::unique_ptr<Sequence>> StartSequence(int64_t tokens) const = 0;
  // The prompt split unit above (1: any split gives the same bits).
  virtual int64_t prefill_granule() const { return 1; }
  // A copy of a sequence of this backend, at its position (prefill reuse): stepping the copy
  // gives the bits stepping the original would.
  virtual absl::StatusOr<std::unique_ptr<Sequence>> Fork(const Sequence& sequence) const = 0;
  virtual absl::StatusOr<std::vector<float>> Step(std::span<const StepItem> items) const = 0;
  // The memory plan, made once at load: reserves what steps of up to `rows` token rows
  // (`logit_rows` of them with logits) need, and checks that `state_bytes` of sequence state
  // (the runtime's admission budget) fits beside the weights and that. RESOURCE_EXHAUSTED names
  // what does not fit. A backend that allocates as it goes (the CPU's) has nothing to reserve.
  virtual absl::Status Reserve(size_t /*rows*/, size_t /*logit_rows*/,
                               uint64_t /*state_bytes*/) const {
    return absl::OkStatus();
  }
  // OK while the backend can serve; otherwise the failure that made it unfit (a device error
  // that leaves the device's state unknown), for good: its target reports unhealthy and is
  // passed over.
  virtual absl::Status Fault() const { return absl::OkStatus(); }
};

}  // namespace airlock::engine
