// PatternSetDetector: many RE2 patterns scanned in one pass, validators run on candidates only.
//
// Every built-in pattern detector (PII formats, secrets) and every custom pattern from a policy
// is a PatternRule. A PatternSetDetector compiles all its rules into one prefilter, so one pass
// over the text tells which rules can match at all; only those rules are then run on their own
// (RE2) to find each candidate's span, and only candidates reach a rule's validator (a Luhn
// check, an IBAN checksum, a JWT header parse, ...).
//
// The prefilter is a Hyperscan database (Debian's libhyperscan) compiled in prefilter mode: it
// may report a rule that RE2 then does not match, never the other way round. Hyperscan scans
// prose at several GB/s where an RE2::Set DFA over the same rules manages a few hundred MB/s.
// A rule Hyperscan cannot read exactly as RE2 does (\p, \P or \C; case folding together with
// bytes outside ASCII, which RE2 folds as Latin-1 and Hyperscan does not) or refuses to compile
// goes to an RE2::Set instead; spans always come from RE2, so results do not depend on which
// prefilter a rule is in.
//
// Text is scanned as bytes (RE2 Latin-1 mode): invalid UTF-8 is neither an error nor a reason
// to skip text. RE2 guarantees linear time, so no rule, built-in or from a policy, can make
// the scan backtrack catastrophically. `\b` and character classes are ASCII.
//
// If a prefilter fails on a text (Hyperscan scratch cannot be allocated, the RE2::Set's DFA
// runs out of memory with thousands of rules), Scan runs each of its rules on their own:
// slower, never a silent skip.
//
// Thread-safety: Scan is const and safe to call concurrently (each concurrent scan takes its
// own Hyperscan scratch space from a pool).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/detector.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace airlock::classifier {

// A candidate span in the scanned text and the confidence to report for it.
struct Candidate {
  size_t begin = 0;
  size_t end = 0;
  float confidence = 1.0f;
};

// Decides whether a candidate is a finding. `text` is the whole scanned text, so a validator
// can look at the context around the candidate. It may move the span (within text) and set the
// confidence; returning false rejects the candidate.
using Validator = std::function<bool(std::string_view text, Candidate* candidate)>;

struct PatternRule {
  std::string name;      // reported as the finding's detector: "credit_card", "aws_access_key"
  std::string category;  // "pii.credit_card", "secret.aws_access_key", "custom.project"
  Level level = Level::kConfidential;
  // RE2 syntax. When the pattern has capture groups, group 1 is the candidate's span (so that
  // context such as "password=" can be required without being part of the finding); else the
  // whole match is.
  std::string pattern;
  float confidence = 0.9f;
  bool case_insensitive = false;
  Validator validate;  // optional; without one every match is a finding
  // Optional: a cheaper pattern for the one-pass prefilter, which must match somewhere in
  // every text where `pattern` matches (a necessary condition, such as a literal or a short
  // piece that every match contains). Empty: the prefilter uses `pattern` itself. It only
  // decides whether the rule runs on a text; spans always come from `pattern`. Create refuses
  // a prefilter that Hyperscan would read otherwise than RE2 (see above); one that Hyperscan
  // cannot compile leaves the rule's `pattern` to RE2::Set.
  std::string prefilter;
};

class PatternSetDetector : public Detector {
 public:
  // Compiles the rules. An invalid pattern is INVALID_ARGUMENT naming the rule and RE2's
  // complaint ("rule 'x' (custom.y): missing ): (ab"); so are a rule without a name or
  // category and a set that exceeds RE2's memory budget.
  static absl::StatusOr<std::unique_ptr<PatternSetDetector>> Create(std::string name,
                                                                    std::vector<PatternRule> rules);
  ~PatternSetDetector() override;

  std::string_view name() const override { return name_; }
  // Appends one Match per validated candidate, with Match::detector set to the rule's name,
  // rule by rule in the order of the rules, each rule's in order of the text. Matches of one
  // rule never overlap each other; those of different rules may (the classifier resolves
  // overlaps).
  void Scan(std::string_view text, std::vector<Match>* out) const override;
  // One prefilter pass over all texts joined (JoinedTexts), read with Hyperscan's multi-line
  // anchors, so that every match a text holds on its own is still seen (a '\n' is a non-word
  // byte and a line edge, as the edge of a text is to RE2). Rules out every text when the
  // prefilter reports no rule, and the texts that end before its first report otherwise.
  // Rules out none when some rule is not in the prefilter (RE2::Set rules, or rules anchored
  // with \A or \z, which no join keeps) or when the pass fails.
  void RuleOut(const JoinedTexts& texts, std::span<bool> may_match) const override;

  size_t size() const { return rules_.size(); }
  // How many rules the Hyperscan prefilter holds (the rest are in RE2::Sets). For tests.
  size_t prefiltered() const;
  // Scan without any prefilter: every rule on its own. Same results as Scan, slower; for tests
  // that hold the prefilter to that.
  void ScanEveryRule(std::string_view text, std::vector<Match>* out) const;

 private:
  struct Compiled;
  PatternSetDetector(std::string name, std::vector<PatternRule> rules,
                     std::unique_ptr<Compiled> compiled);
  void ScanRule(size_t index, std::string_view text, std::vector<Match>* out) const;

  std::string name_;
  std::vector<PatternRule> rules_;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace airlock::classifier
