#include "router/transform.h"

#include <algorithm>
#include <array>
#include <utility>

namespace airlock::router {
namespace {

using classifier::Finding;
using classifier::Level;

// Upper-cased last component of the category, with anything outside [A-Z0-9_] as '_', so that
// a label never contains '<' or '>' (which Restore and StreamRestorer rely on).
std::string LabelFor(std::string_view category) {
  const size_t dot = category.rfind('.');
  std::string label(dot == std::string_view::npos ? category : category.substr(dot + 1));
  for (char& c : label) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    } else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
      c = '_';
    }
  }
  if (label.empty()) label = "REDACTED";
  return label;
}

bool IsLabelByte(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

Level MaxLevel(const std::vector<Finding>& findings) {
  Level level = Level::kPublic;
  for (const Finding& f : findings) level = std::max(level, f.level);
  return level;
}

}  // namespace

std::string_view TransformName(Transform t) {
  switch (t) {
    case Transform::kNone:
      return "none";
    case Transform::kMask:
      return "mask";
    case Transform::kPseudonymize:
      return "pseudonymize";
  }
  return "unknown";
}

std::optional<Transform> ParseTransform(std::string_view name) {
  for (Transform t : {Transform::kNone, Transform::kMask, Transform::kPseudonymize}) {
    if (name == TransformName(t)) return t;
  }
  return std::nullopt;
}

std::string PlaceholderLabel(std::string_view category) { return LabelFor(category); }

const std::string& PseudonymMap::PlaceholderFor(std::string_view label, std::string_view value) {
  const std::string clean = LabelFor(label);
  std::string key = clean;
  key.push_back('\0');
  key.append(value);
  if (auto it = by_value_.find(key); it != by_value_.end()) return it->second;
  std::string placeholder;
  do {
    placeholder = "<" + clean + "_" + std::to_string(++counters_[clean]) + ">";
  } while (reserved_.count(placeholder) != 0);
  by_placeholder_.emplace(placeholder, std::string(value));
  return by_value_.emplace(std::move(key), std::move(placeholder)).first->second;
}

void PseudonymMap::Reserve(std::string_view placeholder) { reserved_.emplace(placeholder); }

const std::string* PseudonymMap::Original(std::string_view placeholder) const {
  auto it = by_placeholder_.find(placeholder);
  return it == by_placeholder_.end() ? nullptr : &it->second;
}

TransformResult ApplyTransform(Transform transform, const classifier::Assessment& assessment,
                               v1::ChatRequest* request) {
  return ApplyTransform(transform, assessment, std::nullopt, request);
}

