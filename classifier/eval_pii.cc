// EvalPii: the built-in PII detectors on Presidio's synthetic data set
// (pii/presidio_synth_dataset_v2.json, 1,500 texts with character spans of 17 entity types).
//
// Each text is assessed as the content of one user message. Our categories map to Presidio's
// entity types (kEntityOf below); findings of other categories are counted apart.
// Span criterion: a finding and a gold span match when they have the same entity type and
// their intersection covers at least half of the shorter of the two. Recall = gold spans matched
// by some finding / gold spans; precision = findings that match some gold span / findings;
// F2 = 5PR / (4P + R). Gold spans are given in code points; they are converted to byte offsets
// (our findings' unit) by decoding the text as UTF-8.
// Document level: of the texts with at least one gold span, the share where the classifier
// reports at least one pii.* finding; and of the texts without gold spans, the share where it
// reports one (document-level false alarms).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "classifier/eval.h"
#include "classifier/public_data.h"

namespace airlock::classifier {
namespace {

struct Mapping {
  std::string_view category;
  std::string_view entity;
};
constexpr Mapping kEntityOf[] = {
    {"pii.email", "EMAIL_ADDRESS"},     {"pii.credit_card", "CREDIT_CARD"},
    {"pii.iban", "IBAN_CODE"},          {"pii.us_ssn", "US_SSN"},
    {"pii.ip_address", "IP_ADDRESS"},   {"pii.phone", "PHONE_NUMBER"},
    {"pii.person_name", "PERSON"},      {"pii.street_address", "STREET_ADDRESS"},
    {"pii.date_of_birth", "DATE_TIME"},
};
// The types with goals: recall and precision floors.
struct Goal {
  std::string_view entity;
  double recall;
  double precision;
};
constexpr Goal kGoals[] = {
    {"EMAIL_ADDRESS", 0.97, 0.95}, {"CREDIT_CARD", 0.97, 0.95}, {"IBAN_CODE", 0.97, 0.95},
    {"US_SSN", 0.97, 0.95},        {"IP_ADDRESS", 0.97, 0.95},  {"PHONE_NUMBER", 0.90, 0.95},
};

std::string EntityOf(std::string_view category) {
  for (const Mapping& m : kEntityOf) {
    if (m.category == category) return std::string(m.entity);
  }
  return "";
}

std::string CategoryOf(std::string_view entity) {
  for (const Mapping& m : kEntityOf) {
    if (m.entity == entity) return std::string(m.category);
  }
  return "";
}

struct Span {
  size_t begin = 0;
  size_t end = 0;
  std::string entity;
};

bool SpansMatch(const Span& a, const Span& b) {
  if (a.entity != b.entity) return false;
  const size_t lo = std::max(a.begin, b.begin), hi = std::min(a.end, b.end);
  if (hi <= lo) return false;
  const size_t shorter = std::min(a.end - a.begin, b.end - b.begin);
  return 2 * (hi - lo) >= shorter;
}

// Byte offset of each code point index of a UTF-8 text (plus one past the end). Bytes that are
// not valid UTF-8 count as one code point each, as Python's surrogateescape would.
std::vector<size_t> CodePointOffsets(std::string_view text) {
  std::vector<size_t> offsets;
  size_t i = 0;
  while (i < text.size()) {
    offsets.push_back(i);
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (i + n > text.size()) n = 1;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) n = 1;
    }
    i += n;
  }
  offsets.push_back(text.size());
  return offsets;
}

std::string Fixed(double v, int digits = 3) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

double F2(double p, double r) { return p + r > 0 ? 5 * p * r / (4 * p + r) : 0; }

// A one-line excerpt around [begin, end) for the misses table.
std::string Excerpt(std::string_view text, size_t begin, size_t end) {
  const size_t lo = begin > 30 ? begin - 30 : 0;
  const size_t hi = std::min(text.size(), end + 15);
  std::string s = absl::StrCat(std::string(text.substr(lo, begin - lo)), "[[",
                               std::string(text.substr(begin, end - begin)), "]]",
                               std::string(text.substr(end, hi - end)));
  for (char& c : s) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  }
  return s;
}

