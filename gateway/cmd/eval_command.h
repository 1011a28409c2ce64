// `airlock eval detectors`: runs the detector evaluation (classifier/eval.h) and prints it.
//
//   airlock eval detectors [--data DIR] [--only pii|secrets]
//
// DIR is the data folder (../shared/data of the repository: pii/, secrets/); default: the
// AIRLOCK_DATA_DIR environment variable, else the folder next to the source tree this binary
// was built from. The classifier is Classifier::CreateDefault(). Prints each table
// (FormatTable) of the PII evaluation, then of the secrets evaluation, then one line per goal:
//   "met      pii EMAIL_ADDRESS recall  0.991 >= 0.970"
//   "NOT MET  pii PHONE_NUMBER recall   0.850 >= 0.900"
// Exit status: 0 when every goal is met, 1 when one is not, 2 when an evaluation could not run
// (its error on stderr; the other evaluation still runs and prints) or on bad arguments.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "classifier/eval.h"

namespace airlock::gateway::cli {

// One line per goal, as above (each ending in '\n').
std::string FormatGoals(const std::vector<classifier::GoalCheck>& goals);

// Adds the `eval` command group (with `detectors`) to app; the exit status of the command
// that runs is stored in *exit_code.
void AddEvalCommand(CLI::App& app, int* exit_code);

}  // namespace airlock::gateway::cli
