#include "router/policy_lint.h"

#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

namespace airlock::router {
namespace {

using classifier::Level;

constexpr Level kLevels[] = {Level::kPublic, Level::kInternal, Level::kConfidential,
                             Level::kRestricted};
constexpr uint32_t kEveryLevel = (1u << std::size(kLevels)) - 1;

// The levels a condition matches, one bit per level.
uint32_t LevelsOf(const Condition& c) {
  uint32_t mask = 0;
  for (Level l : kLevels) {
    if ((!c.level_at_least || l >= *c.level_at_least) &&
        (!c.level_at_most || l <= *c.level_at_most)) {
      mask |= 1u << static_cast<uint32_t>(l);
    }
  }
  return mask;
}

// "rules 'a', 'b'" for the earlier level-only rules that take some of `mask` (the first five
// named).
std::string TakenBy(const std::vector<Rule>& rules, size_t before, uint32_t mask) {
  constexpr size_t kNamed = 5;
  std::string names;
  size_t n = 0;
  for (size_t k = 0; k < before; ++k) {
    if (!rules[k].when.LevelsOnly() || (LevelsOf(rules[k].when) & mask) == 0) continue;
    if (n < kNamed) names += (n == 0 ? "'" : ", '") + rules[k].id + "'";
    ++n;
  }
  if (n > kNamed) names += " and " + std::to_string(n - kNamed) + " more";
  return (n == 1 ? "rule " : "rules ") + names;
}

}  // namespace

std::vector<LintWarning> LintPolicy(const Policy& policy) {
  std::vector<LintWarning> warnings;
  uint32_t taken = 0;
  std::vector<std::string> reached;  // level-only rules that take some level first
  for (size_t k = 0; k < policy.rules.size(); ++k) {
    const Rule& rule = policy.rules[k];
    const uint32_t mask = LevelsOf(rule.when);
    if ((mask & ~taken) == 0) {  // whatever else it asks for
      warnings.push_back(LintWarning{rule.line, rule.id,
                                     "rule '" + rule.id +
                                         "' is never reached: every level it matches is taken by " +
                                         TakenBy(policy.rules, k, mask)});
    } else if (rule.when.LevelsOnly()) {
      reached.push_back(rule.id);
    }
    // Only a rule that asks for levels alone takes every request at its levels.
    if (rule.when.LevelsOnly()) taken |= mask;
  }
  if (taken == kEveryLevel) {
    std::string names;
    for (const std::string& id : reached) names += (names.empty() ? "'" : ", '") + id + "'";
    warnings.push_back(LintWarning{policy.default_rule.line, "default",
                                   "the default is never reached: the rules match every level (" +
                                       std::string(reached.size() == 1 ? "rule " : "rules ") +
                                       names + ")"});
  }
  return warnings;
}

}  // namespace airlock::router
