// Transforms applied to a request before dispatch, and the restoring of pseudonyms.
//
//   none          the request goes as it is.
//   mask          each finding is replaced by "[CATEGORY]" (e.g. "[EMAIL]"); irreversible.
//   pseudonymize  each distinct value is replaced by "[CATEGORY_N]" (e.g. "[EMAIL_1]"), the
//                 same value always by the same placeholder within a request; the mapping
//                 lives in a PseudonymMap in memory for the request's lifetime only.
//
// CATEGORY is the upper-cased last component of the finding's category ("pii.email" ->
// "EMAIL", "secret.aws_access_key" -> "AWS_ACCESS_KEY"); any byte outside [A-Z0-9_] becomes
// '_', so a placeholder never contains '[' or ']' inside.
//
// Restoring replaces every occurrence of a placeholder of the map, wherever it appears in the
// text; anything else, including text that merely looks like a placeholder, passes unchanged.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "classifier/assessment.h"

namespace airlock::router {

enum class Transform { kNone, kMask, kPseudonymize };

std::string_view TransformName(Transform t);  // "none", "mask", "pseudonymize"
std::optional<Transform> ParseTransform(std::string_view name);

// The CATEGORY part of a placeholder for a finding category ("pii.email" -> "EMAIL").
std::string PlaceholderLabel(std::string_view category);

// Placeholder -> original value. Never written to disk or logs.
class PseudonymMap {
 public:
  // Returns the placeholder for value, creating "[LABEL_N]" on first use (N counts from 1 per
  // label). label goes through PlaceholderLabel's character rules. The reference stays valid
  // for the map's lifetime.
  const std::string& PlaceholderFor(std::string_view label, std::string_view value);
  // Original value of a placeholder, or nullptr.
  const std::string* Original(std::string_view placeholder) const;
  bool empty() const { return by_placeholder_.empty(); }
  const std::map<std::string, std::string, std::less<>>& entries() const { return by_placeholder_; }

 private:
  std::map<std::string, std::string, std::less<>> by_placeholder_;
  std::map<std::string, std::string, std::less<>> by_value_;  // key: label + '\0' + value
  std::map<std::string, int, std::less<>> counters_;
};

struct TransformResult {
  // The findings still present in the transformed request, and the highest level among them
  // (kPublic when none). The dispatcher checks this against target clearance.
  //   none: every finding remains. mask / pseudonymize: none remain, except (fail closed) a
  //   finding that could not be rewritten: its field is missing, its span lies outside the
  //   field or overlaps an earlier finding; such a finding stays in `remaining`, unrewritten.
  // remaining_level is also at least assessment.level when that level is above every
  // finding's (a level no span accounts for cannot be transformed away).
  std::vector<classifier::Finding> remaining;
  classifier::Level remaining_level = classifier::Level::kPublic;
  PseudonymMap pseudonyms;  // filled by kPseudonymize only
};

// Rewrites request in place, each field's findings right to left; pseudonyms are numbered in
// request order. The assessment must have been computed on this request.
TransformResult ApplyTransform(Transform transform, const classifier::Assessment& assessment,
                               v1::ChatRequest* request);

// Puts the original values back into a complete text.
std::string Restore(const PseudonymMap& map, std::string_view text);

// Restores a text that arrives in chunks: a placeholder split across chunks is restored
// whole. Push returns what can be emitted now: everything except the longest suffix that is a
// proper prefix of a placeholder in the map, which is held back until the next Push shows
// whether it completes. Finish returns whatever was held back. The concatenated output
// equals Restore(map, concatenated input). map must outlive the restorer (nullptr: nothing to
// restore). Not thread-safe; one per stream.
class StreamRestorer {
 public:
  explicit StreamRestorer(const PseudonymMap* map) : map_(map) {}
  std::string Push(std::string_view chunk);
  std::string Finish();

 private:
  const PseudonymMap* map_;
  std::string pending_;
};

}  // namespace airlock::router
