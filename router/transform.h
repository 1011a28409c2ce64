// Transforms applied to a request before dispatch, and the restoring of pseudonyms.
//
//   none          the request goes as it is.
//   mask          each finding is replaced by "[CATEGORY]" (e.g. "[EMAIL]"); irreversible.
//   pseudonymize  each distinct value is replaced by "<CATEGORY_N>" (e.g. "<EMAIL_1>"), the
//                 same value always by the same placeholder within a request; the mapping
//                 lives in a PseudonymMap in memory for the request's lifetime only.
//
// CATEGORY (the placeholder's label) is the upper-cased last component of the finding's
// category ("pii.email" -> "EMAIL", "secret.aws_access_key" -> "AWS_ACCESS_KEY"); any byte
// outside [A-Z0-9_] becomes '_', so a label never contains '<', '>', '[' or ']'.
//
// Both transforms rewrite only the bytes of the findings they apply to: every other byte of
// every field (including invalid UTF-8 and NUL bytes) is left as it was.
//
// Restoring replaces every occurrence of a placeholder of the map, wherever it appears in the
// text; anything else, including text that merely looks like a placeholder, passes unchanged.
// Text that looks like a placeholder of the map but is not exactly one is reported as
// *mangled* (the rule is below, at FindMangledPlaceholders); it is never replaced.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "classifier/assessment.h"

namespace airlock::router {

namespace internal {
class MangledScanner;  // transform.cc
}  // namespace internal

enum class Transform { kNone, kMask, kPseudonymize };

std::string_view TransformName(Transform t);  // "none", "mask", "pseudonymize"
std::optional<Transform> ParseTransform(std::string_view name);

// The CATEGORY part of a placeholder for a finding category ("pii.email" -> "EMAIL").
std::string PlaceholderLabel(std::string_view category);

// Placeholder -> original value. Never written to disk or logs.
class PseudonymMap {
 public:
  // Returns the placeholder for value, creating "<LABEL_N>" on first use (N counts from 1 per
  // label, skipping reserved placeholders). label goes through PlaceholderLabel's character
  // rules. The reference stays valid for the map's lifetime.
  const std::string& PlaceholderFor(std::string_view label, std::string_view value);
  // Never hands out `placeholder` (text that is already in the request, so that restoring
  // cannot turn it into a value). Reserve before the PlaceholderFor calls it should affect.
  void Reserve(std::string_view placeholder);
  // Original value of a placeholder, or nullptr.
  const std::string* Original(std::string_view placeholder) const;
  bool empty() const { return by_placeholder_.empty(); }
  const std::map<std::string, std::string, std::less<>>& entries() const { return by_placeholder_; }
  // Label -> number of placeholders with that label ("EMAIL" -> 2 for <EMAIL_1>, <EMAIL_2>).
  const std::map<std::string, int, std::less<>>& labels() const { return counters_; }

