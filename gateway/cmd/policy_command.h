// `airlock policy`: check a policy file and see what it decides.
//
//   airlock policy lint POLICY.yaml [--config AIRLOCKD.yaml]
//   airlock policy explain POLICY.yaml [FILE|-] [--config AIRLOCKD.yaml] [--tenant T]
//                          [--subject S]
//
// Targets: with --config, every `route` and `fallbacks` name must be a target of that gateway
// config (as airlockd checks at load and reload); without it any name is accepted (lint says
// so on stderr).
//
// lint loads and validates the policy (router/policy.h) and reports, on stdout:
//   - each error as "FILE:LINE:COLUMN: PATH: what was expected" (ParsePolicy's message), and
//     exit status 1;
//   - each warning (router/policy_lint.h: unreachable rules, an unreachable default) as
//     "FILE:LINE: warning: ...";
//   - then "FILE: ok (N rules, W warnings, policy hash H)" when it loads; exit status 0.
// An unreadable --config is exit status 2 with its message.
//
// explain assesses one request (read as `airlock classify` reads it: a ChatRequest in JSON or
// plain text; classify_command.h) with the policy's detectors and prints the assessment's level
// and categories, then every rule considered, why it did or did not match, and the decision
// (router::Explain). The rules see the request's labels, tools and target hint (from JSON
// input) and the principal given by --tenant / --subject (no principal labels). Exit status 0; 2
// for bad input or a policy that does not load (its message on stderr).
#pragma once

#include "CLI/CLI.hpp"

namespace airlock::gateway::cli {

// Adds the `policy` subcommand group to app. When one runs, its exit status is stored in
// *exit_code (which must outlive app's parsing).
void AddPolicyCommand(CLI::App& app, int* exit_code);

}  // namespace airlock::gateway::cli
