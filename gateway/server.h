// Server: airlockd's gRPC front end — Gateway and Admin services, grpc.health.v1, server
// reflection — plus the metrics endpoint and the worker threads that run target I/O.
//
// gRPC's callback API is used throughout; reactors never block: assessment, decision and
// transform are in-memory computations, and dispatch runs on Airlock's own worker threads,
// which post results back to the reactor.
//
// Health (grpc.health.v1): the service "" is SERVING from Start until Shutdown; each target has
// a service "targets/NAME", SERVING while the target is healthy (not ejected after failures,
// no engine fault) and NOT_SERVING otherwise, refreshed every kTargetHealthInterval.
//
// Lifecycle: Create → Start → (ReloadPolicy)* → Shutdown. Thread-safe after Start.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/config.h"

namespace airlock::gateway {

inline constexpr std::chrono::milliseconds kTargetHealthInterval{250};

// The grpc.health.v1 service name of a target: "targets/NAME".
std::string TargetHealthService(std::string_view target);

class Server {
 public:
  // Loads the policy, creates the targets, opens the audit log. Errors name what failed.
  static absl::StatusOr<std::unique_ptr<Server>> Create(Config config);
  ~Server();

  // Binds the listener (and the metrics port) and starts serving.
  absl::Status Start();
  int port() const;          // bound gRPC port, after Start
  int metrics_port() const;  // bound metrics port, 0 when disabled

  // Re-reads the policy file; a policy that fails validation is refused and the old one
  // stays. Returns true when the active policy changed.
  absl::StatusOr<bool> ReloadPolicy();

  // Stops accepting calls, lets in-flight calls finish within the configured grace period,
  // cancels what is left, stops the workers and flushes the audit log. Idempotent.
  void Shutdown();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace airlock::gateway
