#include "gateway/cmd/audit_command.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gateway/audit/checkpoint.h"
#include "gateway/audit/query.h"
#include "gateway/audit/report.h"
#include "gateway/audit/signing.h"
#include "gateway/audit/verifier.h"

namespace airlock::gateway::cli {
namespace {

int Fail(const char* command, const absl::Status& s) {
  std::fprintf(stderr, "airlock audit %s: %s\n", command, std::string(s.message()).c_str());
  return 2;
}

absl::StatusOr<AuditKeyRing> LoadKeys(const std::vector<std::string>& files) {
  AuditKeyRing ring;
  for (const std::string& f : files) {
    absl::StatusOr<std::string> id = ring.AddPublicKeyFile(f);
    if (!id.ok()) return id.status();
  }
  return ring;
}

void AddFilterOptions(CLI::App* cmd, AuditQuery* q, bool all) {
  cmd->add_option("--since", q->since, "records at or after this RFC 3339 UTC time (or prefix)");
  cmd->add_option("--until", q->until, "records before this RFC 3339 UTC time (or prefix)");
  cmd->add_option("--tenant", q->tenant, "tenant (comma-separated: any of them)");
  if (!all) return;
  cmd->add_option("--target", q->target, "target the request went to");
  cmd->add_option("--level", q->level, "assessed level (public, internal, ...)");
  cmd->add_option("--category", q->category, "finding category; 'pii.*' matches by prefix");
  cmd->add_option("--rule", q->rule, "policy rule id");
  cmd->add_option("--outcome", q->outcome, "outcome (ok, denied, error, cancelled, ...)");
}

}  // namespace

void AddAuditCommand(CLI::App& app, int* exit_code) {
  CLI::App* audit = app.add_subcommand("audit", "verify, prove, query and report on the audit log");
  audit->require_subcommand(1);

  {
    auto out = std::make_shared<std::string>();
    CLI::App* cmd = audit->add_subcommand("keygen", "create an Ed25519 key pair for checkpoints");
    cmd->add_option("--out", *out, "PREFIX: writes PREFIX.key and PREFIX.pub")->required();
    cmd->callback([out, exit_code] {
      absl::StatusOr<std::string> id = WriteNewAuditKeyPair(*out);
      if (!id.ok()) {
        *exit_code = Fail("keygen", id.status());
        return;
      }
      std::printf(
          "key id %s\nprivate key %s.key (set audit.signing_key_file)\npublic key %s.pub "
          "(for auditors)\n",
          id->c_str(), out->c_str(), out->c_str());
      *exit_code = 0;
    });
  }

  {
    struct Args {
      std::string log;
      std::vector<std::string> keys;
      bool json = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App* cmd = audit->add_subcommand("verify", "check the whole log offline");
    cmd->add_option("log", args->log, "the live segment (audit.path) or the log's folder")
        ->required();
    cmd->add_option("--key", args->keys, "trusted public key file (repeatable)")->required();
    cmd->add_flag("--json", args->json, "print the result as one JSON object");
    cmd->callback([args, exit_code] {
      absl::StatusOr<AuditKeyRing> keys = LoadKeys(args->keys);
      if (!keys.ok()) return void(*exit_code = Fail("verify", keys.status()));
      absl::StatusOr<AuditLogLayout> layout = AuditLogLayout::Resolve(args->log);
      if (!layout.ok()) return void(*exit_code = Fail("verify", layout.status()));
      absl::StatusOr<AuditVerifyResult> r = VerifyAuditLog(*layout, *keys);
      if (!r.ok()) return void(*exit_code = Fail("verify", r.status()));
      std::fputs(args->json ? (r->ToJson() + "\n").c_str() : r->Summary().c_str(), stdout);
      *exit_code = r->ok() ? 0 : 1;
    });
  }

  {
    struct Args {
      std::string log;
      std::vector<std::string> keys;
      int64_t seq = -1, from = -1, to = -1;
    };
    auto args = std::make_shared<Args>();
    CLI::App* cmd = audit->add_subcommand("prove", "inclusion (--seq) or consistency proof");
    cmd->add_option("log", args->log, "the live segment (audit.path) or the log's folder")
        ->required();
    cmd->add_option("--key", args->keys, "trusted public key file (repeatable)")->required();
    CLI::Option* seq =
        cmd->add_option("--seq", args->seq, "record to prove")->check(CLI::NonNegativeNumber);
    CLI::Option* from =
        cmd->add_option("--from", args->from, "smaller tree size")->check(CLI::PositiveNumber);
    CLI::Option* to =
        cmd->add_option("--to", args->to, "larger tree size")->check(CLI::PositiveNumber);
    seq->excludes(from)->excludes(to);
    from->needs(to);
    to->needs(from);
    cmd->callback([args, exit_code] {
      if (args->seq < 0 && args->from < 0) {
        std::fprintf(stderr, "airlock audit prove: give --seq N, or --from SIZE1 --to SIZE2\n");
        return void(*exit_code = 2);
      }
      absl::StatusOr<AuditKeyRing> keys = LoadKeys(args->keys);
      if (!keys.ok()) return void(*exit_code = Fail("prove", keys.status()));
      absl::StatusOr<AuditLogLayout> layout = AuditLogLayout::Resolve(args->log);
      if (!layout.ok()) return void(*exit_code = Fail("prove", layout.status()));
      absl::StatusOr<std::string> proof =
          args->seq >= 0 ? ProveAuditInclusion(*layout, *keys, static_cast<uint64_t>(args->seq))
                         : ProveAuditConsistency(*layout, *keys, static_cast<uint64_t>(args->from),
                                                 static_cast<uint64_t>(args->to));
      if (!proof.ok()) return void(*exit_code = Fail("prove", proof.status()));
      std::printf("%s\n", proof->c_str());
      *exit_code = 0;
    });
  }

  {
    struct Args {
      std::string file = "-";
      std::vector<std::string> keys;
    };
    auto args = std::make_shared<Args>();
    CLI::App* cmd = audit->add_subcommand("check-proof", "check a proof from `audit prove`");
    cmd->add_option("file", args->file, "proof file; '-' or absent: stdin");
    cmd->add_option("--key", args->keys, "trusted public key file (repeatable)")->required();
    cmd->callback([args, exit_code] {
      absl::StatusOr<AuditKeyRing> keys = LoadKeys(args->keys);
      if (!keys.ok()) return void(*exit_code = Fail("check-proof", keys.status()));
      std::stringstream buf;
      if (args->file == "-") {
        buf << std::cin.rdbuf();
      } else {
        std::ifstream in(args->file, std::ios::binary);
        if (!in) {
          return void(*exit_code =
                          Fail("check-proof", absl::NotFoundError(args->file + ": cannot read")));
        }
        buf << in.rdbuf();
      }
      absl::Status s = CheckAuditProof(buf.str(), *keys);
      if (!s.ok()) {
        std::printf("invalid: %s\n", std::string(s.message()).c_str());
        return void(*exit_code = 1);
      }
      std::printf("valid\n");
      *exit_code = 0;
    });
  }

  {
    struct Args {
      std::string log;
      AuditQuery query;
      bool json = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App* cmd = audit->add_subcommand("query", "print the records that match filters");
    cmd->add_option("log", args->log, "the live segment (audit.path) or the log's folder")
        ->required();
    AddFilterOptions(cmd, &args->query, true);
    cmd->add_option("--limit", args->query.limit, "at most this many records");
    cmd->add_flag("--json", args->json, "print JSON lines (the records as stored)");
    cmd->callback([args, exit_code] {
      if (absl::Status s = ValidateAuditQuery(args->query); !s.ok()) {
        return void(*exit_code = Fail("query", s));
      }
      absl::StatusOr<AuditLogLayout> layout = AuditLogLayout::Resolve(args->log);
      if (!layout.ok()) return void(*exit_code = Fail("query", layout.status()));
      if (!args->json) std::fputs(AuditTableHeader().c_str(), stdout);
      uint64_t shown = 0;
      absl::StatusOr<AuditReadStats> stats =
          ForEachAuditRecord(*layout, [&](const AuditRecord& r, std::string_view line) {
            if (!AuditQueryMatches(args->query, r)) return true;
            if (args->json) {
              std::fwrite(line.data(), 1, line.size(), stdout);
              std::fputc('\n', stdout);
            } else {
              std::fputs(AuditTableRow(r).c_str(), stdout);
            }
            ++shown;
            return args->query.limit == 0 || shown < args->query.limit;
          });
      if (!stats.ok()) return void(*exit_code = Fail("query", stats.status()));
      if (stats->undecodable > 0) {
        std::fprintf(stderr,
                     "airlock audit query: skipped %llu lines that are not records (run `airlock "
                     "audit verify`)\n",
                     static_cast<unsigned long long>(stats->undecodable));
      }
      *exit_code = 0;
    });
  }

  {
    struct Args {
      std::string log;
      std::vector<std::string> keys;
      std::string out;
      AuditQuery query;
    };
    auto args = std::make_shared<Args>();
    CLI::App* cmd = audit->add_subcommand("report", "write a self-contained HTML report");
    cmd->add_option("log", args->log, "the live segment (audit.path) or the log's folder")
        ->required();
    cmd->add_option("--key", args->keys, "trusted public key file (repeatable)")->required();
    cmd->add_option("--out", args->out, "HTML file to write")->required();
    AddFilterOptions(cmd, &args->query, false);
    cmd->callback([args, exit_code] {
      if (absl::Status s = ValidateAuditQuery(args->query); !s.ok()) {
        return void(*exit_code = Fail("report", s));
      }
      absl::StatusOr<AuditKeyRing> keys = LoadKeys(args->keys);
      if (!keys.ok()) return void(*exit_code = Fail("report", keys.status()));
      absl::StatusOr<AuditLogLayout> layout = AuditLogLayout::Resolve(args->log);
      if (!layout.ok()) return void(*exit_code = Fail("report", layout.status()));
      absl::StatusOr<AuditVerifyResult> verified = VerifyAuditLog(*layout, *keys);
      if (!verified.ok()) return void(*exit_code = Fail("report", verified.status()));
      absl::StatusOr<std::string> html = RenderAuditReport(*layout, *verified, args->query);
      if (!html.ok()) return void(*exit_code = Fail("report", html.status()));
      std::ofstream out(args->out, std::ios::binary | std::ios::trunc);
      out << *html;
      out.close();
      if (!out) {
        return void(*exit_code = Fail("report", absl::InternalError(args->out + ": cannot write")));
      }
      std::printf("wrote %s (%s)\n", args->out.c_str(),
                  verified->ok() ? "log intact" : "verification found problems");
      *exit_code = 0;
    });
  }
}

}  // namespace airlock::gateway::cli
