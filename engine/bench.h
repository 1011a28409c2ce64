// Engine speed measurements shared by `airlock engine bench` and tests/bench/engine_decode.cc:
// memory bandwidth, the weight bytes one decode step reads, and decode / prefill speed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/model.h"

namespace airlock::engine {

// GB/s reading a 1 GiB buffer on `threads` threads; the best of `passes` passes.
double MeasureBandwidthGBs(size_t threads, int passes = 5);

// The weight bytes one batch-1 decode step reads: every tensor but the embeddings (one row)
// and the unselected experts (num_experts_per_tok of n_routed_experts per MoE layer).
uint64_t DecodeBytesPerToken(const Model& model);

struct EngineSpeed {
  double decode_tokens_per_s = 0;   // greedy, all `batch` sequences together, after 16 tokens
  double prefill_tokens_per_s = 0;  // a `prompt`-token prompt in one step, fresh sequence
};
// Decode: `batch` sequences (each after its own 16-token prompt) step together
// (Model::Step) for decode_tokens steps; tokens/s counts every sequence's tokens.
EngineSpeed MeasureSpeed(const Model& model, int decode_tokens, int prompt_tokens,
                         size_t batch = 1);

}  // namespace airlock::engine
