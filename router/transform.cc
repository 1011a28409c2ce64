#include "router/transform.h"

#include <algorithm>
#include <utility>

namespace airlock::router {
namespace {

using classifier::Finding;
using classifier::Level;

// Upper-cased last component of the category, with anything outside [A-Z0-9_] as '_', so that
// a placeholder never contains '[' or ']' (which Restore and StreamRestorer rely on).
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
  const int n = ++counters_[clean];
  std::string placeholder = "[" + clean + "_" + std::to_string(n) + "]";
  by_placeholder_.emplace(placeholder, std::string(value));
  return by_value_.emplace(std::move(key), std::move(placeholder)).first->second;
}

const std::string* PseudonymMap::Original(std::string_view placeholder) const {
  auto it = by_placeholder_.find(placeholder);
  return it == by_placeholder_.end() ? nullptr : &it->second;
}

TransformResult ApplyTransform(Transform transform, const classifier::Assessment& assessment,
                               v1::ChatRequest* request) {
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
  // sure of here). Replacement text is chosen in that order so that pseudonyms are numbered
  // by first appearance, then applied right to left so that earlier offsets stay valid.
  std::vector<const Finding*> ordered;
  ordered.reserve(assessment.findings.size());
  for (const Finding& f : assessment.findings) ordered.push_back(&f);
  std::stable_sort(ordered.begin(), ordered.end(), [](const Finding* a, const Finding* b) {
    if (a->field != b->field) return a->field < b->field;
    return a->begin < b->begin;
  });

  size_t i = 0;
  while (i < ordered.size()) {
    size_t j = i;
    while (j < ordered.size() && ordered[j]->field == ordered[i]->field) ++j;
    std::string* text = classifier::MutableField(request, ordered[i]->field);
    // Decide which findings of this field can be applied: inside the text and not overlapping
    // the previous one. Any other finding is kept as remaining (fail closed).
    std::vector<std::pair<const Finding*, std::string>> edits;
    size_t last_end = 0;
    for (size_t k = i; k < j; ++k) {
      const Finding* f = ordered[k];
      if (text == nullptr || f->begin >= f->end || f->end > text->size() || f->begin < last_end) {
        result.remaining.push_back(*f);
        continue;
      }
      last_end = f->end;
      const std::string label = LabelFor(f->category);
      if (transform == Transform::kMask) {
        edits.emplace_back(f, "[" + label + "]");
      } else {
        const std::string_view value(text->data() + f->begin, f->end - f->begin);
        edits.emplace_back(f, result.pseudonyms.PlaceholderFor(label, value));
      }
    }
    for (auto it = edits.rbegin(); it != edits.rend(); ++it) {
      text->replace(it->first->begin, it->first->end - it->first->begin, it->second);
    }
    i = j;
  }
  result.remaining_level = std::max(MaxLevel(result.remaining), unattributed);
  return result;
}

namespace {

size_t MaxPlaceholderSize(const PseudonymMap& map) {
  size_t n = 0;
  for (const auto& [placeholder, value] : map.entries()) n = std::max(n, placeholder.size());
  return n;
}

// Restores the placeholders in text into out. When `stream` is set, a suffix of text that is a
// proper prefix of some placeholder is not emitted; its offset is returned (text.size() when
// everything was emitted).
size_t RestoreInto(const PseudonymMap& map, std::string_view text, bool stream, std::string* out) {
  const auto& entries = map.entries();
  const size_t max_size = MaxPlaceholderSize(map);
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find('[', i);
    if (open == std::string_view::npos || max_size == 0) {
      out->append(text.substr(i));
      return text.size();
    }
    out->append(text.substr(i, open - i));
    const std::string_view window = text.substr(open, max_size);
    const size_t close = window.find(']');
    if (close != std::string_view::npos) {
      if (const std::string* original = map.Original(window.substr(0, close + 1))) {
        out->append(*original);
        i = open + close + 1;
        continue;
      }
    } else if (stream && open + window.size() == text.size()) {
      // The text ends inside the window without a ']': hold it back if a placeholder could
      // still complete it.
      auto it = entries.lower_bound(window);
      if (it != entries.end() && it->first.size() > window.size() &&
          std::string_view(it->first).substr(0, window.size()) == window) {
        return open;
      }
    }
    out->push_back('[');
    i = open + 1;
  }
  return text.size();
}

}  // namespace

std::string Restore(const PseudonymMap& map, std::string_view text) {
  std::string out;
  out.reserve(text.size());
  RestoreInto(map, text, /*stream=*/false, &out);
  return out;
}

std::string StreamRestorer::Push(std::string_view chunk) {
  if (map_ == nullptr) return std::string(chunk);
  pending_.append(chunk);
  std::string out;
  const size_t held = RestoreInto(*map_, pending_, /*stream=*/true, &out);
  pending_.erase(0, held);
  return out;
}

std::string StreamRestorer::Finish() {
  if (map_ == nullptr) return std::exchange(pending_, std::string());
  std::string out;
  RestoreInto(*map_, pending_, /*stream=*/false, &out);
  pending_.clear();
  return out;
}

}  // namespace airlock::router
