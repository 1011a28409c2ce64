// Policy: the security team's routing rules, loaded from YAML, and the decisions they make.
//
// Grammar (version 1; #4 extends it). Example:
//
//   version: 1
//   detectors:                            # optional: the policy's own categories
//     - category: custom.project          # dotted lower-case, not under pii. or secret.
//       level: confidential
//       terms: [Apollo, "Project Nightingale"]
//       terms_file: codenames.txt         # and/or: relative to the policy file
//       case_sensitive: false             # default false
//     - category: custom.customer_id
//       level: restricted
//       pattern: 'CUST-[0-9]{8}'          # RE2
//   levels:                               # optional: level overrides by category or glob
//     pii.phone: internal
//     "secret.*": restricted
//   rules:
//     - id: restricted-stays-home         # unique, [A-Za-z0-9_.-]+
//       description: secrets never leave  # optional
//       when: { level_at_least: restricted }
//       then: { deny: "restricted content is not served" }
//     - id: confidential-on-prem
//       when: { level_at_least: confidential }
//       then: { route: super, transform: none, fallbacks: [nano] }
//   default:                              # required; a `then` without `when`
//     route: frontier
//     transform: pseudonymize
//
// Top-level keys: version (required, 1), detectors (optional list), levels (optional mapping),
// rules (optional list), default (required).
// `detectors` entries: category (required; a category as in classifier/category.h, unique
// among the detectors, and not in the built-in namespaces pii. and secret.), level (required),
// and either `pattern` (an RE2 pattern, scanned as bytes in the same RE2::Set pass as the
// built-in rules; when it has capture groups, group 1 is the finding; a pattern that matches
// the empty string is refused) or `terms` (a non-empty list of non-blank terms) and/or
// `terms_file` (one term per line, surrounding blanks trimmed, blank lines and lines starting
// with '#' skipped; a relative path is relative to the policy file's folder; at most 64 MiB;
// must hold at least one term). case_sensitive (true|false, default false: ASCII case folding)
// applies to both kinds; word_boundary (true|false, default true) to terms only. Term matching
// (boundaries, case, overlaps) is classifier/term_detector.h's.
// `levels`: category or glob (classifier/category.h: "pii.phone", "secret.*", "*") to level.
// It overrides the level of every finding whose category matches, built-in or custom; when
// several match, the most specific wins (classifier/classifier.h). Overrides may lower a
// level as well as raise it: the clearance check in the dispatcher uses the overridden levels.
// Rule keys: id (required; "default" is reserved), description (optional), when (required;
// `when: {}` matches every request), then (required).
// `when` keys: level_at_least, level_at_most (level names; at_least must not be above
// at_most); an empty `when` matches all.
// `then` keys: route + optional transform (none|mask|pseudonymize, default none) + optional
// fallbacks (target names, each listed once and not repeating `route`); or deny (a non-empty
// message) alone. Rules are tried in order; the first match wins; `default` applies when none
// does.
//
// Every error is an INVALID_ARGUMENT status whose message is "FILE:LINE:COLUMN: PATH: what"
// (1-based line and column of the offending key or value; PATH like "rules[1].when", absent
// for top-level errors) and says what was expected, e.g.
//   policy.yaml:7:9: rules[1].when: unknown key 'level_atleast' (expected level_at_least,
//   level_at_most)
// YAML syntax errors, unknown / duplicate / missing keys, wrong types, unknown levels,
// transforms and targets, duplicate ids, and `route` with `deny` (or neither) are errors; so
// are, in `detectors` and `levels`, invalid or duplicate categories, bad globs, a missing
// level, bad RE2 patterns (with RE2's message), empty term lists and terms, unreadable or
// empty terms files, `pattern` given with `terms`, and non-boolean flags.
// LoadPolicy's I/O errors carry the errno's code (NOT_FOUND for a missing file, ...).
//
// The hash is the lowercase hex SHA-256 of the file's bytes, exactly as read, followed by the
// bytes of each terms_file in order of appearance (so editing a terms file changes the hash,
// and a reload picks it up). Without terms files it is the SHA-256 of the policy file.
//
// The compiled policy carries its classifier (Classifier::Create with the built-in detectors,
// the policy's detectors and its level overrides): a reload swaps rules and detectors together.
//
// Thread-safety: a Policy is immutable after loading; share it as shared_ptr<const Policy>.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/assessment.h"
#include "classifier/classifier.h"
#include "router/transform.h"

namespace airlock::router {

struct Condition {
  std::optional<classifier::Level> level_at_least;
  std::optional<classifier::Level> level_at_most;
};

struct Action {
  bool deny = false;
  std::string deny_message;  // when deny
  std::string route;         // target name, when !deny
  Transform transform = Transform::kNone;
  std::vector<std::string> fallbacks;  // target names, tried in order after `route`
};

struct Rule {
  std::string id;
  std::string description;
  Condition when;
  Action then;
  int line = 0;  // 1-based line of the rule in the policy file
};

struct Policy {
  std::string path;
  std::string hash;  // SHA-256 of the file's bytes, lowercase hex
  std::vector<Rule> rules;
  Rule default_rule;  // id "default"
  // The detectors this policy assesses requests with; never null in a parsed policy.
  std::shared_ptr<const classifier::Classifier> classifier;
};

// Parses policy text. `filename` is used in error messages only. Every target named by a
// rule must be in known_targets.
absl::StatusOr<std::shared_ptr<const Policy>> ParsePolicy(
    std::string_view text, std::string_view filename, const std::set<std::string>& known_targets);
// Reads and parses the file at path.
absl::StatusOr<std::shared_ptr<const Policy>> LoadPolicy(
    const std::string& path, const std::set<std::string>& known_targets);

struct Decision {
  std::string rule_id;
  bool deny = false;
  std::string deny_message;
  std::vector<std::string> targets;  // route first, then fallbacks; empty when deny
  Transform transform = Transform::kNone;
  std::string policy_hash;
  // Set by Explain only (empty from Decide). Human-readable, one line per step: each rule
  // considered, in order, with its conditions evaluated ("rule 'x': level confidential >=
  // confidential: match", "rule 'y': level public < internal: no match"), "default: no rule
  // matched" when it applies, and a final "decision: route T (transform M; fallbacks A, B) by
  // rule 'x'" or "decision: deny ...".
  std::string explanation;
};

// Evaluates the policy on an assessment: the first matching rule, else the default. On every
// request's path, so it builds no text. Pure and thread-safe.
Decision Decide(const Policy& policy, const classifier::Assessment& assessment);
// The same decision with its explanation (dry runs, `policy explain`). Pure and thread-safe.
Decision Explain(const Policy& policy, const classifier::Assessment& assessment);

}  // namespace airlock::router
