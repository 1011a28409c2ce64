#include "gateway/dispatcher.h"

#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gateway/metrics.h"

namespace airlock::gateway {

TargetRegistry::TargetRegistry(std::vector<std::unique_ptr<Target>> targets) {
  for (auto& t : targets) {
    auto entry = std::make_unique<Entry>();
    entry->target = std::move(t);
    entries_.push_back(std::move(entry));
  }
}

TargetRegistry::Entry* TargetRegistry::Find(std::string_view name) const {
  for (const auto& e : entries_) {
    if (e->target->config().name == name) return e.get();
  }
  return nullptr;
}

bool TargetRegistry::Healthy(const Entry& entry, Clock::time_point now) const {
  if (!entry.target->Fault().ok()) return false;
  int64_t until = entry.ejected_until_ns.load();
  return until == 0 || now.time_since_epoch().count() >= until;
}

void TargetRegistry::RecordSuccess(Entry& entry) {
  entry.consecutive_failures.store(0);
  entry.ejected_until_ns.store(0);
}

void TargetRegistry::RecordFailure(Entry& entry, Clock::time_point now) {
  int failures = entry.consecutive_failures.fetch_add(1) + 1;
  const TargetConfig& cfg = entry.target->config();
  if (cfg.eject_after_failures > 0 && failures >= cfg.eject_after_failures) {
    auto until = now + std::chrono::duration_cast<Clock::duration>(cfg.eject_for);
    entry.ejected_until_ns.store(until.time_since_epoch().count());
  }
}

std::set<std::string> TargetRegistry::names() const {
  std::set<std::string> out;
  for (const auto& e : entries_) out.insert(e->target->config().name);
  return out;
}

TargetRegistry::Entry* SelectTarget(const TargetRegistry& registry, classifier::Level level,
                                    const std::vector<std::string>& candidates, size_t* next,
                                    RouteTrace* trace) {
  while (*next < candidates.size()) {
    const std::string& name = candidates[(*next)++];
    TargetRegistry::Entry* entry = registry.Find(name);
    if (entry == nullptr) {
      trace->fallbacks.push_back(absl::StrCat(name, ": no such target"));
      continue;
    }
    const TargetConfig& cfg = entry->target->config();
    if (static_cast<int>(level) > static_cast<int>(cfg.clearance)) {
      trace->fallbacks.push_back(
          absl::StrCat(name, ": not cleared for ", std::string(classifier::LevelName(level)),
                       " (clearance ", std::string(classifier::LevelName(cfg.clearance)), ")"));
      continue;
    }
    if (!registry.Healthy(*entry, Clock::now())) {
      const absl::Status fault = entry->target->Fault();
      trace->fallbacks.push_back(fault.ok() ? absl::StrCat(name, ": ejected after ",
                                                           entry->consecutive_failures.load(),
                                                           " consecutive failures")
                                            : absl::StrCat(name, ": unhealthy: ", fault.message()));
      continue;
    }
    return entry;
  }
  return nullptr;
}

namespace {

// Failures of a target that another target may not share: try the next one.
bool IsTargetFailure(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kPermissionDenied:  // e.g. the upstream refused our credentials
    case absl::StatusCode::kNotFound:          // e.g. the upstream does not serve the model
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

class DispatchCall final : public TargetCall,
                           public ChatSink,
                           public std::enable_shared_from_this<DispatchCall> {
 public:
  DispatchCall(TargetRegistry& registry, const v1::ChatRequest& request, classifier::Level level,
               std::vector<std::string> candidates, Clock::time_point deadline, bool stream,
               std::shared_ptr<DispatchSink> sink, Metrics* metrics)
      : registry_(registry),
        request_(request),
        level_(level),
        candidates_(std::move(candidates)),
        deadline_(deadline),
        stream_(stream),
        sink_(std::move(sink)),
        metrics_(metrics) {}

  void Start() { TryNext(absl::OkStatus()); }

  void Cancel() override {
    std::shared_ptr<TargetCall> call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      call = current_;
    }
    if (call) call->Cancel();
  }

  void OnDelta(const v1::ChatStreamResponse& delta) override {
    streamed_ = true;
    sink_->OnDelta(delta, trace_);
  }

  void OnDone(const absl::Status& status) override {
    TargetRegistry::Entry* entry = current_entry_;
    if (status.ok()) {
      registry_.RecordSuccess(*entry);
      Finish(status);
      return;
    }
    bool target_failure = IsTargetFailure(status.code());
    if (target_failure) {
      registry_.RecordFailure(*entry, Clock::now());
      if (metrics_) {
        metrics_->UpstreamError(entry->target->config().name,
                                absl::StatusCodeToString(status.code()));
      }
    }
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled = cancelled_;
      current_.reset();
      ++attempt_;  // the attempt has ended
    }
    if (!target_failure || streamed_ || cancelled) {
      Finish(status);
      return;
    }
    trace_.fallbacks.push_back(absl::StrCat(trace_.target, ": ", status.ToString()));
    trace_.target.clear();
    TryNext(status);
  }

