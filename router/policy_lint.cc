#include "router/policy_lint.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "classifier/category.h"

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

// Whether every category that glob g matches is matched by glob a. Certain answers only: false
// when it cannot tell.
bool GlobWithin(const std::string& g, const std::string& a) {
  if (a == "*" || g == a) return true;
  const size_t g_star = g.find('*');
  if (g_star == std::string::npos) return classifier::CategoryGlobMatches(a, g);
  const size_t a_star = a.find('*');
  if (a_star + 1 != a.size()) return false;  // a is not "PREFIX*"
  // Every category g matches starts with g's text before its first '*'.
  return g.compare(0, a_star, a, 0, a_star) == 0 && g_star >= a_star;
}

bool SomeWithin(const std::vector<std::string>& globs, const std::string& a) {
  return std::any_of(globs.begin(), globs.end(), [&](const auto& g) { return GlobWithin(g, a); });
}

template <typename T>
bool RangeWithin(const std::optional<T>& b_lo, const std::optional<T>& b_hi,
                 const std::optional<T>& a_lo, const std::optional<T>& a_hi) {
  return (!a_lo || (b_lo && *b_lo >= *a_lo)) && (!a_hi || (b_hi && *b_hi <= *a_hi));
}

// b's names are a non-empty subset of a's (a empty: no constraint).
bool NamesWithin(const std::vector<std::string>& b, const std::vector<std::string>& a) {
  if (a.empty()) return true;
  if (b.empty()) return false;
  return std::all_of(b.begin(), b.end(),
                     [&](const auto& n) { return std::find(a.begin(), a.end(), n) != a.end(); });
}

bool LabelsWithin(const std::map<std::string, std::string>& b,
                  const std::map<std::string, std::string>& a) {
  return std::all_of(a.begin(), a.end(), [&](const auto& kv) {
    auto it = b.find(kv.first);
    return it != b.end() && it->second == kv.second;
  });
}

// Whether every request that satisfies b satisfies a: each constraint of a is met by one of b
// at least as strict. Certain answers only (false when it cannot tell), so that a warning
// built on it is never wrong.
bool Implies(const Condition& b, const Condition& a) {
  // b holds only if each of its `all` holds, and only if one of its `any` does: if any of the
  // former, or every one of the latter, implies a, so does b.
  if (std::any_of(b.all.begin(), b.all.end(), [&](const auto& c) { return Implies(c, a); })) {
    return true;
  }
  if (!b.any.empty() &&
      std::all_of(b.any.begin(), b.any.end(), [&](const auto& c) { return Implies(c, a); })) {
    return true;
  }
  if (!RangeWithin(b.level_at_least, b.level_at_most, a.level_at_least, a.level_at_most) ||
      !RangeWithin(b.difficulty_at_least, b.difficulty_at_most, a.difficulty_at_least,
                   a.difficulty_at_most) ||
      !RangeWithin(b.tokens_at_least, b.tokens_at_most, a.tokens_at_least, a.tokens_at_most)) {
    return false;
  }
  // a.categories_any: some finding matches one of them. Certain when b requires a finding
  // within one of them (an `all` glob), or when each finding b may require (`any`) is within.
  if (!a.categories_any.empty()) {
    const bool by_all = std::any_of(a.categories_any.begin(), a.categories_any.end(),
                                    [&](const auto& g) { return SomeWithin(b.categories_all, g); });
    const bool by_any =
        !b.categories_any.empty() &&
        std::all_of(b.categories_any.begin(), b.categories_any.end(), [&](const auto& g) {
          return std::any_of(a.categories_any.begin(), a.categories_any.end(),
                             [&](const auto& x) { return GlobWithin(g, x); });
        });
    if (!by_all && !by_any) return false;
  }
  for (const std::string& g : a.categories_all) {  // each matched by some finding
    if (!SomeWithin(b.categories_all, g)) return false;
  }
  for (const std::string& g : a.categories_none) {  // none matched: b excludes at least as much
    if (!std::any_of(b.categories_none.begin(), b.categories_none.end(),
                     [&](const auto& x) { return GlobWithin(g, x); })) {
      return false;
    }
  }
  if (!NamesWithin(b.tenants, a.tenants) || !NamesWithin(b.subjects, a.subjects) ||
      !NamesWithin(b.tools_any, a.tools_any) || !NamesWithin(b.target_hints, a.target_hints) ||
      !LabelsWithin(b.principal_labels, a.principal_labels) || !LabelsWithin(b.labels, a.labels)) {
    return false;
  }
  for (const Condition& c : a.all) {
    if (!Implies(b, c)) return false;
  }
  if (!a.any.empty() &&
      std::none_of(a.any.begin(), a.any.end(), [&](const auto& c) { return Implies(b, c); })) {
    return false;
  }
  for (const Condition& n : a.not_) {  // only the same `not` is certain
    if (std::find(b.not_.begin(), b.not_.end(), n) == b.not_.end()) return false;
  }
  return true;
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
    } else if (auto earlier = std::find_if(
                   policy.rules.begin(), policy.rules.begin() + static_cast<std::ptrdiff_t>(k),
                   [&](const Rule& r) { return Implies(rule.when, r.when); });
               earlier != policy.rules.begin() + static_cast<std::ptrdiff_t>(k)) {
      warnings.push_back(LintWarning{
          rule.line, rule.id,
          "rule '" + rule.id + "' is never reached: every request it matches is taken by rule '" +
              earlier->id + "' (line " + std::to_string(earlier->line) + ")"});
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
