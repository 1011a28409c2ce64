#include "gateway/audit/report.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace airlock::gateway {
namespace {

constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
constexpr int kBuckets = 24;

// Milliseconds since the epoch of "2026-11-24T12:00:00.123Z"; -1 when it is not one.
int64_t ParseTime(const std::string& t) {
  int y, mo, d, h, mi, s, ms = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &y, &mo, &d, &h, &mi, &s, &ms) < 6) {
    return -1;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

struct Point {
  int64_t ms;
  std::string target;
  std::string level;
};

// A stacked bar chart: one bar per bucket, one colour per series.
std::string StackedBars(const std::string& title, const std::vector<std::string>& bucket_labels,
                        const std::map<std::string, std::vector<uint64_t>>& series) {
  const int width = 760, height = 240, left = 48, bottom = 40, top = 16;
  const int plot_w = width - left - 10, plot_h = height - bottom - top;
  const size_t n = bucket_labels.size();
  uint64_t max_total = 1;
  for (size_t b = 0; b < n; ++b) {
    uint64_t total = 0;
    for (const auto& [name, v] : series) total += v[b];
    max_total = std::max(max_total, total);
  }
  std::string svg = absl::StrFormat(
      "<figure><figcaption>%s</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" "
      "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">",
      HtmlEscape(title), width, height + 20 + 16 * static_cast<int>((series.size() + 3) / 4),
      HtmlEscape(title));
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>"
                        "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%d</text>"
                        "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">0</text>",
                        left, top + plot_h, left + plot_w, top + plot_h, left - 4, top + 10,
                        max_total, left - 4, top + plot_h);
  const double bar_w = n > 0 ? static_cast<double>(plot_w) / static_cast<double>(n) : plot_w;
  for (size_t b = 0; b < n; ++b) {
    double y = top + plot_h;
    size_t colour = 0;
    for (const auto& [name, v] : series) {
      const double h = static_cast<double>(v[b]) * plot_h / static_cast<double>(max_total);
      if (v[b] > 0) {
        y -= h;
        absl::StrAppendFormat(
            &svg,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s "
            "%s: %d</title></rect>",
            left + b * bar_w + 1, y, std::max(1.0, bar_w - 2), h, kPalette[colour % 10],
            HtmlEscape(bucket_labels[b]), HtmlEscape(name), v[b]);
      }
      ++colour;
    }
    if (n <= 8 || b % (n / 6 + 1) == 0) {
      absl::StrAppendFormat(&svg,
                            "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" "
                            "text-anchor=\"middle\">%s</text>",
                            left + (b + 0.5) * bar_w, top + plot_h + 14,
                            HtmlEscape(bucket_labels[b]));
    }
  }
  size_t i = 0;
  for (const auto& [name, v] : series) {
    const int x = left + static_cast<int>(i % 4) * 180;
    const int y = height + 4 + static_cast<int>(i / 4) * 16;
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                          "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>",
                          x, y, kPalette[i % 10], x + 14, y + 9, HtmlEscape(name));
    ++i;
  }
  svg += "</svg></figure>\n";
  return svg;
}

// Horizontal bars for a ranking.
std::string HorizontalBars(const std::string& title,
                           const std::vector<std::pair<std::string, uint64_t>>& rows) {
  if (rows.empty()) {
    return absl::StrCat("<figure><figcaption>", HtmlEscape(title),
                        "</figcaption><p class=\"none\">none</p></figure>\n");
  }
  uint64_t max_v = 1;
  for (const auto& [k, v] : rows) max_v = std::max(max_v, v);
  const int row_h = 20, label_w = 260, bar_max = 420;
  std::string svg = absl::StrFormat(
      "<figure><figcaption>%s</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" "
      "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">",
      HtmlEscape(title), label_w + bar_max + 60, row_h * static_cast<int>(rows.size()) + 4,
      HtmlEscape(title));
  int y = 2;
  for (const auto& [label, v] : rows) {
    const double w = static_cast<double>(v) * bar_max / static_cast<double>(max_v);
    absl::StrAppendFormat(&svg,
                          "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\">%s</text>"
                          "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                          "<text x=\"%.1f\" y=\"%d\" font-size=\"12\">%d</text>",
                          label_w - 6, y + 13, HtmlEscape(label), label_w, y, std::max(1.0, w),
                          row_h - 4, kPalette[0], label_w + w + 4, y + 13, v);
    y += row_h;
  }
  svg += "</svg></figure>\n";
  return svg;
}