struct Counts {
  int gold = 0, found = 0, predicted = 0, correct = 0;
  std::vector<std::string> misses, false_alarms;
};

}  // namespace

absl::StatusOr<EvalReport> EvalPii(const Classifier& classifier, const std::string& data_dir) {
  const std::string path = absl::StrCat(data_dir, "/", kPresidioFile);
  auto data = LoadPresidio(data_dir);
  if (!data.ok()) return data.status();

  std::map<std::string, Counts> counts;  // by entity type
  std::map<std::string, int> unmapped;   // findings of categories without an entity type
  int docs_with_gold = 0, docs_with_gold_flagged = 0;
  int docs_without_gold = 0, docs_without_gold_flagged = 0;
  int docs_with_pattern_gold = 0, docs_with_pattern_gold_flagged = 0;
  double assess_seconds = 0;
  constexpr size_t kMaxExamples = 5;

  for (size_t d = 0; d < data->size(); ++d) {
    const PresidioText& doc = (*data)[d];
    const std::string where = absl::StrCat(path, ": entry ", d);
    const std::string& text = doc.text;
    const std::vector<size_t> offsets = CodePointOffsets(text);
    std::vector<Span> gold;
    bool pattern_gold = false;
    for (const PresidioSpan& s : doc.spans) {
      if (s.begin > s.end || s.end >= offsets.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": span [", s.begin, ", ", s.end, ") outside the text"));
      }
      gold.push_back(Span{offsets[s.begin], offsets[s.end], s.entity});
      for (const Goal& g : kGoals) pattern_gold = pattern_gold || g.entity == gold.back().entity;
    }

    v1::ChatRequest request;
    auto* message = request.add_messages();
    message->set_role(v1::Message::USER);
    message->set_content(text);
    const auto start = std::chrono::steady_clock::now();
    const Assessment assessment = classifier.Assess(request);
    assess_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::vector<Span> predicted;
    bool flagged = false;
    for (const Finding& f : assessment.findings) {
      if (f.category.rfind("pii.", 0) == 0) flagged = true;
      const std::string entity = EntityOf(f.category);
      if (entity.empty()) {
        ++unmapped[f.category];
        continue;
      }
      predicted.push_back(Span{f.begin, f.end, entity});
    }
    if (gold.empty()) {
      ++docs_without_gold;
      docs_without_gold_flagged += flagged ? 1 : 0;
    } else {
      ++docs_with_gold;
      docs_with_gold_flagged += flagged ? 1 : 0;
    }
    if (pattern_gold) {
      ++docs_with_pattern_gold;
      docs_with_pattern_gold_flagged += flagged ? 1 : 0;
    }
    for (const Span& g : gold) {
      Counts& c = counts[g.entity];
      ++c.gold;
      const bool hit = std::any_of(predicted.begin(), predicted.end(),
                                   [&g](const Span& p) { return SpansMatch(g, p); });
      if (hit) {
        ++c.found;
      } else if (c.misses.size() < kMaxExamples) {
        c.misses.push_back(Excerpt(text, g.begin, g.end));
      }
    }
    for (const Span& p : predicted) {
      Counts& c = counts[p.entity];
      ++c.predicted;
      const bool hit =
          std::any_of(gold.begin(), gold.end(), [&p](const Span& g) { return SpansMatch(g, p); });
      if (hit) {
        ++c.correct;
      } else if (c.false_alarms.size() < kMaxExamples) {
        c.false_alarms.push_back(Excerpt(text, p.begin, p.end));
      }
    }
  }

  EvalReport report;
  EvalTable spans;
  spans.title = absl::StrCat("PII spans: ", kPresidioFile, " (", data->size(), " texts)");
  spans.header = {"entity",   "our category", "gold",      "found", "recall",
                  "findings", "correct",      "precision", "F2"};
  for (const auto& [entity, c] : counts) {
    const std::string category = CategoryOf(entity);
    const double recall = c.gold > 0 ? static_cast<double>(c.found) / c.gold : 0;
    const double precision = c.predicted > 0 ? static_cast<double>(c.correct) / c.predicted : 0;
    spans.rows.push_back({entity, category.empty() ? "(none)" : category, std::to_string(c.gold),
                          std::to_string(c.found), c.gold > 0 ? Fixed(recall) : "-",
                          std::to_string(c.predicted), std::to_string(c.correct),
                          c.predicted > 0 ? Fixed(precision) : "-",
                          c.gold > 0 && c.predicted > 0 ? Fixed(F2(precision, recall)) : "-"});
  }
  for (const auto& [category, n] : unmapped) {
    spans.rows.push_back({"(no type)", category, "0", "0", "-", std::to_string(n), "0", "-", "-"});
  }
  spans.notes = {
      "match: same entity type and the overlap covers >= 1/2 of the shorter span",
      "recall = gold spans matched / gold; precision = findings matching a gold span / findings",
      "DATE_TIME is only scored against pii.date_of_birth (dates next to 'born', 'DOB', ...)",
      absl::StrCat(
          "assessment time: ", Fixed(1000 * assess_seconds / std::max<size_t>(1, data->size())),
          " ms per text (informational)"),
  };
  report.tables.push_back(std::move(spans));

  EvalTable docs;
  docs.title = "PII documents: does the text contain PII?";
  docs.header = {"texts", "count", "flagged (a pii.* finding)", "share"};
  auto share = [](int a, int b) { return b > 0 ? Fixed(static_cast<double>(a) / b) : "-"; };
  docs.rows.push_back({"with any gold span (recall)", std::to_string(docs_with_gold),
                       std::to_string(docs_with_gold_flagged),
                       share(docs_with_gold_flagged, docs_with_gold)});
  docs.rows.push_back({"with a pattern-type gold span (recall)",
                       std::to_string(docs_with_pattern_gold),
                       std::to_string(docs_with_pattern_gold_flagged),
                       share(docs_with_pattern_gold_flagged, docs_with_pattern_gold)});
  docs.rows.push_back({"without gold spans (false alarms)", std::to_string(docs_without_gold),
                       std::to_string(docs_without_gold_flagged),
                       share(docs_without_gold_flagged, docs_without_gold)});
  report.tables.push_back(std::move(docs));

  EvalTable examples;
  examples.title = "PII misses and false alarms (first 5 per goal type)";
  examples.header = {"entity", "kind", "excerpt"};
  for (const Goal& g : kGoals) {
    const auto it = counts.find(std::string(g.entity));
    if (it == counts.end()) continue;
    for (const auto& m : it->second.misses) examples.rows.push_back({it->first, "miss", m});
    for (const auto& m : it->second.false_alarms) {
      examples.rows.push_back({it->first, "false alarm", m});
    }
  }
  if (!examples.rows.empty()) report.tables.push_back(std::move(examples));

  for (const Goal& g : kGoals) {
    const auto it = counts.find(std::string(g.entity));
    const Counts c = it == counts.end() ? Counts{} : it->second;
    report.goals.push_back(GoalCheck{absl::StrCat("pii ", std::string(g.entity), " recall"),
                                     c.gold > 0 ? static_cast<double>(c.found) / c.gold : 0,
                                     g.recall, true});
    report.goals.push_back(GoalCheck{
        absl::StrCat("pii ", std::string(g.entity), " precision"),
        c.predicted > 0 ? static_cast<double>(c.correct) / c.predicted : 0, g.precision, true});
  }
  return report;
}

}  // namespace airlock::classifier