TransformResult ApplyTransform(Transform transform, const classifier::Assessment& assessment,
                               std::optional<Level> clearance, v1::ChatRequest* request) {
  TransformResult result;
  // A level the findings do not account for (a future model stage may raise it without a
  // span) cannot be removed by rewriting spans, so it stays whatever the transform.
  const Level unattributed =
      assessment.level > MaxLevel(assessment.findings) ? assessment.level : Level::kPublic;
  if (transform == Transform::kNone) {
    result.remaining = assessment.findings;
    result.remaining_level = std::max(MaxLevel(result.remaining), unattributed);
    return result;
  }

  // Findings grouped per field, in request order then by begin (the assessment's order, made
  // sure of here). Each field is rebuilt left to right, so pseudonyms are numbered by first
  // appearance and the bytes between findings are copied as they are.
  std::vector<const Finding*> ordered;
  ordered.reserve(assessment.findings.size());
  for (const Finding& f : assessment.findings) ordered.push_back(&f);
  std::stable_sort(ordered.begin(), ordered.end(), [](const Finding* a, const Finding* b) {
    if (a->field != b->field) return a->field < b->field;
    return a->begin < b->begin;
  });

  if (transform == Transform::kPseudonymize) {
    // Text already shaped like a placeholder must not become one of ours.
    classifier::ForEachField(*request, [&](const classifier::FieldRef&, std::string_view text) {
      for (size_t open = text.find('<'); open != std::string_view::npos;
           open = text.find('<', open + 1)) {
        size_t k = open + 1;
        while (k < text.size() && IsLabelByte(text[k])) ++k;
        if (k > open + 1 && k < text.size() && text[k] == '>') {
          result.pseudonyms.Reserve(text.substr(open, k + 1 - open));
        }
      }
    });
  }

  size_t i = 0;
  while (i < ordered.size()) {
    size_t j = i;
    while (j < ordered.size() && ordered[j]->field == ordered[i]->field) ++j;
    std::string* text = classifier::MutableField(request, ordered[i]->field);
    std::string out;
    size_t copied = 0;  // bytes of *text already copied or replaced into out
    for (size_t k = i; k < j; ++k) {
      const Finding* f = ordered[k];
      if (clearance.has_value() && f->level <= *clearance) {
        result.remaining.push_back(*f);  // cleared: its text passes unchanged
        continue;
      }
      // Fail closed: a finding that cannot be rewritten stays, unrewritten.
      if (text == nullptr || f->begin >= f->end || f->end > text->size() || f->begin < copied) {
        result.remaining.push_back(*f);
        continue;
      }
      if (out.empty()) out.reserve(text->size());
      out.append(*text, copied, f->begin - copied);
      const std::string label = LabelFor(f->category);
      if (transform == Transform::kMask) {
        out.append("[").append(label).append("]");
      } else {
        const std::string_view value(text->data() + f->begin, f->end - f->begin);
        out.append(result.pseudonyms.PlaceholderFor(label, value));
      }
      copied = f->end;
    }
    if (text != nullptr && copied > 0) {
      out.append(*text, copied, std::string::npos);
      *text = std::move(out);
    }
    i = j;
  }
  result.remaining_level = std::max(MaxLevel(result.remaining), unattributed);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Restoring and mangled placeholders.

void MangledReport::Add(size_t offset, std::string_view text) {
  ++count;
  if (runs.size() < kMaxListed) runs.push_back(MangledPlaceholder{offset, std::string(text)});
}

namespace {

bool IsIdent(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

size_t MaxPlaceholderSize(const PseudonymMap& map) {
  size_t n = 0;
  for (const auto& [placeholder, value] : map.entries()) n = std::max(n, placeholder.size());
  return n;
}

// True when some placeholder of the map is longer than `prefix` and starts with it.
bool ProperPrefixOfPlaceholder(const PseudonymMap& map, std::string_view prefix) {
  const auto& entries = map.entries();
  auto it = entries.lower_bound(prefix);
  return it != entries.end() && it->first.size() > prefix.size() &&
         std::string_view(it->first).substr(0, prefix.size()) == prefix;
}

// Restores the placeholders in text into out. When `stream` is set, a suffix of text that is a
// proper prefix of some placeholder is not emitted; its offset is returned (text.size() when
// everything was emitted).
size_t RestoreInto(const PseudonymMap& map, size_t max_size, std::string_view text, bool stream,
                   std::string* out) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find('<', i);
    if (open == std::string_view::npos || max_size == 0) {
      out->append(text.substr(i));
      return text.size();
    }
    out->append(text.substr(i, open - i));
    const std::string_view window = text.substr(open, max_size);
    const size_t close = window.find('>');
    if (close != std::string_view::npos) {
      if (const std::string* original = map.Original(window.substr(0, close + 1))) {
        out->append(*original);
        i = open + close + 1;
        continue;
      }
    } else if (stream && open + window.size() == text.size() &&
               ProperPrefixOfPlaceholder(map, window)) {
      // The text ends inside the window without a '>' and a placeholder could still
      // complete it: hold it back.
      return open;
    }
    out->push_back('<');
    i = open + 1;
  }
  return text.size();
}

}  // namespace

namespace internal {

// Finds mangled placeholders (the rule is in the header).
class MangledScanner {
 public:
  explicit MangledScanner(const PseudonymMap& map) : map_(map) {
    max_placeholder_ = MaxPlaceholderSize(map);
    for (const auto& [label, count] : map.labels()) {
      labels_.push_back(label);
      const unsigned char first = static_cast<unsigned char>(label[0]);
      starts_label_[first] = true;
      if (first >= 'A' && first <= 'Z') starts_label_[first - 'A' + 'a'] = true;
    }
  }

  // Scans text (whose preceding byte is [A-Za-z0-9_] when after_ident) and adds the runs found
  // to report at base + their offset. When !final, stops at the first position that cannot
  // be decided without more text and returns it; else returns text.size().
  size_t Scan(std::string_view text, bool after_ident, bool final, size_t base,
              MangledReport* report) const {
    if (labels_.empty()) return text.size();
    size_t s = 0;
    while (s < text.size()) {
      const bool before_ident = s == 0 ? after_ident : IsIdent(text[s - 1]);
      const Outcome o = TryAt(text, s, before_ident, final);
      switch (o.kind) {
        case Kind::kMore:
          return s;
        case Kind::kExact:
          s += o.size;
          break;
        case Kind::kMangled:
          report->Add(base + s, text.substr(s, o.size));
          s += o.size;
          break;
        case Kind::kNone:
          ++s;
          break;
      }
    }
    return text.size();
  }

 private:
  enum class Kind { kNone, kExact, kMangled, kMore };
  struct Outcome {
    Kind kind = Kind::kNone;
    size_t size = 0;
  };

  Outcome TryAt(std::string_view text, size_t s, bool before_ident, bool final) const {
    const char c = text[s];
    const bool has_open = c == '<' || c == '[';
    if (!has_open && (before_ident || !starts_label_[static_cast<unsigned char>(c)])) return {};
    if (c == '<') {
      const std::string_view window = text.substr(s, max_placeholder_);
      const size_t close = window.find('>');
      if (close != std::string_view::npos) {
        if (map_.Original(window.substr(0, close + 1)) != nullptr) {
          return {Kind::kExact, close + 1};
        }
      } else if (!final && s + window.size() == text.size() &&
                 ProperPrefixOfPlaceholder(map_, window)) {
        return {Kind::kMore, 0};
      }
    }
    const size_t label_at = has_open ? s + 1 : s;
    if (label_at == text.size()) return final ? Outcome{} : Outcome{Kind::kMore, 0};
    Outcome best;
    for (const std::string& label : labels_) {
      const Outcome o = TryLabel(text, s, label_at, has_open, label, final);
      if (o.kind == Kind::kMore) return o;
      if (o.kind == Kind::kMangled && o.size > best.size) best = o;
    }
    return best;
  }

