// LocalTarget: the in-process engine (engine/) as a target (`kind: local`, `model:` a Hugging
// Face Nemotron-H folder with config.json, tokenizer.json and safetensors).
//
// One engine thread per target runs the calls in arrival order (continuous batching comes with
// the engine's runtime). A call: the request's messages and tools rendered with the Nemotron 3
// chat template (thinking off: the answer is the content), encoded, prefilled from a fresh
// sequence, then generated (engine/generate.h) with the request's sampling (max_tokens 0 means
// 256; temperature, top_p, seed and stop strings as given; greedy when temperature is 0) until
// <|im_end|>, </s>, a stop string or max_tokens. The text goes through the tool-call parser
// (engine/tool_calls.h): content as deltas, each tool call as one delta (index, id "call_N",
// name, JSON arguments). The final delta has finish_reason ("stop", "length" or "tool_calls")
// and usage (prompt and completion tokens).
//
// Refusals: more than kMaxQueued calls waiting → RESOURCE_EXHAUSTED at once; a prompt that
// with max_tokens does not fit kMaxContext tokens → RESOURCE_EXHAUSTED; the deadline passing
// (while queued or generating) → DEADLINE_EXCEEDED; Cancel → CANCELLED at the next token, and
// a cancelled call still queued never runs. An engine error fails that call (INTERNAL) and
// nothing else.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "gateway/targets/target.h"

namespace airlock::gateway {

class LocalTarget : public Target {
 public:
  static constexpr size_t kMaxQueued = 64;
  static constexpr int64_t kMaxContext = 32768;

  // Loads the model folder config.model (engine::Model, tokenizer.json).
  static absl::StatusOr<std::unique_ptr<LocalTarget>> Create(const TargetConfig& config);
  ~LocalTarget() override;  // cancels what is queued, finishes the running call, joins

  const TargetConfig& config() const override { return config_; }
  std::shared_ptr<TargetCall> Start(const v1::ChatRequest& request, Clock::time_point deadline,
                                    bool stream, std::shared_ptr<ChatSink> sink) override;

 private:
  struct Job;
  LocalTarget(TargetConfig config, std::unique_ptr<engine::Model> model,
              std::unique_ptr<engine::Tokenizer> tokenizer);
  void Loop();
  void Run(Job& job);

  const TargetConfig config_;
  const std::unique_ptr<engine::Model> model_;
  const std::unique_ptr<engine::Tokenizer> tokenizer_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::thread worker_;
};

}  // namespace airlock::gateway
