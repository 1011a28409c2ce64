#include "gateway/audit/audit_record.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <type_traits>

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

// A JSON string as nlohmann's dump writes it (no \u escapes for non-ASCII, invalid UTF-8
// replaced by U+FFFD): printable ASCII without quotes or backslashes is copied as it is, the
// rest goes through nlohmann.
void AppendString(std::string* out, std::string_view s) {
  const bool plain = std::all_of(
      s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; });
  if (plain) {
    out->push_back('"');
    out->append(s);
    out->push_back('"');
    return;
  }
  out->append(nlohmann::json(std::string(s))
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Key(std::string* out, std::string_view key, bool first = false) {
  if (!first) out->push_back(',');
  AppendString(out, key);
  out->push_back(':');
}

void Field(std::string* out, std::string_view key, std::string_view value, bool first = false) {
  Key(out, key, first);
  AppendString(out, value);
}

template <typename Int>
requires std::is_integral_v<Int>
void Field(std::string* out, std::string_view key, Int value, bool first = false) {
  Key(out, key, first);
  absl::StrAppend(out, value);
}

// Doubles in nlohmann's shortest round-trip form ("0.0", "1.5", "1e-05"); like nlohmann, null
// for what is not finite (a huge value that rounding pushed to infinity).
void Field(std::string* out, std::string_view key, double value, bool first = false) {
  Key(out, key, first);
  if (!std::isfinite(value)) {
    out->append("null");
    return;
  }
  char buffer[64];
  char* end = nlohmann::detail::to_chars(buffer, buffer + sizeof buffer, value);
  out->append(buffer, end);
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
  // Written field by field (a JSON document built first costs more than the rest of the
  // writer's work per record); the bytes are nlohmann's compact dump of the same object, which
  // the tests check.
  std::string out;
  out.reserve(640);
  out += '{';
  Field(&out, "seq", r.seq, /*first=*/true);
  Field(&out, "time", r.time);
  Field(&out, "request_id", r.request_id);
  Field(&out, "tenant", r.tenant);
  Field(&out, "subject", r.subject);
  Field(&out, "method", r.method);
  Field(&out, "policy_hash", r.policy_hash);
  Field(&out, "rule_id", r.rule_id);
  Field(&out, "level", r.level);
  if (!r.model.empty()) Field(&out, "model", r.model);
  Key(&out, "categories");
  out += '{';
  for (const auto& [k, v] : r.categories) Field(&out, k, v, &k == &r.categories.begin()->first);
  out += '}';
  Field(&out, "difficulty", Round(r.difficulty, 1e4));
  Field(&out, "target", r.target);
  Field(&out, "transform", r.transform);
  Key(&out, "fallbacks");
  out += '[';
  for (size_t i = 0; i < r.fallbacks.size(); ++i) {
    if (i > 0) out += ',';
    AppendString(&out, r.fallbacks[i]);
  }
  out += ']';
  Field(&out, "outcome", r.outcome);
  Field(&out, "status_code", r.status_code);
  Field(&out, "prompt_tokens", r.prompt_tokens);
  Field(&out, "completion_tokens", r.completion_tokens);
  Field(&out, "mangled_placeholders", r.mangled_placeholders);
  Key(&out, "stage_ms");
  out += '{';
  for (const auto& [k, v] : r.stage_ms) {
    Field(&out, k, Round(v, 1e3), &k == &r.stage_ms.begin()->first);
  }
  out += '}';
  Field(&out, "total_ms", Round(r.total_ms, 1e3));
  Field(&out, "content_hmac", r.content_hmac);
  Field(&out, "prev", r.prev);
  out += '}';
  return out;
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
