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
//   model:                                # optional: reading the model stage's answers
//     level_at: { restricted: 0.3 }       # p(this level or above) that makes the model's level
//     categories: { pii.health: 0.4 }     # p(yes) at which a model category counts
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
// model (optional mapping), rules (optional list), default (required).
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
// `model` (classifier::ModelThresholds; used only with the gateway's model stage,
// classifier/model_stage.h): level_at maps internal, confidential and/or restricted to a
// probability in [0, 1] (default 0.5 each): the model's level is the highest of them whose
// probability of "this level or above" reaches it. categories maps a category or glob to the
// p(yes) in [0, 1] at which a model category question counts (default 0.5; the most specific
// glob wins). A model category's level is its question's, changed by `levels` like any other.
// Rule keys: id (required; "default" is reserved), description (optional), when (required;
// `when: {}` matches every request), then (required).
// `when` keys (every one given must hold; an empty `when` matches all):
//   level_at_least, level_at_most    level names; at_least must not be above at_most
//   categories: { any: [GLOB...], all: [GLOB...], none: [GLOB...] }
//                                    findings' categories (globs as in classifier/category.h:
//                                    "secret.*", "pii.email"); any: some finding matches one;
//                                    all: each glob matches some finding; none: no finding
//                                    matches any
//   difficulty: { at_least: X, at_most: Y }   numbers in [0, 1], at_least <= at_most
//   tokens: { at_least: N, at_most: M }       estimated prompt tokens, integers >= 0
//   principal: { tenant: [..], subject: [..], labels: { KEY: VALUE, ... } }
//                                    the authenticated principal: tenant / subject is one of
//                                    the names (a single name may be given as a scalar); has
//                                    every label with that value
//   labels: { KEY: VALUE, ... }      the request's labels include each
//   tools: { any: [NAME...] }        the request defines a tool of one of these names
//   target_hint: [NAME...]           the request's target hint is one of them (a scalar too)
//   all: [WHEN...], any: [WHEN...]   each / at least one of the nested conditions holds
//   not: WHEN                        the nested condition does not hold
// Lists must not be empty.
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

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "airlock/v1/gateway.pb.h"
#include "classifier/assessment.h"
#include "classifier/classifier.h"
#include "router/transform.h"

namespace airlock::router {

// What a rule's `when` can look at besides the assessment: who asks and what the request
// carries. The gateway fills it from the authenticated principal and the request.
struct RequestFacts {
  std::string tenant;
  std::string subject;
  std::map<std::string, std::string> principal_labels;
  std::map<std::string, std::string> labels;  // the request's own labels
  std::vector<std::string> tools;             // names of the request's tool definitions
  std::string target_hint;                    // empty: none
};

// The facts of request from principal (tenant, subject, labels) and the request's labels, tool
// names and target hint.
RequestFacts RequestFactsOf(const v1::ChatRequest& request, std::string tenant, std::string subject,
                            std::map<std::string, std::string> principal_labels);

// A rule's `when`: every condition given must hold (an empty Condition matches everything).
struct Condition {
  std::optional<classifier::Level> level_at_least;
  std::optional<classifier::Level> level_at_most;
  std::vector<std::string> categories_any;   // globs: some finding's category matches one
  std::vector<std::string> categories_all;   // globs: each is matched by some finding
  std::vector<std::string> categories_none;  // globs: no finding's category matches any
  std::optional<float> difficulty_at_least;  // in [0, 1]
  std::optional<float> difficulty_at_most;
  std::optional<uint64_t> tokens_at_least;  // estimated prompt tokens
  std::optional<uint64_t> tokens_at_most;
  std::vector<std::string> tenants;                     // the principal's tenant is one of them
  std::vector<std::string> subjects;                    // the principal's subject is one of them
  std::map<std::string, std::string> principal_labels;  // the principal has each label
  std::map<std::string, std::string> labels;            // the request has each label
  std::vector<std::string> tools_any;     // the request defines a tool of one of these names
  std::vector<std::string> target_hints;  // the request's target hint is one of them
  std::vector<Condition> all;             // each holds
  std::vector<Condition> any;             // at least one holds
  std::vector<Condition> not_;            // none holds (`not:` gives one)

  // Whether only the level conditions are given (or none): such a condition holds for every
  // request at the levels it names, whatever else the request is. PolicyLint relies on it.
  bool LevelsOnly() const;
  bool operator==(const Condition&) const = default;
};

struct Action {
  bool deny = false;
  std::string deny_message;  // when deny
  std::string route;         // target name, when !deny
  Transform transform = Transform::kNone;
  std::vector<std::string> fallbacks;  // target names, tried in order after `route`
  bool operator==(const Action&) const = default;
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
  // The files it was read from: the policy file, then each terms_file (as opened). A change
  // to any of them is a new policy (a file watcher reloads on it).
  std::vector<std::string> files;
  std::vector<Rule> rules;
  Rule default_rule;  // id "default"
  // The policy's own detectors and level overrides as written (terms files read in), and the
  // classifier built from them with the built-in detectors; never null in a parsed policy.
  classifier::ClassifierOptions detectors;
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

// Evaluates the policy on an assessment and the request's facts: the first matching rule,
// else the default. On every request's path, so it builds no text. Pure and thread-safe.
Decision Decide(const Policy& policy, const classifier::Assessment& assessment,
                const RequestFacts& facts = {});
// The same decision with its explanation (dry runs, `policy explain`). Pure and thread-safe.
Decision Explain(const Policy& policy, const classifier::Assessment& assessment,
                 const RequestFacts& facts = {});

}  // namespace airlock::router
