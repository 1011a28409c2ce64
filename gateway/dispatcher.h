// Dispatcher: sends a transformed request to the first target of a decision that is cleared
// for the request's remaining content and healthy, and falls back along the decision's list
// while nothing has been streamed to the client.
//
// The clearance invariant lives here, not in the policy: a target whose clearance is below
// the remaining (post-transform) level is never started, whatever the decision says. A
// policy mistake can cost availability, never confidentiality.
//
// Thread-safety: TargetRegistry is safe to use from any thread. A DispatchSink's calls for
// one dispatch are serialized and end with exactly one OnDone.
#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "classifier/level.h"
#include "gateway/targets/target.h"

namespace airlock::gateway {

class Metrics;

// The configured targets and their health (consecutive failures, ejection).
class TargetRegistry {
 public:
  explicit TargetRegistry(std::vector<std::unique_ptr<Target>> targets);

  struct Entry {
    std::unique_ptr<Target> target;
    std::atomic<int> consecutive_failures{0};
    std::atomic<int64_t> ejected_until_ns{0};  // steady-clock nanoseconds; 0: not ejected
  };

  // nullptr when no target has that name.
  Entry* Find(std::string_view name) const;
  bool Healthy(const Entry& entry, Clock::time_point now) const;
  void RecordSuccess(Entry& entry);
  // Ejects the target for its `eject_for` once `eject_after_failures` failures are reached.
  void RecordFailure(Entry& entry, Clock::time_point now);

  std::set<std::string> names() const;
  const std::vector<std::unique_ptr<Entry>>& entries() const { return entries_; }

 private:
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Where a request went: the target that is serving it and what was passed over before.
struct RouteTrace {
  std::string target;                  // empty until a target has been started
  std::vector<std::string> fallbacks;  // "NAME: reason", in order
};

// Advances *next over candidates to the first target that exists, is cleared for `level`
// and is healthy, recording why each skipped one was skipped in trace->fallbacks. nullptr
// when none is left. The one place where clearance is checked.
TargetRegistry::Entry* SelectTarget(const TargetRegistry& registry, classifier::Level level,
                                    const std::vector<std::string>& candidates, size_t* next,
                                    RouteTrace* trace);

class DispatchSink {
 public:
  virtual ~DispatchSink() = default;
  // A delta from the serving target; `route.target` names it.
  virtual void OnDelta(const v1::ChatStreamResponse& delta, const RouteTrace& route) = 0;
  // The dispatch ended. PERMISSION_DENIED when no candidate was cleared for the content;
  // UNAVAILABLE (with the last target's error) when every cleared target failed.
  virtual void OnDone(const absl::Status& status, const RouteTrace& route) = 0;
};

// Starts a dispatch over `candidates` (decision targets, in order) and returns a handle
// whose Cancel() aborts it. Sink calls may happen before Dispatch returns. `stream` is passed
// to Target::Start.
std::shared_ptr<TargetCall> Dispatch(TargetRegistry& registry, const v1::ChatRequest& request,
                                     classifier::Level remaining_level,
                                     const std::vector<std::string>& candidates,
                                     Clock::time_point deadline, bool stream,
                                     std::shared_ptr<DispatchSink> sink, Metrics* metrics);

}  // namespace airlock::gateway