 private:
  std::map<std::string, std::string, std::less<>> by_placeholder_;
  std::map<std::string, std::string, std::less<>> by_value_;  // key: label + '\0' + value
  std::map<std::string, int, std::less<>> counters_;
  std::set<std::string, std::less<>> reserved_;
};

struct TransformResult {
  // The findings still present in the transformed request, and the highest level among them
  // (kPublic when none). The dispatcher checks this against target clearance.
  //   none: every finding remains.
  //   mask / pseudonymize: the findings at or below the clearance remain (their text is left
  //   as it is); the others are rewritten and do not remain, except (fail closed) a finding
  //   that could not be rewritten: its field is missing, its span is empty, lies outside the
  //   field or overlaps an earlier rewritten finding; such a finding stays in `remaining`,
  //   unrewritten.
  // The spans in `remaining` are those of the assessment (the request before the transform).
  // remaining_level is also at least assessment.level when that level is above every
  // finding's (a level no span accounts for cannot be transformed away).
  std::vector<classifier::Finding> remaining;
  classifier::Level remaining_level = classifier::Level::kPublic;
  PseudonymMap pseudonyms;  // filled by kPseudonymize only
};

// Rewrites request in place: the findings whose level is above `clearance` (every finding
// when clearance is nullopt), each field's findings in order; pseudonyms are numbered in
// request order of the rewritten findings. Findings at or below the clearance pass unchanged.
// Text of the request that already has a placeholder's form ("<" [A-Z0-9_]+ ">") is reserved
// (PseudonymMap::Reserve), so restoring every field of the pseudonymized request gives the
// original request back exactly. The assessment must have been computed on this request.
TransformResult ApplyTransform(Transform transform, const classifier::Assessment& assessment,
                               std::optional<classifier::Level> clearance,
                               v1::ChatRequest* request);
// Rewrites every finding: ApplyTransform(transform, assessment, std::nullopt, request).
TransformResult ApplyTransform(Transform transform, const classifier::Assessment& assessment,
                               v1::ChatRequest* request);

// ---------------------------------------------------------------------------------------------
// Mangled placeholders.
//
// A model may return a placeholder altered. Given the map's labels, a *mangled placeholder*
// is a run of the text (model output, before restoring) of the form
//
//     OPEN? LABEL' SEP? DIGITS? CLOSE?
//
//   OPEN    '<' or '['                          CLOSE   '>' or ']'
//   LABEL'  a label of the map, ASCII case-insensitive, each '_' in it written as '_', ' '
//           or '-'                              SEP     one of '_', ' ', '-'
//   DIGITS  1 to 9 ASCII digits
//
// that is not exactly a placeholder of the map, and where:
//   - without OPEN, the byte before LABEL' is not [A-Za-z0-9_] (or LABEL' starts the text);
//   - without CLOSE, the byte after the run is not [A-Za-z0-9_] (or the run ends the text);
//   - without DIGITS: OPEN is '<', CLOSE is '>' and LABEL' is written exactly as the label
//     ("<EMAIL>", "<EMAIL_>"; "<email>" is ordinary text);
//   - without OPEN and CLOSE: LABEL' is written exactly as the label, SEP is '_' and DIGITS
//     are present ("EMAIL_1"; "Email 1" is ordinary text).
// Examples with the map {<EMAIL_1>}: "<EMAIL 1>", "<email_1>", "EMAIL_1>", "<EMAIL_1", "<EMAIL_7>",
// "[EMAIL_1]", "<EMAIL1>", "<EMAIL>", "EMAIL_1" are mangled; "<EMAIL_1>" is restored; "EMAILS",
// "email me", "<email>", "xEMAIL_1>" and "<EMAIL_1234567890>" are not mangled.
//
// Placeholder-shaped text that was in the request itself (reserved, see ApplyTransform) and
// that the model repeats is reported too when its label is one of the map's.
//
// The text is scanned left to right: at each position an exact placeholder of the map is
// skipped whole (it is restored), else the longest mangled run starting there is reported and
// skipped, else the scan moves one byte on. Runs never overlap; the result does not depend on
// how a stream was split into chunks.
struct MangledPlaceholder {
  size_t offset = 0;  // byte offset in the scanned text (in a stream: in all of it so far)
  std::string text;   // the run as it appeared
};

struct MangledReport {
  static constexpr size_t kMaxListed = 64;
  size_t count = 0;                      // every mangled run found
  std::vector<MangledPlaceholder> runs;  // the first kMaxListed of them, in text order
  void Add(size_t offset, std::string_view text);
};

// The mangled placeholders of text (see the rule above). Empty map: none.
MangledReport FindMangledPlaceholders(const PseudonymMap& map, std::string_view text);

// Puts the original values back into a complete text. When mangled is not null, the mangled
// placeholders of text are added to it.
std::string Restore(const PseudonymMap& map, std::string_view text,
                    MangledReport* mangled = nullptr);

// Restores a complete answer in place: content, and each tool call's name and arguments.
// Returns the number of mangled placeholders found in those fields together.
size_t RestoreResponse(const PseudonymMap& map, v1::ChatResponse* response);

// Restores a text that arrives in chunks: a placeholder split across chunks is restored
// whole. Push returns what can be emitted now: everything except the longest suffix that is a
// proper prefix of a placeholder in the map, which is held back until the next Push shows
// whether it completes. Finish returns whatever was held back. The concatenated output
// equals Restore(map, concatenated input), and mangled() after Finish equals
// FindMangledPlaceholders(map, concatenated input) (before Finish it may lag by a run that is
// not complete yet). map must outlive the restorer and not change while it is in use
// (nullptr: nothing to restore). Not thread-safe; one per stream.
class StreamRestorer {
 public:
  explicit StreamRestorer(const PseudonymMap* map);
  std::string Push(std::string_view chunk);
  std::string Finish();
  const MangledReport& mangled() const { return mangled_; }

 private:
  const PseudonymMap* map_;
  size_t max_placeholder_ = 0;                               // longest placeholder of the map
  std::shared_ptr<const internal::MangledScanner> scanner_;  // null without a map
  std::string pending_;                                      // input not emitted yet
  std::string scan_;               // input not yet scanned for mangled placeholders
  size_t scan_offset_ = 0;         // offset of scan_ in the whole input
  bool scan_after_ident_ = false;  // the byte before scan_ is [A-Za-z0-9_]
  MangledReport mangled_;
};

}  // namespace airlock::router
