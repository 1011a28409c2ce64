// `airlock audit report`: one self-contained HTML page about an audit log, for a reviewer.
//
// The page has no external assets (inline CSS, inline SVG charts, no scripts) and shows: the
// verification result (verifier.h) first; requests over time per target and per level
// (stacked bars, up to 24 time buckets); denials by rule; fallbacks (targets passed over and
// why); top finding categories by tenant; totals by outcome. Only records that match `filter`
// are counted (its time range bounds the charts). Every text from the log is HTML-escaped.
//
// Thread-safety: pure function over files that must not change while it runs.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "gateway/audit/checkpoint.h"
#include "gateway/audit/query.h"
#include "gateway/audit/verifier.h"

namespace airlock::gateway {

absl::StatusOr<std::string> RenderAuditReport(const AuditLogLayout& layout,
                                              const AuditVerifyResult& verification,
                                              const AuditQuery& filter);

// "&<>\"'" escaped.
std::string HtmlEscape(std::string_view text);

}  // namespace airlock::gateway
