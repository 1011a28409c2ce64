// The audit log: JSON Lines records with increasing seq, sequence continued across reopen,
// torn tails, Flush semantics under each fsync policy, concurrent appends, keyed content HMAC.
#include "gateway/audit/audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "nlohmann/json.hpp"

namespace airlock::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/airlock-audit-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.path = dir_ + "/audit.jsonl";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string ReadFile(const std::string& path) const {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::vector<nlohmann::json> Records() const {
    std::vector<nlohmann::json> out;
    std::istringstream in(ReadFile(config_.path));
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  std::unique_ptr<AuditLog> Open() {
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(config_);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? std::move(*log) : nullptr;
  }

  static AuditRecord Sample(const std::string& id) {
    AuditRecord r;
    r.request_id = id;
    r.tenant = "acme";
    r.subject = "agent-1";
    r.method = "Chat";
    r.policy_hash = std::string(64, 'a');
    r.rule_id = "confidential-pseudonymized";
    r.level = "confidential";
    r.categories = {{"pii.email", 2}, {"secret.aws_access_key", 1}};
    r.difficulty = 0.4;
    r.target = "onprem";
    r.transform = "pseudonymize";
    r.fallbacks = {"frontier: not cleared for confidential (clearance public)"};
    r.outcome = "ok";
    r.status_code = "OK";
    r.prompt_tokens = 12;
    r.completion_tokens = 34;
    r.mangled_placeholders = 2;
    r.stage_ms = {{"assess", 0.1234567}, {"dispatch", 12.5}};
    r.total_ms = 13.0004;
    r.content_hmac = std::string(64, 'f');
    return r;
  }

  std::string dir_;
  AuditConfig config_;
};

TEST_F(AuditLogTest, RecordsAreJsonLinesWithIncreasingSeq) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->next_seq(), 0u);
  for (int i = 0; i < 3; ++i) log->Append(Sample("req-" + std::to_string(i)));
  log->Flush();
  std::vector<nlohmann::json> records = Records();
  ASSERT_EQ(records.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const nlohmann::json& r = records[i];
    EXPECT_EQ(r["seq"], i);
    EXPECT_EQ(r["request_id"], "req-" + std::to_string(i));
    EXPECT_THAT(r["time"].get<std::string>(),
                MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"));
  }
  const nlohmann::json& r = records[0];
  EXPECT_EQ(r["tenant"], "acme");
  EXPECT_EQ(r["subject"], "agent-1");
  EXPECT_EQ(r["method"], "Chat");
  EXPECT_EQ(r["rule_id"], "confidential-pseudonymized");
  EXPECT_EQ(r["level"], "confidential");
  EXPECT_EQ(r["categories"], (nlohmann::json{{"pii.email", 2}, {"secret.aws_access_key", 1}}));
  EXPECT_DOUBLE_EQ(r["difficulty"].get<double>(), 0.4);
  EXPECT_EQ(r["target"], "onprem");
  EXPECT_EQ(r["transform"], "pseudonymize");
  EXPECT_EQ(r["fallbacks"].size(), 1u);
  EXPECT_EQ(r["outcome"], "ok");
  EXPECT_EQ(r["status_code"], "OK");
  EXPECT_EQ(r["prompt_tokens"], 12);
  EXPECT_EQ(r["completion_tokens"], 34);
  EXPECT_EQ(r["mangled_placeholders"], 2);
  EXPECT_DOUBLE_EQ(r["stage_ms"]["assess"].get<double>(), 0.123);
  EXPECT_DOUBLE_EQ(r["stage_ms"]["dispatch"].get<double>(), 12.5);
  EXPECT_DOUBLE_EQ(r["total_ms"].get<double>(), 13.0);
  EXPECT_EQ(r["content_hmac"], std::string(64, 'f'));
  // A fixed set of keys, in a fixed order: nothing that could hold content.
  std::vector<std::string> keys;
  nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(EncodeAuditRecord(Sample("x")));
  for (auto it = ordered.begin(); it != ordered.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"seq",
                                            "time",
                                            "request_id",
                                            "tenant",
                                            "subject",
                                            "method",
                                            "policy_hash",
                                            "rule_id",
                                            "level",
                                            "categories",
                                            "difficulty",
                                            "target",
                                            "transform",
                                            "fallbacks",
                                            "outcome",
                                            "status_code",
                                            "prompt_tokens",
                                            "completion_tokens",
                                            "mangled_placeholders",
                                            "stage_ms",
                                            "total_ms",
                                            "content_hmac",
                                            "prev"}));
}

