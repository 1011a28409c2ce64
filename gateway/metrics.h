// Prometheus metrics without an external library, and the HTTP endpoint that serves them.
//
//   airlock_requests_total{target,rule,outcome}     counter
//   airlock_upstream_errors_total{target,code}      counter
//   airlock_stage_seconds{stage}                    histogram (50 µs .. 60 s)
//   airlock_request_seconds                         histogram (50 µs .. 60 s)
//   airlock_in_flight                               gauge
//
// Thread-safety: every method of Metrics may be called from any thread. Updates of an existing
// series take a shared lock and relaxed atomics; a new label combination takes the exclusive
// lock once. Label values are expected to come from a bounded set (targets, rules, stages).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace airlock::gateway {

class Metrics {
 public:
  // Upper bounds (seconds) of the latency histogram buckets, +Inf implied.
  static constexpr std::array<double, 19> kBuckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,     0.25,   0.5,     1,      2.5,   5,      10,    30,   60};

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void RequestDone(std::string_view target, std::string_view rule, std::string_view outcome);
  void ObserveStage(std::string_view stage, double seconds);
  void ObserveRequest(double seconds);
  void InFlightAdd(int delta);
  void UpstreamError(std::string_view target, std::string_view code);

  // Text exposition format 0.0.4, with HELP and TYPE for every family.
  std::string Render() const;

  struct Histogram {
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> counts{};  // last: +Inf
    std::atomic<double> sum{0};
    void Observe(double seconds);
  };
  // Series keyed by their label values joined with '\0'.
  template <typename T>
  struct Family {
    mutable std::shared_mutex mu;
    std::map<std::string, std::unique_ptr<T>, std::less<>> series;
    T& Get(std::string_view key);
  };

 private:
  Family<std::atomic<uint64_t>> requests_;
  Family<std::atomic<uint64_t>> upstream_errors_;
  Family<Histogram> stages_;
  Histogram request_;
  std::atomic<int64_t> in_flight_{0};
};

// Serves GET /metrics (Content-Type text/plain; version=0.0.4) on its own thread with
// Boost.Beast; 404 for other paths, 405 for other methods. Stop() (or the destructor) closes
// the listener and joins the thread.
class MetricsServer {
 public:
  explicit MetricsServer(const Metrics* metrics);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds "host:port" (port 0 picks a free one) and starts serving; returns the bound port.
  absl::StatusOr<int> Start(const std::string& listen);
  void Stop();

 private:
  struct Impl;
  const Metrics* metrics_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace airlock::gateway