  // The run starting at s with `label` at label_at.
  static Outcome TryLabel(std::string_view text, size_t s, size_t label_at, bool has_open,
                          const std::string& label, bool final) {
    const Outcome more{Kind::kMore, 0};
    const size_t n = text.size();
    size_t p = label_at;
    bool exact_label = true;
    for (const char l : label) {
      if (p == n) return final ? Outcome{} : more;
      const char t = text[p];
      if (t == l) {
        // as written
      } else if (Upper(t) == l || (l == '_' && (t == ' ' || t == '-'))) {
        exact_label = false;
      } else {
        return {};
      }
      ++p;
    }
    char sep = 0;
    if (p == n && !final) return more;
    if (p < n && (text[p] == '_' || text[p] == ' ' || text[p] == '-')) sep = text[p++];
    size_t digits = 0;
    while (p < n && IsDigit(text[p]) && digits <= 9) {
      ++p;
      ++digits;
    }
    if (digits > 9) return {};
    if (p == n && !final) return more;
    bool has_close = false;
    if (p < n && (text[p] == '>' || text[p] == ']')) {
      has_close = true;
      ++p;
    }
    const char open = has_open ? text[s] : 0;
    const char close = has_close ? text[p - 1] : 0;
    if (!has_close && p < n && IsIdent(text[p])) return {};
    if (digits == 0 && !(open == '<' && close == '>' && exact_label)) return {};
    if (!has_open && !has_close && !(exact_label && sep == '_' && digits > 0)) return {};
    return {Kind::kMangled, p - s};
  }

  const PseudonymMap& map_;
  size_t max_placeholder_ = 0;
  std::vector<std::string> labels_;
  std::array<bool, 256> starts_label_{};
};

}  // namespace internal

using internal::MangledScanner;

MangledReport FindMangledPlaceholders(const PseudonymMap& map, std::string_view text) {
  MangledReport report;
  MangledScanner(map).Scan(text, /*after_ident=*/false, /*final=*/true, 0, &report);
  return report;
}

std::string Restore(const PseudonymMap& map, std::string_view text, MangledReport* mangled) {
  std::string out;
  out.reserve(text.size());
  RestoreInto(map, MaxPlaceholderSize(map), text, /*stream=*/false, &out);
  if (mangled != nullptr) {
    MangledScanner(map).Scan(text, /*after_ident=*/false, /*final=*/true, 0, mangled);
  }
  return out;
}

size_t RestoreResponse(const PseudonymMap& map, v1::ChatResponse* response) {
  if (map.empty()) return 0;
  MangledReport report;
  response->set_content(Restore(map, response->content(), &report));
  for (v1::ToolCall& call : *response->mutable_tool_calls()) {
    call.set_name(Restore(map, call.name(), &report));
    call.set_arguments(Restore(map, call.arguments(), &report));
  }
  return report.count;
}

StreamRestorer::StreamRestorer(const PseudonymMap* map) : map_(map) {
  if (map_ != nullptr && !map_->empty()) {
    max_placeholder_ = MaxPlaceholderSize(*map_);
    scanner_ = std::make_shared<const MangledScanner>(*map_);
  }
}

std::string StreamRestorer::Push(std::string_view chunk) {
  if (scanner_ == nullptr) return std::string(chunk);
  pending_.append(chunk);
  std::string out;
  const size_t held = RestoreInto(*map_, max_placeholder_, pending_, /*stream=*/true, &out);
  pending_.erase(0, held);

  scan_.append(chunk);
  const size_t scanned =
      scanner_->Scan(scan_, scan_after_ident_, /*final=*/false, scan_offset_, &mangled_);
  if (scanned > 0) {
    scan_after_ident_ = IsIdent(scan_[scanned - 1]);
    scan_.erase(0, scanned);
    scan_offset_ += scanned;
  }
  return out;
}

std::string StreamRestorer::Finish() {
  if (scanner_ == nullptr) return std::exchange(pending_, std::string());
  std::string out;
  RestoreInto(*map_, max_placeholder_, pending_, /*stream=*/false, &out);
  pending_.clear();
  const size_t scanned =
      scanner_->Scan(scan_, scan_after_ident_, /*final=*/true, scan_offset_, &mangled_);
  scan_offset_ += scanned;
  if (scanned > 0) scan_after_ident_ = IsIdent(scan_[scanned - 1]);
  scan_.clear();
  return out;
}

}  // namespace airlock::router
