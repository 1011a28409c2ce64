#include "gateway/cmd/eval_command.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "classifier/classifier.h"

#ifndef AIRLOCK_DEFAULT_DATA_DIR
#define AIRLOCK_DEFAULT_DATA_DIR "../shared/data"
#endif

namespace airlock::gateway::cli {

std::string FormatGoals(const std::vector<classifier::GoalCheck>& goals) {
  size_t width = 0;
  for (const auto& g : goals) width = std::max(width, g.name.size());
  std::string out;
  for (const auto& g : goals) {
    char line[512];
    std::snprintf(line, sizeof(line), "%-9s%-*s  %.3f %s %.3f\n", g.met() ? "met" : "NOT MET",
                  static_cast<int>(width), g.name.c_str(), g.value,
                  g.at_least ? ">=" : "<=", g.goal);
    out += line;
  }
  return out;
}

void AddEvalCommand(CLI::App& app, int* exit_code) {
  struct Args {
    std::string data;
    std::string only;
  };
  auto args = std::make_shared<Args>();
  CLI::App* eval = app.add_subcommand("eval", "evaluate Airlock's components on data sets");
  eval->require_subcommand(1);
  CLI::App* detectors = eval->add_subcommand(
      "detectors", "PII and secret detectors on the public data sets: tables and goals");
  detectors->add_option("--data", args->data,
                        "data folder (pii/, secrets/); default $AIRLOCK_DATA_DIR or " +
                            std::string(AIRLOCK_DEFAULT_DATA_DIR));
  detectors->add_option("--only", args->only, "run one evaluation only")
      ->check(CLI::IsMember({"pii", "secrets"}));
  detectors->callback([args, exit_code] {
    std::string dir = args->data;
    if (dir.empty()) {
      const char* env = std::getenv("AIRLOCK_DATA_DIR");
      dir = env != nullptr && *env != '\0' ? env : AIRLOCK_DEFAULT_DATA_DIR;
    }
    const auto classifier = classifier::Classifier::CreateDefault();
    std::vector<classifier::GoalCheck> goals;
    bool failed = false;
    struct Step {
      const char* name;
      absl::StatusOr<classifier::EvalReport> (*run)(const classifier::Classifier&,
                                                    const std::string&);
    };
    for (const Step& step :
         {Step{"pii", &classifier::EvalPii}, Step{"secrets", &classifier::EvalSecrets}}) {
      if (!args->only.empty() && args->only != step.name) continue;
      auto report = step.run(*classifier, dir);
      if (!report.ok()) {
        std::fprintf(stderr, "airlock eval detectors: %s evaluation: %s\n", step.name,
                     std::string(report.status().message()).c_str());
        failed = true;
        continue;
      }
      for (const auto& table : report->tables) {
        const std::string text = classifier::FormatTable(table);
        std::printf("%s\n", text.c_str());
      }
      goals.insert(goals.end(), report->goals.begin(), report->goals.end());
    }
    if (!goals.empty()) std::printf("goals:\n%s", FormatGoals(goals).c_str());
    std::fflush(stdout);
    const bool all_met =
        std::all_of(goals.begin(), goals.end(), [](const auto& g) { return g.met(); });
    *exit_code = failed ? 2 : (all_met ? 0 : 1);
  });
}

}  // namespace airlock::gateway::cli