TEST_F(AuditLogTest, ExplicitTimeIsKept) {
  auto log = Open();
  AuditRecord r = Sample("a");
  r.time = FormatRfc3339Millis(1795521600123);
  log->Append(r);
  log->Flush();
  EXPECT_EQ(Records()[0]["time"], "2026-11-24T12:00:00.123Z");
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
}

TEST_F(AuditLogTest, EncodeDecodeRoundTrip) {
  AuditRecord r = Sample("round");
  r.seq = 41;
  r.time = "2026-11-24T12:00:00.123Z";
  r.stage_ms = {{"assess", 0.125}};
  r.total_ms = 2.5;
  r.difficulty = 0.25;
  std::string line = EncodeAuditRecord(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  absl::StatusOr<AuditRecord> back = DecodeAuditRecord(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);
  EXPECT_EQ(EncodeAuditRecord(*back), line);  // deterministic
  EXPECT_FALSE(DecodeAuditRecord("{\"seq\": \"x\"}").ok());
  EXPECT_FALSE(DecodeAuditRecord("[1]").ok());
  EXPECT_FALSE(DecodeAuditRecord("{\"seq\": 1").ok());
}

// The encoder writes the line field by field; its bytes must be what nlohmann's compact dump
// of the same object gives (the form every existing log was written in).
std::string ReferenceEncoding(const AuditRecord& r) {
  auto round = [](double v, double scale) {
    return std::isfinite(v) ? std::round(v * scale) / scale : 0.0;
  };
  nlohmann::ordered_json j;
  j["seq"] = r.seq;
  j["time"] = r.time;
  j["request_id"] = r.request_id;
  j["tenant"] = r.tenant;
  j["subject"] = r.subject;
  j["method"] = r.method;
  j["policy_hash"] = r.policy_hash;
  j["rule_id"] = r.rule_id;
  j["level"] = r.level;
  if (!r.model.empty()) j["model"] = r.model;
  j["categories"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : r.categories) j["categories"][k] = v;
  j["difficulty"] = round(r.difficulty, 1e4);
  j["target"] = r.target;
  j["transform"] = r.transform;
  j["fallbacks"] = r.fallbacks;
  j["outcome"] = r.outcome;
  j["status_code"] = r.status_code;
  j["prompt_tokens"] = r.prompt_tokens;
  j["completion_tokens"] = r.completion_tokens;
  j["mangled_placeholders"] = r.mangled_placeholders;
  j["stage_ms"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : r.stage_ms) j["stage_ms"][k] = round(v, 1e3);
  j["total_ms"] = round(r.total_ms, 1e3);
  j["content_hmac"] = r.content_hmac;
  j["prev"] = r.prev;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

TEST_F(AuditLogTest, EncodingIsNlohmannsCompactDump) {
  std::vector<AuditRecord> records;
  records.push_back(Sample("plain"));
  AuditRecord empty;  // empty strings, maps and lists; zeros
  records.push_back(empty);
  AuditRecord odd = Sample("quote\" back\\slash\ttab\nnewline\x01\x1f\x7f");
  odd.seq = UINT64_MAX;
  odd.tenant = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92";  // UTF-8
  odd.subject = "bad \xff\xfe utf-8 \xc3";                   // invalid UTF-8: replaced
  odd.model = "failed_closed";
  odd.categories = {{"pii.\"email\"", 3}, {"z", -1}};
  odd.fallbacks = {"a", "", "b\\c"};
  odd.stage_ms = {{"assess", 100000.0}, {"decide", 1e-5},   {"dispatch", 123456789.987654},
                  {"zero", 0.0},        {"negative", -2.5}, {"nan", std::nan("")}};
  odd.difficulty = 0.99995;
  odd.total_ms = 1e21;
  odd.stage_ms["huge"] = 1e306;  // rounding overflows to infinity: null
  odd.prompt_tokens = UINT32_MAX;
  odd.prev = std::string(64, '0');
  records.push_back(odd);
  for (const AuditRecord& r : records) {
    SCOPED_TRACE(r.request_id);
    EXPECT_EQ(EncodeAuditRecord(r), ReferenceEncoding(r));
  }
}

TEST_F(AuditLogTest, ReopenContinuesTheSequence) {
  {
    auto log = Open();
    for (int i = 0; i < 5; ++i) log->Append(Sample("first-" + std::to_string(i)));
  }  // the destructor flushes
  ASSERT_EQ(Records().size(), 5u);
  {
    auto log = Open();
    EXPECT_EQ(log->next_seq(), 5u);
    EXPECT_EQ(log->torn_tail_bytes(), 0u);
    log->Append(Sample("second"));
    log->Close();
    log->Close();                        // idempotent
    log->Append(Sample("after-close"));  // dropped
  }
  std::vector<nlohmann::json> records = Records();
  ASSERT_EQ(records.size(), 6u);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i]["seq"], i);
  EXPECT_EQ(records[5]["request_id"], "second");
}

