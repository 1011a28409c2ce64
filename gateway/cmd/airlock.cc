// airlock: the command line for people (see DESIGN.md, "Operations").
//
//   airlock classify [FILE|-] [--json] [--policy FILE]  classify_command.h
//   airlock eval detectors [--data DIR] [--only WHAT]   eval_command.h
//   airlock audit keygen|verify|prove|check-proof|query|report    audit_command.h
//   airlock policy lint|explain|test|print               policy_command.h
//   airlock model synth|inspect                          model_command.h
//   airlock engine logits                                engine_command.h
//
// Each command group lives in its own file (gateway/cmd/NAME_command.{h,cc}) with an
// Add*Command(app, &exit_code) function; this file only builds the CLI11 app and dispatches.
// Exit status: the command's own (each documents it); 2 for a usage error (unknown command or
// option, missing argument); 0 for --help.
#include <cstdio>

#include "CLI/CLI.hpp"
#include "gateway/cmd/audit_command.h"
#include "gateway/cmd/classifier_command.h"
#include "gateway/cmd/classify_command.h"
#include "gateway/cmd/engine_command.h"
#include "gateway/cmd/eval_command.h"
#include "gateway/cmd/model_command.h"
#include "gateway/cmd/policy_command.h"

int main(int argc, char** argv) {
  CLI::App app{"airlock: command line for the Airlock privacy-routing gateway"};
  app.require_subcommand(1);
  int exit_code = 0;
  airlock::gateway::cli::AddAuditCommand(app, &exit_code);
  airlock::gateway::cli::AddClassifierCommand(app, &exit_code);
  airlock::gateway::cli::AddClassifyCommand(app, &exit_code);
  airlock::gateway::cli::AddEngineCommand(app, &exit_code);
  airlock::gateway::cli::AddEvalCommand(app, &exit_code);
  airlock::gateway::cli::AddModelCommand(app, &exit_code);
  airlock::gateway::cli::AddPolicyCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, or the error with a usage hint
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
