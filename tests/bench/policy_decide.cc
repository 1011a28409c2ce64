// bench_policy_decide: how long the router takes to decide, and to load a policy, by number of
// rules.
//
//   bench_policy_decide [--rules 10,100,1000] [--decisions 200000]
//
// For each rule count N a policy is generated (router/policy.h grammar): N rules, each with a
// `when` on a level range chosen with a fixed seed so that most requests fall through many
// rules before one matches (the last rule matches every level), a route with a transform and
// a fallback, and a default. It is parsed with ParsePolicy (the "load" column: parse, validate
// and compile, as a reload does; the first load of the process also compiles the built-in
// detectors and is not counted), then Decide runs `--decisions` times on assessments whose
// levels cycle through public..restricted, and reports:
//   p50/p99 us   latency of one Decide call (wall clock, microseconds), as on every
//                request's path
//   explain us   p50 of Explain, the same decision with its text (dry runs)
//   rules seen   mean number of rules considered before the decision
//   load ms      ParsePolicy time for the policy text
// The goal line checks p99 <= 20 us at 100 rules. Exit status 0 (goals are reported, not
// enforced), 1 when a generated policy does not load, 2 on bad arguments.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "classifier/assessment.h"
#include "router/policy.h"

namespace {

using airlock::classifier::Assessment;
using airlock::classifier::Level;
namespace router = airlock::router;
using Clock = std::chrono::steady_clock;

std::string PolicyText(size_t rules) {
  uint64_t state = 0x9E3779B97F4A7C15ULL + rules;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  std::string s = "version: 1\nrules:\n";
  for (size_t i = 0; i < rules; ++i) {
    s += "  - id: rule-" + std::to_string(i) + "\n";
    s += "    description: generated rule " + std::to_string(i) + "\n";
    if (i + 1 == rules) {
      s += "    when: {}\n";
    } else {
      // A narrow band (restricted only, or public only: one in four), so that most requests
      // pass over most rules before the last one matches.
      s += next() % 4 != 0 ? "    when: { level_at_least: restricted, level_at_most: restricted }\n"
                           : "    when: { level_at_least: public, level_at_most: public }\n";
    }
    s += "    then: { route: super, transform: " +
         std::string(i % 3 == 0   ? "none"
                     : i % 3 == 1 ? "mask"
                                  : "pseudonymize") +
         ", fallbacks: [nano] }\n";
  }
  s += "default: { route: nano }\n";
  return s;
}

bool ParseList(const char* text, std::vector<size_t>* out) {
  out->clear();
  for (std::string_view rest = text; !rest.empty();) {
    const size_t comma = std::min(rest.find(','), rest.size());
    const std::string item(rest.substr(0, comma));
    char* end = nullptr;
    const unsigned long long v = std::strtoull(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v == 0) return false;
    out->push_back(static_cast<size_t>(v));
    rest.remove_prefix(std::min(comma + 1, rest.size()));
  }
  return !out->empty();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> rule_counts = {10, 100, 1000};
  size_t decisions = 200000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    bool ok = value != nullptr;
    if (arg == "--rules" && ok) {
      ok = ParseList(value, &rule_counts);
    } else if (arg == "--decisions" && ok) {
      decisions = std::strtoull(value, nullptr, 10);
      ok = decisions > 0;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "usage: %s [--rules 10,100,1000] [--decisions 200000]\n", argv[0]);
      return 2;
    }
    ++i;
  }
  const std::set<std::string> targets = {"nano", "super"};
  // The first load of the process compiles the built-in detectors; keep it out of the table.
  if (!router::ParsePolicy("version: 1\ndefault: { route: nano }\n", "warmup.yaml", targets).ok()) {
    std::fprintf(stderr, "bench_policy_decide: the warm-up policy does not load\n");
    return 1;
  }

  std::printf("%6s %10s %10s %11s %11s %9s\n", "rules", "p50 us", "p99 us", "explain us",
              "rules seen", "load ms");
  double p99_at_100 = -1;
  for (size_t n : rule_counts) {
    const std::string text = PolicyText(n);
    const auto t0 = Clock::now();
    auto policy = router::ParsePolicy(text, "generated.yaml", targets);
    const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!policy.ok()) {
      std::fprintf(stderr, "bench_policy_decide: %zu rules: %s\n", n,
                   std::string(policy.status().message()).c_str());
      return 1;
    }
    std::vector<double> us;
    us.reserve(decisions);
    double seen = 0;
    for (size_t k = 0; k < decisions; ++k) {
      Assessment a;
      a.level = static_cast<Level>(k % 4);
      const auto s = Clock::now();
      const router::Decision d = router::Decide(**policy, a);
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
      seen += d.rule_id == "default" ? static_cast<double>(n) + 1
                                     : std::strtod(d.rule_id.c_str() + 5, nullptr) + 1;
    }
    std::sort(us.begin(), us.end());
    const double p50 = us[us.size() / 2], p99 = us[us.size() * 99 / 100];
    if (n == 100) p99_at_100 = p99;
    std::vector<double> explain_us;
    for (size_t k = 0; k < std::max<size_t>(decisions / 20, 1); ++k) {
      Assessment a;
      a.level = static_cast<Level>(k % 4);
      const auto s = Clock::now();
      const router::Decision d = router::Explain(**policy, a);
      explain_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
      if (d.explanation.empty()) return 1;
    }
    std::sort(explain_us.begin(), explain_us.end());
    std::printf("%6zu %10.2f %10.2f %11.2f %11.1f %9.2f\n", n, p50, p99,
                explain_us[explain_us.size() / 2], seen / static_cast<double>(decisions), load_ms);
  }
  std::printf("\n");
  if (p99_at_100 >= 0) {
    std::printf("goal: p99 <= 20 us at 100 rules: %s (p99 %.2f us)\n",
                p99_at_100 <= 20 ? "met" : "NOT MET", p99_at_100);
  } else {
    std::printf("goal: p99 <= 20 us at 100 rules: not measured (add 100 to --rules)\n");
  }
  return 0;
}
