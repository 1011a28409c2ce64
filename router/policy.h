// Policy: the security team's routing rules, loaded from YAML, and the decisions they make.
//
// Grammar (version 1; #4 extends it). Example:
//
//   version: 1
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
// `when` keys: level_at_least, level_at_most (level names); an empty `when` matches all.
// `then` keys: route + optional transform (none|mask|pseudonymize, default none) + optional
// fallbacks (target names); or deny (message). Rules are tried in order; the first match wins.
//
// Every error is an INVALID_ARGUMENT status whose message starts "FILE:LINE:COLUMN: " and
// says what was expected. Unknown keys, wrong types, unknown levels, unknown targets and
// duplicate ids are errors.
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
#include "router/transform.h"

namespace airlock::router {

struct Condition {
  std::optional<classifier::Level> level_at_least;
  std::optional<classifier::Level> level_at_most;
};

struct Action {
  bool deny = false;
  std::string deny_message;            // when deny
  std::string route;                   // target name, when !deny
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
  std::string hash;   // SHA-256 of the file's bytes, lowercase hex
  std::vector<Rule> rules;
  Rule default_rule;  // id "default"
};

// Parses policy text. `filename` is used in error messages only. Every target named by a
// rule must be in known_targets.
absl::StatusOr<std::shared_ptr<const Policy>> ParsePolicy(std::string_view text,
                                                          std::string_view filename,
                                                          const std::set<std::string>& known_targets);
// Reads and parses the file at path.
absl::StatusOr<std::shared_ptr<const Policy>> LoadPolicy(const std::string& path,
                                                         const std::set<std::string>& known_targets);

struct Decision {
  std::string rule_id;
  bool deny = false;
  std::string deny_message;
  std::vector<std::string> targets;  // route first, then fallbacks; empty when deny
  Transform transform = Transform::kNone;
  std::string policy_hash;
  std::string explanation;  // human-readable: which rules were considered and why
};

// Evaluates the policy on an assessment: the first matching rule, else the default.
// Pure and thread-safe.
Decision Decide(const Policy& policy, const classifier::Assessment& assessment);

}  // namespace airlock::router
