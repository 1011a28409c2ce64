// Fuzz target: the policy loader on arbitrary bytes (random and mutated YAML).
//
// Input: the bytes are the policy text, parsed as "fuzz.yaml" with the targets nano, super,
// frontier and onprem known. A relative terms_file is looked up next to the working folder.
//
// Checked: ParsePolicy returns (no crash, no hang); it is deterministic (the same status, or
// the same hash and rules); an error is INVALID_ARGUMENT or an I/O error of a terms file, and
// its message starts with "fuzz.yaml:" (FILE:LINE:COLUMN); a policy that loads has a
// classifier, unique rule ids and the default rule, and its decisions for an assessment at
// every level name a rule of the policy and route only to known targets (or deny), the same
// with and without their explanation; its canonical form (router/policy_print.h) parses to the
// same compiled policy and prints to the same text.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "classifier/assessment.h"
#include "router/policy.h"
#include "router/policy_print.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace router = airlock::router;
using airlock::classifier::Assessment;
using airlock::classifier::Level;

const std::set<std::string>& Targets() {
  static const std::set<std::string> targets = {"nano", "super", "frontier", "onprem"};
  return targets;
}

void CheckPolicy(const router::Policy& p) {
  FUZZ_CHECK(p.classifier != nullptr, "a loaded policy has no classifier");
  FUZZ_CHECK(p.default_rule.id == "default", "the default rule is not called default");
  std::set<std::string> ids;
  for (const router::Rule& r : p.rules) {
    FUZZ_CHECK(!r.id.empty() && r.id != "default", "a rule id is empty or reserved");
    FUZZ_CHECK(ids.insert(r.id).second, "two rules share an id");
  }
  for (Level level : {Level::kPublic, Level::kInternal, Level::kConfidential, Level::kRestricted}) {
    Assessment a;
    a.level = level;
    const router::Decision d = router::Decide(p, a);
    FUZZ_CHECK(d.rule_id == "default" || ids.count(d.rule_id) == 1,
               "the decision names no rule of the policy");
    const router::Decision e = router::Explain(p, a);
    FUZZ_CHECK(e.rule_id == d.rule_id && e.deny == d.deny && e.targets == d.targets &&
                   e.transform == d.transform,
               "Explain decides otherwise than Decide");
    FUZZ_CHECK(!e.explanation.empty(), "Explain without an explanation");
    if (d.deny) {
      FUZZ_CHECK(d.targets.empty(), "a denial with targets");
    } else {
      FUZZ_CHECK(!d.targets.empty(), "a route without a target");
      for (const std::string& t : d.targets) {
        FUZZ_CHECK(Targets().count(t) == 1, "a decision routes to an unknown target");
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto first = router::ParsePolicy(text, "fuzz.yaml", Targets());
  const auto second = router::ParsePolicy(text, "fuzz.yaml", Targets());
  FUZZ_CHECK(first.ok() == second.ok(), "ParsePolicy is not deterministic");
  if (!first.ok()) {
    FUZZ_CHECK(first.status() == second.status(), "ParsePolicy's error is not deterministic");
    FUZZ_CHECK(std::string(first.status().message()).starts_with("fuzz.yaml:"),
               "an error message that does not start with the file name");
    return 0;
  }
  FUZZ_CHECK((*first)->hash == (*second)->hash, "the policy hash is not deterministic");
  FUZZ_CHECK((*first)->rules.size() == (*second)->rules.size(), "rules are not deterministic");
  CheckPolicy(**first);
  // The canonical form is the same compiled policy, and printing it again changes nothing.
  const std::string canonical = router::PrintPolicy(**first);
  const auto reparsed = router::ParsePolicy(canonical, "canonical.yaml", Targets());
  FUZZ_CHECK(reparsed.ok(), "the canonical form of a policy does not parse");
  FUZZ_CHECK(router::EquivalentPolicies(**first, **reparsed),
             "the canonical form parses to another policy");
  FUZZ_CHECK(router::PrintPolicy(**reparsed) == canonical, "printing is not idempotent");
  return 0;
}
