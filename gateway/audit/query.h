// Reading audit records back: filters for `airlock audit query`, and the table it prints.
//
// ForEachAuditRecord reads a log's segments in order (checkpoint.h has the layout) and hands
// each complete record line, decoded, to a callback; lines that do not decode are skipped and
// counted (`airlock audit verify` is what judges them). Filters are exact matches on the
// record's fields; several values separated by commas match any of them; a category ending in
// '*' matches by prefix ("pii.*"). Times are RFC 3339 UTC prefixes compared as text, which
// orders them like the records' own "2026-11-24T12:00:00.123Z": since is inclusive, until
// exclusive ("--since 2026-11-24 --until 2026-11-25" is that day).
//
// Thread-safety: pure functions; the files must not be rewritten while they are read.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/audit/audit_record.h"
#include "gateway/audit/checkpoint.h"

namespace airlock::gateway {

struct AuditQuery {
  std::string since, until;
  std::string tenant, target, level, category, rule, outcome;
  uint64_t limit = 0;  // 0: no limit
};

// INVALID_ARGUMENT naming the option when a time is not an RFC 3339 prefix
// (YYYY[-MM[-DD[THH[:MM[:SS[.fff]]]]]][Z]).
absl::Status ValidateAuditQuery(const AuditQuery& q);
bool AuditQueryMatches(const AuditQuery& q, const AuditRecord& r);

struct AuditReadStats {
  uint64_t records = 0;
  uint64_t undecodable = 0;  // complete lines that are not records
};
// fn returns false to stop early.
absl::StatusOr<AuditReadStats> ForEachAuditRecord(
    const AuditLogLayout& layout,
    const std::function<bool(const AuditRecord& record, std::string_view line)>& fn);

// Fixed-width table: SEQ TIME TENANT METHOD LEVEL RULE TARGET OUTCOME MS CATEGORIES.
std::string AuditTableHeader();
std::string AuditTableRow(const AuditRecord& r);

}  // namespace airlock::gateway
