// `airlock policy`: check a policy file and see what it decides.
//
//   airlock policy lint POLICY.yaml [--config AIRLOCKD.yaml]
//   airlock policy explain POLICY.yaml [FILE|-] [--config AIRLOCKD.yaml] [--tenant T]
//                          [--subject S]
//   airlock policy print POLICY.yaml [--config AIRLOCKD.yaml]
//   airlock policy test POLICY.yaml [--tests TEST.yaml] [--config AIRLOCKD.yaml]
//                       [--threshold PCT]
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
//
// print writes the policy in canonical form (router/policy_print.h) on stdout: the same compiled
// policy, every default spelled out, terms files inlined. Exit status 0; 2 when the policy does
// not load (its message on stderr).
//
// test runs the policy's test file (router/policy_suite.h; by default NAME_test.yaml beside
// NAME.yaml) and prints, on stdout: "PASS  NAME" or "FAIL  NAME (FILE:LINE)" per case, each
// failure followed by its diff ("- what: expected" / "+ what: got" per expectation that does
// not hold), the assessment's level and the explanation of the decision; then "coverage: R of
// N rules reached (P%)", "  not reached: rule 'ID' (POLICY:LINE)" for each rule (or the
// default) that no case decided, "FILE: P passed, F failed", and, when the coverage is below
// --threshold (percent, 0 to 100, default 0), a line saying so. Exit status 0 when every case
// passes and the threshold is met, 1 otherwise, 2 when the policy or the test file does not load
// (its message on stderr).
#pragma once

#include "CLI/CLI.hpp"

namespace airlock::gateway::cli {

// Adds the `policy` subcommand group to app. When one runs, its exit status is stored in
// *exit_code (which must outlive app's parsing).
void AddPolicyCommand(CLI::App& app, int* exit_code);

}  // namespace airlock::gateway::cli
