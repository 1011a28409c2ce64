#include "gateway/audit/audit_record.h"

#include <cmath>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace airlock::gateway {
namespace {

double Round(double v, double scale) {
  if (!std::isfinite(v)) return 0;
  return std::round(v * scale) / scale;
}

template <typename T>
void Get(const nlohmann::json& j, const char* key, T* out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) *out = it->get<T>();
}

}  // namespace

std::string FormatRfc3339Millis(int64_t unix_millis) {
  std::time_t secs = static_cast<std::time_t>(unix_millis / 1000);
  int ms = static_cast<int>(unix_millis % 1000);
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

std::string EncodeAuditRecord(const AuditRecord& r) {
  nlohmann::ordered_json j;
  j["seq"] = r.seq;
  j["time"] = r.time;
  j["request_id"] = r.request_id;
  j["tenant"] = r.tenant;
  j["subject"] = r.subject;
  j["method"] = r.method;
  j["policy_hash"] = r.policy_hash;
  j["rule_id"] = r.rule_id;
  j["level"] = r.level;
  if (!r.model.empty()) j["model"] = r.model;
  j["categories"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : r.categories) j["categories"][k] = v;
  j["difficulty"] = Round(r.difficulty, 1e4);
  j["target"] = r.target;
  j["transform"] = r.transform;
  j["fallbacks"] = r.fallbacks;
  j["outcome"] = r.outcome;
  j["status_code"] = r.status_code;
  j["prompt_tokens"] = r.prompt_tokens;
  j["completion_tokens"] = r.completion_tokens;
  j["mangled_placeholders"] = r.mangled_placeholders;
  j["stage_ms"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : r.stage_ms) j["stage_ms"][k] = Round(v, 1e3);
  j["total_ms"] = Round(r.total_ms, 1e3);
  j["content_hmac"] = r.content_hmac;
  j["prev"] = r.prev;
  // Invalid UTF-8 (which no field should carry) is replaced rather than thrown on.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

absl::StatusOr<AuditRecord> DecodeAuditRecord(std::string_view line) {
  try {
    nlohmann::json j = nlohmann::json::parse(line);
    if (!j.is_object()) return absl::InvalidArgumentError("audit record is not a JSON object");
    if (!j.contains("seq") || !j["seq"].is_number_unsigned()) {
      return absl::InvalidArgumentError("audit record has no numeric seq");
    }
    AuditRecord r;
    Get(j, "seq", &r.seq);
    Get(j, "time", &r.time);
    Get(j, "request_id", &r.request_id);
    Get(j, "tenant", &r.tenant);
    Get(j, "subject", &r.subject);
    Get(j, "method", &r.method);
    Get(j, "policy_hash", &r.policy_hash);
    Get(j, "rule_id", &r.rule_id);
    Get(j, "level", &r.level);
    Get(j, "model", &r.model);
    Get(j, "categories", &r.categories);
    Get(j, "difficulty", &r.difficulty);
    Get(j, "target", &r.target);
    Get(j, "transform", &r.transform);
    Get(j, "fallbacks", &r.fallbacks);
    Get(j, "outcome", &r.outcome);
    Get(j, "status_code", &r.status_code);
    Get(j, "prompt_tokens", &r.prompt_tokens);
    Get(j, "completion_tokens", &r.completion_tokens);
    Get(j, "mangled_placeholders", &r.mangled_placeholders);
    Get(j, "stage_ms", &r.stage_ms);
    Get(j, "total_ms", &r.total_ms);
    Get(j, "content_hmac", &r.content_hmac);
    Get(j, "prev", &r.prev);
    return r;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("audit record: ", e.what()));
  }
}

}  // namespace airlock::gateway