std::vector<std::pair<std::string, uint64_t>> Top(const std::map<std::string, uint64_t>& m,
                                                  size_t k) {
  std::vector<std::pair<std::string, uint64_t>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (v.size() > k) v.resize(k);
  return v;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

absl::StatusOr<std::string> RenderAuditReport(const AuditLogLayout& layout,
                                              const AuditVerifyResult& verification,
                                              const AuditQuery& filter) {
  std::vector<Point> points;
  std::map<std::string, uint64_t> outcomes, denials_by_rule, fallbacks, by_target;
  std::map<std::string, std::map<std::string, uint64_t>> categories_by_tenant;
  std::string first_time, last_time;
  absl::StatusOr<AuditReadStats> stats =
      ForEachAuditRecord(layout, [&](const AuditRecord& r, std::string_view) {
        if (!AuditQueryMatches(filter, r)) return true;
        points.push_back({ParseTime(r.time), r.target.empty() ? "(none)" : r.target,
                          r.level.empty() ? "(none)" : r.level});
        if (first_time.empty() || r.time < first_time) first_time = r.time;
        if (r.time > last_time) last_time = r.time;
        ++outcomes[r.outcome];
        ++by_target[points.back().target];
        if (r.outcome == "denied") ++denials_by_rule[r.rule_id.empty() ? "(none)" : r.rule_id];
        for (const std::string& f : r.fallbacks) ++fallbacks[f];
        for (const auto& [c, n] : r.categories) {
          if (n > 0) categories_by_tenant[r.tenant][c] += static_cast<uint64_t>(n);
        }
        return true;
      });
  if (!stats.ok()) return stats.status();

  // Time buckets over the records' span.
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const Point& p : points) {
    if (p.ms < 0) continue;
    lo = std::min(lo, p.ms);
    hi = std::max(hi, p.ms);
  }
  std::vector<std::string> labels;
  std::map<std::string, std::vector<uint64_t>> per_target, per_level;
  if (lo <= hi) {
    const int64_t span = std::max<int64_t>(hi - lo + 1, 1);
    const int buckets =
        static_cast<int>(std::min<int64_t>(kBuckets, std::max<int64_t>(1, span / 1000 + 1)));
    const int64_t width = (span + buckets - 1) / buckets;
    for (int b = 0; b < buckets; ++b) {
      std::string t = FormatRfc3339Millis(lo + b * width);
      labels.push_back(span > 86400000 ? t.substr(5, 11) : t.substr(11, 8));
    }
    for (const Point& p : points) {
      if (p.ms < 0) continue;
      const size_t b = static_cast<size_t>(std::min<int64_t>((p.ms - lo) / width, buckets - 1));
      auto& t = per_target[p.target];
      auto& l = per_level[p.level];
      if (t.empty()) t.assign(labels.size(), 0);
      if (l.empty()) l.assign(labels.size(), 0);
      ++t[b];
      ++l[b];
    }
  }

  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>Airlock audit report</title><style>"
      "body{font-family:sans-serif;margin:24px;color:#222;max-width:980px}"
      "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}"
      ".ok{background:#e6f4ea;border:1px solid #59a14f;padding:10px}"
      ".bad{background:#fdecea;border:1px solid #e15759;padding:10px}"
      "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;"
      "text-align:left;font-size:13px}figure{margin:12px 0}figcaption{font-weight:bold;"
      "font-size:13px;margin-bottom:4px}.none{color:#888}code{font-size:12px}"
      "</style></head><body>\n<h1>Airlock audit report</h1>\n";
  absl::StrAppend(&html, "<p>Log <code>", HtmlEscape(layout.live), "</code>: ", points.size(),
                  " matching records of ", stats->records, first_time.empty() ? "" : ", from ",
                  HtmlEscape(first_time), first_time.empty() ? "" : " to ", HtmlEscape(last_time),
                  ".</p>\n");

  // Verification first.
  html += "<h2>Verification</h2>\n";
  absl::StrAppend(&html, "<div class=\"", verification.ok() ? "ok" : "bad",
                  "\" id=\"verification\">");
  if (verification.verified_at) {
    absl::StrAppend(&html, "<b>", verification.ok() ? "Intact" : "Intact only", " up to record ",
                    verification.verified - 1, "</b> at checkpoint ",
                    verification.verified_at->index, " (",
                    HtmlEscape(verification.verified_at->time), ", key <code>",
                    HtmlEscape(verification.verified_at->key_id), "</code>).");
  } else {
    html += "<b>No record is covered by a verified checkpoint.</b>";
  }
  absl::StrAppend(&html, " ", verification.records, " records in ", verification.segments,
                  " segments, ", verification.checkpoints, " checkpoints.");
  if (!verification.problems.empty()) {
    html += "<table><tr><th>kind</th><th>file</th><th>byte</th><th>record</th><th>what</th></tr>";
    for (const AuditProblem& p : verification.problems) {
      absl::StrAppend(&html, "<tr><td>", HtmlEscape(p.kind), "</td><td>", HtmlEscape(p.file),
                      "</td><td>", p.offset, "</td><td>", p.seq >= 0 ? std::to_string(p.seq) : "",
                      "</td><td>", HtmlEscape(p.message), "</td></tr>");
    }
    html += "</table>";
  }
  for (const std::string& n : verification.notes) {
    absl::StrAppend(&html, "<p>Note: ", HtmlEscape(n), "</p>");
  }
  html += "</div>\n";

  html += "<h2>Requests over time</h2>\n";
  if (labels.empty()) {
    html += "<p class=\"none\">no records</p>\n";
  } else {
    html += StackedBars("Requests per target", labels, per_target);
    html += StackedBars("Requests per level", labels, per_level);
  }

  html += "<h2>Outcomes</h2>\n";
  html += HorizontalBars("Requests by outcome", Top(outcomes, 20));
  html += HorizontalBars("Requests by target", Top(by_target, 20));

  html += "<h2>Denials</h2>\n";
  html += HorizontalBars("Denials by rule", Top(denials_by_rule, 20));

  html += "<h2>Fallbacks</h2>\n";
  if (fallbacks.empty()) {
    html += "<p class=\"none\">no target was passed over</p>\n";
  } else {
    html += "<table><tr><th>target passed over, and why</th><th>requests</th></tr>";
    for (const auto& [f, n] : Top(fallbacks, 50)) {
      absl::StrAppend(&html, "<tr><td>", HtmlEscape(f), "</td><td>", n, "</td></tr>");
    }
    html += "</table>\n";
  }

  html += "<h2>Top finding categories by tenant</h2>\n";
  if (categories_by_tenant.empty()) html += "<p class=\"none\">no findings</p>\n";
  for (const auto& [tenant, cats] : categories_by_tenant) {
    html +=
        HorizontalBars(absl::StrCat("Tenant ", tenant.empty() ? "(none)" : tenant), Top(cats, 10));
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace airlock::gateway
