// bench_audit_throughput: the audit log's append throughput and added latency per fsync
// policy, and the verifier's speed. Prints a table; asserts nothing.
//
//   bench_audit_throughput [--dir DIR] [--records N] [--threads T]
//
// For each policy (record, batch, interval, never) a fresh log in DIR (default
// ./bench-audit; use a real disk, not tmpfs, or fsync costs nothing) receives N records from
// T threads appending as fast as they can; records/s counts until Flush() returns (all
// durable). "append p99" is what a request pays: the Append() call itself (it only
// enqueues). "durable p99" is Append followed by Flush() from one thread, 2000 times: how long
// until a record is on disk. Then VerifyAuditLog reads the largest log back: records/s.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gateway/audit/audit_log.h"
#include "gateway/audit/verifier.h"

using airlock::gateway::AuditConfig;
using airlock::gateway::AuditKeyRing;
using airlock::gateway::AuditLog;
using airlock::gateway::AuditLogLayout;
using airlock::gateway::AuditRecord;
using Clock = std::chrono::steady_clock;

namespace {

AuditRecord Sample(int i) {
  AuditRecord r;
  r.request_id = "0123456789abcdef0123456789abcdef";
  r.tenant = "acme";
  r.subject = "agent-" + std::to_string(i % 16);
  r.method = "Chat";
  r.policy_hash = std::string(64, 'a');
  r.rule_id = "confidential-pseudonymized";
  r.level = "confidential";
  r.categories = {{"pii.email", 2}, {"secret.aws_access_key", 1}};
  r.difficulty = 0.42;
  r.target = "onprem";
  r.transform = "pseudonymize";
  r.fallbacks = {"frontier: not cleared for confidential (clearance public)"};
  r.outcome = "ok";
  r.status_code = "OK";
  r.prompt_tokens = 120;
  r.completion_tokens = 340;
  r.stage_ms = {{"assess", 0.12}, {"decide", 0.01}, {"dispatch", 12.5}};
  r.total_ms = 13.0;
  r.content_hmac = std::string(64, 'f');
  return r;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "bench-audit";
  int records = 200000, threads = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--records")) records = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  std::printf("audit log: %d records from %d threads per policy, in %s\n\n", records, threads,
              dir.c_str());
  std::printf("%-9s %12s %16s %16s %16s\n", "fsync", "records/s", "append p50 us", "append p99 us",
              "durable p99 us");
  const struct {
    const char* name;
    AuditConfig::Fsync fsync;
  } policies[] = {{"record", AuditConfig::Fsync::kEveryRecord},
                  {"batch", AuditConfig::Fsync::kBatch},
                  {"interval", AuditConfig::Fsync::kInterval},
                  {"never", AuditConfig::Fsync::kNever}};
  std::string biggest;
  uint64_t biggest_records = 0;
  for (const auto& p : policies) {
    const std::string log_dir = dir + "/" + p.name;
    std::filesystem::remove_all(log_dir);
    AuditConfig config;
    config.path = log_dir + "/audit.jsonl";
    config.fsync = p.fsync;
    // fsync per record is slow: fewer records for it.
    const int n = p.fsync == AuditConfig::Fsync::kEveryRecord ? std::min(records, 20000) : records;
    auto log = AuditLog::Open(config);
    if (!log.ok()) {
      std::fprintf(stderr, "%s\n", std::string(log.status().message()).c_str());
      return 1;
    }
    std::vector<std::vector<double>> lat(static_cast<size_t>(threads));
    const auto start = Clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        auto& l = lat[static_cast<size_t>(t)];
        l.reserve(static_cast<size_t>(n / threads + 1));
        for (int i = t; i < n; i += threads) {
          AuditRecord r = Sample(i);
          const auto a = Clock::now();
          (*log)->Append(std::move(r));
          l.push_back(Micros(Clock::now() - a));
        }
      });
    }
    for (auto& w : workers) w.join();
    (*log)->Flush();
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<double> all;
    for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
    std::vector<double> durable;
    for (int i = 0; i < 2000; ++i) {
      const auto a = Clock::now();
      (*log)->Append(Sample(i));
      (*log)->Flush();
      durable.push_back(Micros(Clock::now() - a));
    }
    (*log)->Close();
    std::printf("%-9s %12.0f %16.2f %16.2f %16.1f\n", p.name, n / secs, Percentile(all, 0.5),
                Percentile(all, 0.99), Percentile(durable, 0.99));
    if (static_cast<uint64_t>(n) > biggest_records) {
      biggest_records = static_cast<uint64_t>(n) + 2000;
      biggest = config.path;
    }
  }

  // Verify: keys of the logs written without a key file lie next to them.
  AuditKeyRing keys;
  for (const auto& e :
       std::filesystem::directory_iterator(std::filesystem::path(biggest).parent_path())) {
    if (e.path().extension() == ".pub") (void)keys.AddPublicKeyFile(e.path().string());
  }
  double best = 0;
  uint64_t verified = 0;
  for (int round = 0; round < 3; ++round) {
    const auto a = Clock::now();
    auto r = airlock::gateway::VerifyAuditLog(AuditLogLayout::ForLivePath(biggest), keys);
    const double secs = std::chrono::duration<double>(Clock::now() - a).count();
    if (!r.ok() || !r->ok()) {
      std::fprintf(stderr, "verify failed: %s\n",
                   r.ok() ? r->Summary().c_str() : std::string(r.status().message()).c_str());
      return 1;
    }
    verified = r->records;
    best = std::max(best, static_cast<double>(r->records) / secs);
  }
  std::printf("\nverify: %llu records, %.0f records/s (best of 3)\n",
              static_cast<unsigned long long>(verified), best);
  return 0;
}