TEST_F(AuditLogTest, TornTailIsSealedAsItIsAndNumberingContinuesInANewSegment) {
  const AuditLogLayout layout = AuditLogLayout::ForLivePath(config_.path);
  {
    {
      auto log = Open();
      log->Append(Sample("a"));
      log->Append(Sample("b"));
    }
    // A crash in the middle of the third record's write (after a clean run).
    const std::string torn = "{\"seq\":2,\"time\":\"2026-";
    std::ofstream(config_.path, std::ios::app) << torn;
    const std::string whole = ReadFile(config_.path);

    auto reopened = Open();
    ASSERT_NE(reopened, nullptr);
    EXPECT_EQ(reopened->torn_tail_bytes(), torn.size());
    EXPECT_THAT(reopened->recovery_note(), HasSubstr("torn tail of 22 bytes at byte "));
    EXPECT_EQ(reopened->next_seq(), 2u);
    // History is not rewritten: the torn segment is sealed byte for byte.
    EXPECT_EQ(ReadFile(layout.Sealed(0)), whole);
    reopened->Append(Sample("c"));
    reopened->Flush();
  }
  std::vector<nlohmann::json> records = Records();  // the new live segment
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["seq"], 2);
  EXPECT_EQ(records[0]["request_id"], "c");
}

TEST_F(AuditLogTest, DamagedLastRecordRefusesToOpen) {
  {
    auto log = Open();
    log->Append(Sample("a"));
  }
  std::ofstream(config_.path, std::ios::app) << "not json\n";
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(config_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(log.status().message()), HasSubstr("audit verify"));
}

