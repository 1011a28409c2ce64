// Target: somewhere a request can be dispatched: an OpenAI-compatible upstream
// (openai_target.h) or the in-process engine (local_target.h).
//
// A target call is asynchronous: Start returns at once and the target reports through the
// sink from its own threads. Sink calls for one call are serialized (never concurrent) and
// end with exactly one OnDone. OnDelta is only called before OnDone.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "airlock/v1/admin.pb.h"
#include "airlock/v1/gateway.pb.h"
#include "gateway/config.h"

namespace airlock::gateway {

using Clock = std::chrono::steady_clock;

class ChatSink {
 public:
  virtual ~ChatSink() = default;
  // A piece of the answer: content_delta and/or tool_calls, and on the final chunk
  // finish_reason and usage (if the upstream reports them). `route` is never set.
  virtual void OnDelta(const v1::ChatStreamResponse& delta) = 0;
  // The call ended. OK after a complete answer; otherwise the error, as a gRPC-style
  // status whose message names the target and the upstream's own message.
  virtual void OnDone(const absl::Status& status) = 0;
};

class TargetCall {
 public:
  virtual ~TargetCall() = default;
  // Aborts the call: the upstream connection is closed. OnDone(CANCELLED) follows unless
  // the call had already finished. Safe from any thread, any number of times.
  virtual void Cancel() = 0;
};

class Target {
 public:
  virtual ~Target() = default;
  virtual const TargetConfig& config() const = 0;
  // Starts a call. The request is copied; the sink is kept alive until after OnDone.
  // `deadline` bounds the whole call (DEADLINE_EXCEEDED when it passes). `stream` says
  // whether the client reads the answer as it is produced (ChatStream): then deltas are
  // passed on as they come. Without it (Chat) the target may produce the answer in one piece
  // (one OnDelta with everything, then the final one), which costs less than a stream.
  virtual std::shared_ptr<TargetCall> Start(const v1::ChatRequest& request,
                                            Clock::time_point deadline, bool stream,
                                            std::shared_ptr<ChatSink> sink) = 0;
  // Adds what only this kind of target knows to Admin.Status (a local target: its engine).
  virtual void FillStatus(v1::TargetStatus* /*status*/) const {}
  // OK while the target can serve; otherwise why it cannot (the local engine's device failed).
  // Such a target is unhealthy until the gateway restarts: dispatch passes it over.
  virtual absl::Status Fault() const { return absl::OkStatus(); }
};

}  // namespace airlock::gateway
