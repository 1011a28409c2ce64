#include "gateway/cmd/policy_command.h"

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "classifier/assessment.h"
#include "classifier/level.h"
#include "gateway/cmd/classify_command.h"
#include "gateway/config.h"
#include "router/policy.h"
#include "router/policy_lint.h"
#include "router/policy_print.h"
#include "router/policy_suite.h"

namespace airlock::gateway::cli {
namespace {

struct Args {
  std::string policy;
  std::string config;
  std::string file = "-";
  std::string tenant;  // explain: the principal the rules see
  std::string subject;
  std::string tests;     // test: the test file; empty: next to the policy
  double threshold = 0;  // test: minimum rule coverage, percent
};

void Print(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

// The target names of --config; nullopt without --config (any name is accepted).
absl::StatusOr<std::optional<std::set<std::string>>> ConfigTargets(const Args& args) {
  if (args.config.empty()) return std::nullopt;
  auto config = LoadConfig(args.config);
  if (!config.ok()) return config.status();
  std::set<std::string> targets;
  for (const TargetConfig& t : config->targets) targets.insert(t.name);
  return targets;
}

absl::StatusOr<std::shared_ptr<const router::Policy>> Load(
    const Args& args, const std::optional<std::set<std::string>>& targets) {
  if (!targets) return LoadPolicyAnyTargets(args.policy);
  return router::LoadPolicy(args.policy, *targets);
}

// The policy, its target names checked against --config's targets when given: the one load
// that explain, print and test share (lint also says when no --config is given).
absl::StatusOr<std::shared_ptr<const router::Policy>> LoadWithConfigTargets(const Args& args) {
  auto targets = ConfigTargets(args);
  if (!targets.ok()) return targets.status();
  return Load(args, *targets);
}

int Lint(const Args& args) {
  auto targets = ConfigTargets(args);
  if (!targets.ok()) {
    std::fprintf(stderr, "airlock policy lint: %s\n",
                 std::string(targets.status().message()).c_str());
    return 2;
  }
  if (!*targets) {
    std::fprintf(stderr,
                 "airlock policy lint: target names are not checked (give --config with the "
                 "gateway's config to check them)\n");
  }
  auto policy = Load(args, *targets);
  if (!policy.ok()) {
    Print(absl::StrCat(policy.status().message(), "\n"));
    return 1;
  }
  const std::vector<router::LintWarning> warnings = router::LintPolicy(**policy);
  for (const router::LintWarning& w : warnings) {
    Print(absl::StrCat(args.policy, ":", w.line, ": warning: ", w.message, "\n"));
  }
  Print(absl::StrCat(args.policy, ": ok (", (*policy)->rules.size(), " rules, ", warnings.size(),
                     " warnings, policy hash ", (*policy)->hash, ")\n"));
  return 0;
}

int Explain(const Args& args) {
  auto policy = LoadWithConfigTargets(args);
  if (!policy.ok()) {
    std::fprintf(stderr, "airlock policy explain: %s\n",
                 std::string(policy.status().message()).c_str());
    return 2;
  }
  auto bytes = ReadClassifyInput(args.file);
  if (!bytes.ok()) {
    std::fprintf(stderr, "airlock policy explain: %s\n",
                 std::string(bytes.status().message()).c_str());
    return 2;
  }
  auto request = ParseClassifyInput(*bytes, args.file == "-" ? "stdin" : args.file);
  if (!request.ok()) {
    std::fprintf(stderr, "airlock policy explain: %s\n",
                 std::string(request.status().message()).c_str());
    return 2;
  }
  const classifier::Assessment assessment = (*policy)->classifier->Assess(*request);
  std::map<std::string, int> categories;
  for (const classifier::Finding& f : assessment.findings) ++categories[f.category];
  std::string out =
      absl::StrCat("level: ", std::string(classifier::LevelName(assessment.level)), "\n");
  absl::StrAppend(&out, "categories:", categories.empty() ? " none" : "");
  for (const auto& [category, n] : categories) absl::StrAppend(&out, " ", category, " x", n);
  absl::StrAppend(&out, "\ndifficulty: ", assessment.difficulty, "\n");
  const router::RequestFacts facts =
      router::RequestFactsOf(*request, args.tenant, args.subject, /*principal_labels=*/{});
  absl::StrAppend(&out, router::Explain(**policy, assessment, facts).explanation, "\n");
  Print(out);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

std::string Percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v);
  return buf;
}

int PrintCanonical(const Args& args) {
  auto policy = LoadWithConfigTargets(args);
  if (!policy.ok()) {
    std::fprintf(stderr, "airlock policy print: %s\n",
                 std::string(policy.status().message()).c_str());
    return 2;
  }
  Print(router::PrintPolicy(**policy));
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int Test(const Args& args) {
  auto policy = LoadWithConfigTargets(args);
  const std::string tests =
      args.tests.empty() ? router::PolicySuitePathFor(args.policy) : args.tests;
  auto suite = policy.ok() ? router::LoadPolicySuite(tests)
                           : absl::StatusOr<router::PolicySuite>(policy.status());
  if (!suite.ok()) {
    std::fprintf(stderr, "airlock policy test: %s\n",
                 std::string(suite.status().message()).c_str());
    return 2;
  }
  const router::SuiteResult result = router::RunPolicySuite(**policy, *suite);
  std::string out;
  for (const router::CaseResult& r : result.cases) {
    if (r.passed()) {
      absl::StrAppend(&out, "PASS  ", r.test->name, "\n");
      continue;
    }
    absl::StrAppend(&out, "FAIL  ", r.test->name, " (", tests, ":", r.test->line, ")\n");
    for (const router::CaseResult::Mismatch& m : r.mismatches) {
      absl::StrAppend(&out, "        - ", m.what, ": ", m.expected, "\n");
      absl::StrAppend(&out, "        + ", m.what, ": ", m.got, "\n");
    }
    absl::StrAppend(&out, "      level ", std::string(classifier::LevelName(r.level)),
                    "; how the policy decided:\n");
    for (absl::string_view line : absl::StrSplit(r.decision.explanation, '\n')) {
      absl::StrAppend(&out, "        ", std::string(line), "\n");
    }
  }
  absl::StrAppend(&out, "coverage: ", result.reached, " of ", result.rules.size(),
                  " rules reached (", Percent(result.coverage_percent()), ")\n");
  for (const router::SuiteResult::RuleCoverage& rc : result.rules) {
    if (rc.cases > 0) continue;
    absl::StrAppend(&out, "  not reached: rule '", rc.rule->id, "' (", args.policy, ":",
                    rc.rule->line, ")\n");
  }
  const size_t passed = result.cases.size() - result.failed;
  absl::StrAppend(&out, tests, ": ", passed, " passed, ", result.failed, " failed\n");
  const bool covered = result.coverage_percent() + 1e-9 >= args.threshold;
  if (!covered) {
    absl::StrAppend(&out, "coverage ", Percent(result.coverage_percent()), " is below --threshold ",
                    Percent(args.threshold), "\n");
  }
  Print(out);
  if (std::fflush(stdout) != 0) return 1;
  return result.failed == 0 && covered ? 0 : 1;
}

}  // namespace

void AddPolicyCommand(CLI::App& app, int* exit_code) {
  CLI::App* group = app.add_subcommand("policy", "check a policy and see what it decides");
  group->require_subcommand(1);

  auto lint = std::make_shared<Args>();
  CLI::App* l = group->add_subcommand(
      "lint", "validate a policy: errors with file:line:column, unreachable rules as warnings");
  l->add_option("policy", lint->policy, "policy file")->required();
  l->add_option("--config", lint->config, "gateway config whose targets the policy may name");
  l->callback([lint, exit_code] { *exit_code = Lint(*lint); });

  auto explain = std::make_shared<Args>();
  CLI::App* e = group->add_subcommand(
      "explain", "assess a request with a policy and show every rule considered and why");
  e->add_option("policy", explain->policy, "policy file")->required();
  e->add_option("file", explain->file, "request file (JSON ChatRequest or text); '-': stdin");
  e->add_option("--config", explain->config, "gateway config whose targets the policy may name");
  e->add_option("--tenant", explain->tenant, "the principal's tenant, for rules that ask");
  e->add_option("--subject", explain->subject, "the principal's subject, for rules that ask");
  e->callback([explain, exit_code] { *exit_code = Explain(*explain); });

  auto print = std::make_shared<Args>();
  CLI::App* pr = group->add_subcommand(
      "print", "print a policy in canonical form (defaults spelled out, terms files inlined)");
  pr->add_option("policy", print->policy, "policy file")->required();
  pr->add_option("--config", print->config, "gateway config whose targets the policy may name");
  pr->callback([print, exit_code] { *exit_code = PrintCanonical(*print); });

  auto test = std::make_shared<Args>();
  CLI::App* t = group->add_subcommand(
      "test", "run a policy's test file: pass/fail per case, diffs, and the rules no case reaches");
  t->add_option("policy", test->policy, "policy file")->required();
  t->add_option("--tests", test->tests, "test file (default: POLICY's NAME_test.yaml beside it)");
  t->add_option("--config", test->config, "gateway config whose targets the policy may name");
  t->add_option("--threshold", test->threshold,
                "fail unless at least this percentage of the rules (and the default) is reached")
      ->check(CLI::Range(0.0, 100.0));
  t->callback([test, exit_code] { *exit_code = Test(*test); });
}

}  // namespace airlock::gateway::cli
