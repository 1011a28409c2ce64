// LocalTarget: the in-process engine (engine/) as a target (`kind: local`, `model:` a Hugging
// Face Nemotron-H folder with config.json, tokenizer.json and safetensors).
//
// Calls run on the engine's runtime (engine/runtime.h): continuous batching of every call's
// prefill and decode, with the limits of the target's `engine:` config (max_sequences,
// max_queued, max_context, state_memory_mb, step_tokens, threads). A call: the request's
// messages and tools rendered with the Nemotron 3 chat template (thinking off: the answer is
// the content), encoded, then generated with the request's sampling (max_tokens 0 means 256;
// temperature, top_p, seed and stop strings as given; greedy when temperature is 0) until
// <|im_end|>, </s>, a stop string or max_tokens. The text goes through the tool-call parser
// (engine/tool_calls.h): content as deltas, each tool call as one delta (index, id "call_N",
// name, JSON arguments). The final delta has finish_reason ("stop", "length" or "tool_calls")
// and usage (prompt and completion tokens).
//
// Refusals, with the runtime's message: a full queue, a prompt that with max_tokens does not
// fit max_context, or a state larger than state_memory_mb → RESOURCE_EXHAUSTED at once; the
// deadline passing (queued or generating) → DEADLINE_EXCEEDED; Cancel → CANCELLED before the
// next step, its sequence freed. An engine error fails the calls of that step (INTERNAL) and
// nothing else.
//
// With the classifier's model stage on this target, a call whose prompt begins with the
// conversation the stage has just prefilled starts from that prefill (same tokens as a fresh
// one; Admin.Status counts them as prefills_reused).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/prefix_cache.h"
#include "engine/runtime.h"
#include "engine/tokenizer.h"
#include "gateway/targets/target.h"

namespace airlock::gateway {

class LocalTarget : public Target {
 public:
  // Loads the model folder config.model (tokenizer.json and the weights) on the backend that
  // config.engine.device names: the CPU (engine::Model), CUDA (kernels/cuda_model.h: an error
  // when this build or machine has none), or auto: CUDA when a device answers, else the CPU.
  static absl::StatusOr<std::unique_ptr<LocalTarget>> Create(const TargetConfig& config);
  ~LocalTarget() override;  // ends every call (CANCELLED)

  const TargetConfig& config() const override { return config_; }
  std::shared_ptr<TargetCall> Start(const v1::ChatRequest& request, Clock::time_point deadline,
                                    bool stream, std::shared_ptr<ChatSink> sink) override;
  void FillStatus(v1::TargetStatus* status) const override;  // the engine's backend and load
  absl::Status Fault() const override { return model_->Fault(); }

  // For the classifier's model stage (classifier/model_stage.h): the runtime it scores on, and
  // the cache where it leaves a request's prefill; Start takes the longest prefill there that
  // begins its prompt, and generates from it.
  engine::Runtime& runtime() { return *runtime_; }
  engine::PrefixCache& prefills() { return prefills_; }

 private:
  class Call;
  LocalTarget(TargetConfig config, std::unique_ptr<engine::Backend> model,
              std::unique_ptr<engine::Tokenizer> tokenizer);

  const TargetConfig config_;
  const std::unique_ptr<engine::Backend> model_;
  const std::unique_ptr<engine::Tokenizer> tokenizer_;
  std::vector<int32_t> stop_ids_;             // <|im_end|>, </s>
  engine::PrefixCache prefills_;              // up to max_sequences, for 10 s each
  std::unique_ptr<engine::Runtime> runtime_;  // last: destroyed first, while the rest lives
};

}  // namespace airlock::gateway
