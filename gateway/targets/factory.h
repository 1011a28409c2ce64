// MakeTarget: builds the Target for one `targets:` entry of the gateway config.
//
//   kind: openai  → OpenAiTarget (an OpenAI-compatible HTTP(S) upstream)
//   kind: local   → UNIMPLEMENTED until the in-process engine lands (#6)
//   anything else → INVALID_ARGUMENT
//
// The config is validated here (base_url scheme http/https, host, port; model; timeouts;
// retries; the CA file is loaded), so that a bad target stops startup. Error messages start
// with the offending key ("base_url: ...", "kind: ..."); the caller prefixes file and target.
// Hosts outside `egress_allowlist` are not an error here: a call to them is refused with
// PERMISSION_DENIED before any DNS lookup or connection.
//
// The target posts its work onto `io`, which must be run by the caller's threads and outlive
// the target and its calls.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "absl/status/statusor.h"
#include "gateway/config.h"
#include "gateway/targets/target.h"

namespace airlock::gateway {

absl::StatusOr<std::unique_ptr<Target>> MakeTarget(const TargetConfig& config,
                                                   const std::vector<std::string>& egress_allowlist,
                                                   boost::asio::io_context& io);

}  // namespace airlock::gateway
