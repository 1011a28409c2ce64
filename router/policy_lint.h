// PolicyLint: warnings about a policy that loads but does not say what its author meant.
//
// Errors (what makes a policy refuse to load) are ParsePolicy's; these are the mistakes a
// loaded policy can still hold:
//   - an unreachable rule: every request it would match is taken by earlier rules ("rule 'x'
//     is never reached: every level it matches is taken by rules 'a', 'b'");
//   - an unreachable default: the earlier rules together match every request.
// Two ways a rule is found unreachable, and only what is certain is reported:
//   - by levels: a rule whose `when` asks for levels alone (Condition::LevelsOnly) takes every
//     request at the levels it matches; a later rule is unreachable when every level it
//     matches is taken so, whatever else it asks for;
//   - by one earlier rule: every request the later rule matches satisfies the earlier rule's
//     `when` ("rule 'x' is never reached: every request it matches is taken by rule 'a' (line
//     N)"). Each condition of the earlier rule must be met by one of the later rule at least
//     as strict: a narrower level, difficulty or token range; category globs within the earlier
//     ones ("secret.aws_access_key" within "secret.*"); fewer tenants, subjects, tools or target
//     hints; more labels; an identical `not`; and nested all / any as logic has it. Anything
//     the check cannot decide counts as reachable.
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
