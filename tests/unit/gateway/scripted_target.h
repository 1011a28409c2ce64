// Test doubles for the dispatcher: a target that answers from a script and records what it
// was sent, and a sink that records what the dispatch delivered.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gateway/dispatcher.h"

namespace airlock::gateway {

// A target that answers from a script, synchronously, and records what it was sent. The n-th
// call gets the n-th result (the last one repeats; none: success).
class ScriptedTarget : public Target {
 public:
  ScriptedTarget(std::string name, classifier::Level clearance, std::vector<absl::Status> results,
                 bool stream_before_error = false)
      : results_(std::move(results)), stream_before_error_(stream_before_error) {
    config_.name = std::move(name);
    config_.kind = "openai";
    config_.clearance = clearance;
    config_.eject_after_failures = 2;
  }
  const TargetConfig& config() const override { return config_; }

  std::shared_ptr<TargetCall> Start(const v1::ChatRequest& request, Clock::time_point, bool,
                                    std::shared_ptr<ChatSink> sink) override {
    sent.push_back(request);
    absl::Status result =
        results_.empty() ? absl::OkStatus() : results_[std::min(sent.size(), results_.size()) - 1];
    if (result.ok() || stream_before_error_) {
      v1::ChatStreamResponse delta;
      delta.set_content_delta(config_.name);
      sink->OnDelta(delta);
    }
    sink->OnDone(result);
    return std::make_shared<NoopCall>();
  }

  absl::Status Fault() const override { return fault; }

  std::vector<v1::ChatRequest> sent;
  absl::Status fault;  // what Fault reports (a local engine whose device failed)

 private:
  struct NoopCall : TargetCall {
    void Cancel() override {}
  };
  TargetConfig config_;
  std::vector<absl::Status> results_;
  bool stream_before_error_;
};

struct Recorder : DispatchSink {
  void OnDelta(const v1::ChatStreamResponse& d, const RouteTrace& r) override {
    text += d.content_delta();
    delta_target = r.target;
  }
  void OnDone(const absl::Status& s, const RouteTrace& r) override {
    ++done_calls;
    status = s;
    route = r;
  }
  std::string text, delta_target;
  int done_calls = 0;
  absl::Status status;
  RouteTrace route;
};

}  // namespace airlock::gateway