 private:
  // Starts the next candidate that is cleared and healthy; finishes when none is left.
  void TryNext(absl::Status last_error) {
    TargetRegistry::Entry* entry = SelectTarget(registry_, level_, candidates_, &next_, &trace_);
    uint64_t attempt = 0;
    if (entry != nullptr) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!cancelled_) attempt = ++attempt_;
    }
    if (attempt != 0) {
      current_entry_ = entry;
      trace_.target = entry->target->config().name;
      // The target may report (even OnDone, e.g. egress refused) before Start returns, and
      // from another thread; nothing but storing the handle may follow Start here.
      auto call = entry->target->Start(request_, deadline_, stream_, shared_from_this());
      bool cancel_now = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (attempt_ == attempt) {  // this attempt has not ended yet
          current_ = call;
          cancel_now = cancelled_;
        }
      }
      if (cancel_now) call->Cancel();
      return;
    }
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled = cancelled_;
    }
    if (cancelled) {
      Finish(absl::CancelledError("cancelled by the client"));
    } else if (!last_error.ok()) {
      Finish(absl::UnavailableError(
          absl::StrCat("every cleared target failed; last error: ", last_error.ToString())));
    } else {
      Finish(absl::PermissionDeniedError(
          absl::StrCat("no target cleared for ", std::string(classifier::LevelName(level_)),
                       " content is available: ", DescribeFallbacks())));
    }
  }

  std::string DescribeFallbacks() const {
    std::string out;
    for (const auto& f : trace_.fallbacks) absl::StrAppend(&out, out.empty() ? "" : "; ", f);
    return out.empty() ? "the decision names no target" : out;
  }

  void Finish(const absl::Status& status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++attempt_;
      current_.reset();
    }
    sink_->OnDone(status, trace_);
    sink_.reset();
  }

  TargetRegistry& registry_;
  const v1::ChatRequest request_;
  const classifier::Level level_;
  const std::vector<std::string> candidates_;
  const Clock::time_point deadline_;
  const bool stream_;
  std::shared_ptr<DispatchSink> sink_;
  Metrics* metrics_;

  // Touched only from serialized sink calls or before the first Start.
  size_t next_ = 0;
  RouteTrace trace_;
  TargetRegistry::Entry* current_entry_ = nullptr;
  bool streamed_ = false;

  std::mutex mu_;  // guards the fields below (Cancel comes from any thread)
  bool cancelled_ = false;
  uint64_t attempt_ = 0;  // incremented when an attempt starts and when it ends
  std::shared_ptr<TargetCall> current_;
};

}  // namespace

std::shared_ptr<TargetCall> Dispatch(TargetRegistry& registry, const v1::ChatRequest& request,
                                     classifier::Level remaining_level,
                                     const std::vector<std::string>& candidates,
                                     Clock::time_point deadline, bool stream,
                                     std::shared_ptr<DispatchSink> sink, Metrics* metrics) {
  auto call = std::make_shared<DispatchCall>(registry, request, remaining_level, candidates,
                                             deadline, stream, std::move(sink), metrics);
  call->Start();
  return call;
}

}  // namespace airlock::gateway
