// One audit record per request, and its JSON Lines encoding.
//
// A record holds identifiers, categories, counts and timings — never prompt or response text.
// `content_hmac` is a keyed digest of the request content (see AuditLog::ContentHmac).
//
// The encoding is deterministic: fixed key order ("seq" first, "prev" last), one line, no
// trailing newline. The exact bytes of the line are the record's Merkle leaf (merkle.h), so a
// record is never re-encoded once written: readers hash the bytes they read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace airlock::gateway {

struct AuditRecord {
  uint64_t seq = 0;  // assigned by the writer: 0, 1, 2, ... in file order
  std::string time;  // RFC 3339 UTC with ms; set by the writer when empty
  std::string request_id;
  std::string tenant;
  std::string subject;
  std::string method;       // "Chat", "ChatStream", "Classify", "Route"
  std::string policy_hash;  // SHA-256 hex of the policy that decided
  std::string rule_id;
  std::string level;  // "public" .. "restricted"
  // The classifier's model stage: "ok", "failed_closed" (level raised to restricted) or
  // "failed_open"; empty (and left out of the JSON) when none ran.
  std::string model;
  std::map<std::string, int> categories;  // finding category -> count
  double difficulty = 0;
  std::string target;                  // empty when nothing was dispatched
  std::string transform;               // "none", "mask", "pseudonymize"
  std::vector<std::string> fallbacks;  // targets tried or skipped before `target`
  std::string outcome;      // "ok", "denied", "error", "cancelled", "unauthenticated", ...
  std::string status_code;  // gRPC code name: "OK", "PERMISSION_DENIED", ...
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  // Placeholders that the upstream's answer returned altered (router/transform.h, "Mangled
  // placeholders"): they reached the client unrestored. 0 without pseudonymize.
  uint32_t mangled_placeholders = 0;
  std::map<std::string, double> stage_ms;  // stage -> milliseconds
  double total_ms = 0;
  std::string content_hmac;  // hex HMAC-SHA256 of the request content
  // Set by the writer: hex Merkle leaf hash (merkle.h) of the record before this one, 64 zeros
  // for seq 0. Chains each record to the one before it, so that a verifier can name the exact
  // record that was altered; the signed checkpoints make the chain itself tamper-evident.
  std::string prev;

  bool operator==(const AuditRecord&) const = default;
};

// One JSON object, no newline. Milliseconds are rounded to µs, difficulty to 4 decimals.
std::string EncodeAuditRecord(const AuditRecord& record);

// Parses one line (without its newline). INVALID_ARGUMENT when it is not a record; unknown
// keys are ignored so that newer writers stay readable.
absl::StatusOr<AuditRecord> DecodeAuditRecord(std::string_view line);

// RFC 3339 UTC with milliseconds for a time since the Unix epoch, e.g.
// "2026-11-24T12:00:00.123Z".
std::string FormatRfc3339Millis(int64_t unix_millis);

}  // namespace airlock::gateway
