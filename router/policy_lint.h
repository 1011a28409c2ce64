// PolicyLint: warnings about a policy that loads but does not say what its author meant.
//
// Errors (what makes a policy refuse to load) are ParsePolicy's; these are the mistakes a
// loaded policy can still hold:
//   - an unreachable rule: every request it would match is taken by earlier rules ("rule 'x'
//     is never reached: every level it matches is taken by rules 'a', 'b'");
//   - an unreachable default: the earlier rules together match every request.
// A rule whose `when` asks for levels alone (Condition::LevelsOnly) takes every request at
// the levels it matches; a later rule is unreachable when every level it matches is taken so,
// whatever else it asks for. Rules with other conditions take no level for certain, so they
// never make a later rule unreachable here: the lint reports only what is certain.
//
// Pure; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "router/policy.h"

namespace airlock::router {

struct LintWarning {
  int line = 0;         // 1-based line of the rule (of `default:`) in the policy file
  std::string rule_id;  // "default" for the default rule
  std::string message;  // what is wrong, without the file and line
};

// The warnings, in order of the rules.
std::vector<LintWarning> LintPolicy(const Policy& policy);

}  // namespace airlock::router
