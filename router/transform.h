// Transforms applied to a request before dispatch, and the restoring of pseudonyms.
//
//   none          the request goes as it is.
//   mask          each finding is replaced by "[CATEGORY]" (e.g. "[EMAIL]"); irreversible.
//   pseudonymize  each distinct value is replaced by "[CATEGORY_N]" (e.g. "[EMAIL_1]"), the
//                 same value always by the same placeholder within a request; the mapping
//                 lives in a PseudonymMap in memory for the request's lifetime only.
//
// CATEGORY is the upper-cased last component of the finding's category ("pii.email" ->
// "EMAIL", "secret.aws_access_key" -> "AWS_ACCESS_KEY").
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

// Placeholder -> original value. Never written to disk or logs.
class PseudonymMap {
 public:
  // Returns the placeholder for value, creating "[LABEL_N]" on first use.
  const std::string& PlaceholderFor(std::string_view label, std::string_view value);
  // Original value of a placeholder, or nullptr.
  const std::string* Original(std::string_view placeholder) const;
  bool empty() const { return by_placeholder_.empty(); }
  const std::map<std::string, std::string, std::less<>>& entries() const {
    return by_placeholder_;
  }

 private:
  std::map<std::string, std::string, std::less<>> by_placeholder_;
  std::map<std::string, std::string, std::less<>> by_value_;  // key: label + '\0' + value
  std::map<std::string, int, std::less<>> counters_;
};

struct TransformResult {
  // The findings still present in the transformed request, and the highest level among them
  // (kPublic when none). The dispatcher checks this against target clearance.
  std::vector<classifier::Finding> remaining;
  classifier::Level remaining_level = classifier::Level::kPublic;
  PseudonymMap pseudonyms;  // filled by kPseudonymize only
};

// Rewrites request in place. The assessment must have been computed on this request.
TransformResult ApplyTransform(Transform transform, const classifier::Assessment& assessment,
                               v1::ChatRequest* request);

// Puts the original values back into a complete text.
std::string Restore(const PseudonymMap& map, std::string_view text);

// Restores a text that arrives in chunks: a placeholder split across chunks is restored
// whole. Push returns what can be emitted now; Finish returns whatever was held back.
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