TEST_F(AuditLogTest, FileIsLockedAgainstASecondWriter) {
  auto log = Open();
  absl::StatusOr<std::unique_ptr<AuditLog>> second = AuditLog::Open(config_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use"));
  log.reset();
  EXPECT_TRUE(AuditLog::Open(config_).ok());  // released on close
}

TEST_F(AuditLogTest, CreatesTheFolder) {
  config_.path = dir_ + "/a/b/audit.jsonl";
  auto log = Open();
  ASSERT_NE(log, nullptr);
  log->Append(Sample("x"));
  log->Flush();
  EXPECT_EQ(Records().size(), 1u);
}

TEST_F(AuditLogTest, FlushMakesEverythingAppendedVisible) {
  config_.fsync_interval = std::chrono::minutes(10);  // Flush must not wait for the interval
  for (auto policy : {AuditConfig::Fsync::kEveryRecord, AuditConfig::Fsync::kBatch,
                      AuditConfig::Fsync::kInterval, AuditConfig::Fsync::kNever}) {
    std::filesystem::remove_all(dir_);  // a new log each time
    config_.fsync = policy;
    auto log = Open();
    ASSERT_NE(log, nullptr);
    log->Flush();  // nothing appended: returns at once
    for (int round = 1; round <= 20; ++round) {
      for (int i = 0; i < 7; ++i) log->Append(Sample("r"));
      log->Flush();
      // Everything appended before Flush() is in the file when it returns.
      ASSERT_EQ(Records().size(), static_cast<size_t>(round * 7)) << static_cast<int>(policy);
    }
    EXPECT_TRUE(log->status().ok());
  }
}

TEST_F(AuditLogTest, IntervalModeWritesRecordsAtOnceAndSyncsLater) {
  config_.fsync = AuditConfig::Fsync::kInterval;
  config_.fsync_interval = std::chrono::minutes(10);  // no sync happens by itself in the test
  auto log = Open();
  ASSERT_NE(log, nullptr);
  for (int round = 1; round <= 3; ++round) {
    log->Append(Sample("r"));
    // Written without a Flush: a crash of the process does not lose it.
    for (int i = 0; i < 2000 && Records().size() < static_cast<size_t>(round); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(Records().size(), static_cast<size_t>(round));
  }
  log->Flush();  // does not wait for the interval
  EXPECT_TRUE(log->status().ok());
}

TEST_F(AuditLogTest, ConcurrentAppendsArePresentExactlyOnce) {
  config_.fsync = AuditConfig::Fsync::kBatch;
  auto log = Open();
  constexpr int kThreads = 6, kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        log->Append(Sample(std::to_string(t) + "-" + std::to_string(i)));
        if (i % 100 == 99) log->Flush();
      }
    });
  }
  for (auto& t : threads) t.join();
  log->Close();
  std::vector<nlohmann::json> records = Records();
  ASSERT_EQ(records.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<std::string> ids;
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i]["seq"], i);
    ids.insert(records[i]["request_id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), records.size());
  // Within a thread, records keep their order.
  std::map<std::string, int> last;
  for (const auto& r : records) {
    std::string id = r["request_id"];
    std::string thread = id.substr(0, id.find('-'));
    int i = std::stoi(id.substr(id.find('-') + 1));
    if (last.count(thread)) {
      EXPECT_GT(i, last[thread]);
    }
    last[thread] = i;
  }
}

TEST_F(AuditLogTest, WriteErrorsAreReportedAndNeverHang) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  // Every write past the first bytes fails with EFBIG (SIGXFSZ ignored), as a full disk would.
  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit limit = old_limit;
  limit.rlim_cur = 16;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  log->Append(Sample("lost"));
  log->Flush();  // returns once the write has failed
  EXPECT_EQ(log->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(log->status().message()), HasSubstr("File too large"));
  log->Close();  // gives up instead of retrying forever
  setrlimit(RLIMIT_FSIZE, &old_limit);
  sigaction(SIGXFSZ, &old_action, nullptr);
}

TEST_F(AuditLogTest, ALiveSegmentThatIsNotAFileIsRefused) {
  config_.path = "/dev/null";
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(config_);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(std::string(log.status().message()), HasSubstr("not a regular file"));
}

TEST_F(AuditLogTest, HmacIsDeterministicWithAKeyFile) {
  // RFC 4231 test case 1: key = 20 bytes of 0x0b, data = "Hi There".
  config_.hmac_key_file = dir_ + "/hmac.key";
  std::ofstream(config_.hmac_key_file, std::ios::binary) << std::string(20, '\x0b');
  std::string first;
  {
    auto log = Open();
    first = log->ContentHmac("Hi There");
  }
  EXPECT_EQ(first, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  auto log = Open();
  EXPECT_EQ(log->ContentHmac("Hi There"), first);
  EXPECT_NE(log->ContentHmac("Hi there"), first);
}

TEST_F(AuditLogTest, KeyFileTrailingNewlineIsIgnored) {
  config_.hmac_key_file = dir_ + "/hmac.key";
  std::ofstream(config_.hmac_key_file) << std::string(20, '\x0b') << "\n";
  auto log = Open();
  EXPECT_EQ(log->ContentHmac("Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST_F(AuditLogTest, RandomKeyWithoutKeyFile) {
  std::string a, b;
  {
    auto log = Open();
    a = log->ContentHmac("same bytes");
    EXPECT_EQ(log->ContentHmac("same bytes"), a);  // stable within a process
  }
  auto log = Open();
  b = log->ContentHmac("same bytes");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
}

TEST_F(AuditLogTest, KeyFileErrors) {
  config_.hmac_key_file = dir_ + "/missing.key";
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(config_);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
  config_.hmac_key_file = dir_ + "/short.key";
  std::ofstream(config_.hmac_key_file) << "short\n";
  log = AuditLog::Open(config_);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(log.status().message()), HasSubstr("at least 16"));
}

}  // namespace
}  // namespace airlock::gateway
