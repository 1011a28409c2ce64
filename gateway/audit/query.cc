#include "gateway/audit/query.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace airlock::gateway {
namespace {

bool AnyOf(const std::string& values, const std::string& v) {
  if (values.empty()) return true;
  for (absl::string_view want : absl::StrSplit(values, ',')) {
    if (want == v) return true;
  }
  return false;
}

bool ValidTimePrefix(const std::string& t) {
  // Positions of the fixed separators in "2026-11-24T12:00:00.123Z".
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.ddd";
  std::string_view s = t;
  if (!s.empty() && s.back() == 'Z') s.remove_suffix(1);
  if (s.size() < 4 || s.size() > kShape.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (kShape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != kShape[i]) return false;
  }
  // Only whole fields: not "2026-1".
  return s.size() == 4 || s.size() == 7 || s.size() == 10 || s.size() == 13 || s.size() == 16 ||
         s.size() >= 19;
}

}  // namespace

absl::Status ValidateAuditQuery(const AuditQuery& q) {
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string&>{"--since", q.since},
        std::pair<const char*, const std::string&>{"--until", q.until}}) {
    if (!value.empty() && !ValidTimePrefix(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": '", value,
          "' is not an RFC 3339 UTC time or prefix (e.g. 2026-11-24 or 2026-11-24T12:30)"));
    }
  }
  return absl::OkStatus();
}

bool AuditQueryMatches(const AuditQuery& q, const AuditRecord& r) {
  std::string since = q.since, until = q.until;
  if (!since.empty() && since.back() == 'Z') since.pop_back();
  if (!until.empty() && until.back() == 'Z') until.pop_back();
  if (!since.empty() && r.time.compare(0, since.size(), since) < 0) return false;
  if (!until.empty() && r.time.compare(0, until.size(), until) >= 0) return false;
  if (!AnyOf(q.tenant, r.tenant) || !AnyOf(q.target, r.target) || !AnyOf(q.level, r.level) ||
      !AnyOf(q.rule, r.rule_id) || !AnyOf(q.outcome, r.outcome)) {
    return false;
  }
  if (!q.category.empty()) {
    bool any = false;
    for (absl::string_view want : absl::StrSplit(q.category, ',')) {
      for (const auto& [category, count] : r.categories) {
        if (count <= 0) continue;
        if (!want.empty() && want.back() == '*'
                ? category.compare(0, want.size() - 1,
                                   std::string(want.substr(0, want.size() - 1))) == 0
                : category == want) {
          any = true;
        }
      }
    }
    if (!any) return false;
  }
  return true;
}

absl::StatusOr<AuditReadStats> ForEachAuditRecord(
    const AuditLogLayout& layout,
    const std::function<bool(const AuditRecord& record, std::string_view line)>& fn) {
  absl::StatusOr<std::vector<AuditLogLayout::Segment>> segments = layout.ListSegments();
  if (!segments.ok()) return segments.status();
  AuditReadStats stats;
  for (const AuditLogLayout::Segment& seg : *segments) {
    std::ifstream in(seg.path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(seg.path, ": cannot read"));
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // a torn last line
      absl::StatusOr<AuditRecord> r = DecodeAuditRecord(line);
      if (!r.ok()) {
        ++stats.undecodable;
        continue;
      }
      ++stats.records;
      if (!fn(*r, line)) return stats;
    }
  }
  return stats;
}

std::string AuditTableHeader() {
  return absl::StrFormat("%-8s %-24s %-12s %-10s %-12s %-24s %-12s %-10s %9s  %s\n", "SEQ", "TIME",
                         "TENANT", "METHOD", "LEVEL", "RULE", "TARGET", "OUTCOME", "MS",
                         "CATEGORIES");
}

std::string AuditTableRow(const AuditRecord& r) {
  std::string categories;
  for (const auto& [c, n] : r.categories) {
    absl::StrAppend(&categories, categories.empty() ? "" : ",", c, "=", n);
  }
  return absl::StrFormat("%-8d %-24s %-12s %-10s %-12s %-24s %-12s %-10s %9.3f  %s\n", r.seq,
                         r.time, r.tenant, r.method, r.level, r.rule_id,
                         r.target.empty() ? "-" : r.target, r.outcome, r.total_ms,
                         categories.empty() ? "-" : categories);
}

}  // namespace airlock::gateway
