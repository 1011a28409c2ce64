// `airlock audit`: offline tools for the tamper-evident audit log (gateway/audit/).
//
//   airlock audit keygen --out PREFIX
//       writes PREFIX.key (Ed25519 private key, mode 0600; refused when it exists) and
//       PREFIX.pub; prints the key id. Point audit.signing_key_file at PREFIX.key; give
//       PREFIX.pub to auditors.
//   airlock audit verify LOG --key PUB [--key PUB2 ...] [--json]
//       checks every record and checkpoint (gateway/audit/verifier.h). Prints "intact up to
//       record N at checkpoint I (time T, key K)" or each problem: kind, file, byte offset,
//       record. Exit 0 when nothing is wrong, 1 when a problem was found.
//   airlock audit prove LOG --key PUB --seq N               inclusion proof (JSON)
//   airlock audit prove LOG --key PUB --from SIZE1 --to SIZE2   consistency proof (JSON)
//   airlock audit check-proof FILE|- --key PUB
//       checks a proof offline against the signed checkpoint inside it. Exit 0 valid, 1 not.
//   airlock audit query LOG [--since T] [--until T] [--tenant X] [--target X] [--level X]
//                           [--category C] [--rule R] [--outcome O] [--limit N] [--json]
//       matching records as a table, or with --json as the JSON lines they are stored as.
//   airlock audit report LOG --key PUB --out FILE.html [--since T] [--until T] [--tenant X]
//       a self-contained HTML page for a reviewer (gateway/audit/report.h), verification
//       included. Exit 0 even when verification found problems (the page shows them).
//
// LOG is the live segment's path (audit.path in the gateway config) or the folder holding
// the log. Errors (unreadable files, bad options) go to stderr with exit status 2.
#pragma once

#include "CLI/CLI.hpp"

namespace airlock::gateway::cli {

// Adds the `audit` command group to app. When a subcommand runs, its exit status is stored in
// *exit_code (which must outlive app's parsing).
void AddAuditCommand(CLI::App& app, int* exit_code);

}  // namespace airlock::gateway::cli
