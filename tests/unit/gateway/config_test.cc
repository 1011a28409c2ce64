// The airlockd configuration: every key, defaults, path resolution and every error path, each
// naming file, line, column and key.
#include "gateway/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace airlock::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kMinimal[] =
    "targets:\n"
    "  - name: t\n"
    "    kind: openai\n"
    "    base_url: http://127.0.0.1:1/v1\n"
    "    model: m\n"
    "policy: p.yaml\n"
    "audit: { path: a.jsonl }\n";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/airlock-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Write("p.yaml", "policy");
    Write("p", "policy");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

  absl::StatusOr<Config> Parse(const std::string& yaml) {
    return ParseConfig(yaml, "t.yaml", dir_);
  }

  // The error message of a config that must fail.
  std::string Error(const std::string& yaml) {
    absl::StatusOr<Config> c = Parse(yaml);
    EXPECT_FALSE(c.ok()) << yaml;
    if (c.ok()) return "";
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(c.status().message());
  }

  std::string dir_;
};

TEST_F(ConfigTest, MinimalConfigGetsDefaults) {
  absl::StatusOr<Config> c = Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->path, "t.yaml");
  EXPECT_EQ(c->listen, "127.0.0.1:50051");
  EXPECT_FALSE(c->tls.has_value());
  EXPECT_TRUE(c->principals.empty());
  ASSERT_EQ(c->targets.size(), 1u);
  const TargetConfig& t = c->targets[0];
  EXPECT_EQ(t.name, "t");
  EXPECT_EQ(t.kind, "openai");
  EXPECT_EQ(t.base_url, "http://127.0.0.1:1/v1");
  EXPECT_EQ(t.model, "m");
  EXPECT_EQ(t.clearance, classifier::Level::kPublic);
  EXPECT_EQ(t.retries, 1);
  EXPECT_EQ(c->policy_path, dir_ + "/p.yaml");
  EXPECT_EQ(c->audit.path, dir_ + "/a.jsonl");
  EXPECT_EQ(c->audit.fsync, AuditConfig::Fsync::kInterval);
  EXPECT_TRUE(c->metrics_listen.empty());
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->workers, 2);
}

TEST_F(ConfigTest, FullConfig) {
  Write("server.pem", "cert");
  Write("server.key", "key");
  Write("ca.pem", "ca");
  Write("super.key", "sk-file\n");
  Write("hmac.key", "0123456789abcdef0123456789abcdef");
  setenv("AIRLOCK_TEST_FRONTIER_KEY", "sk-env", 1);
  std::string yaml =
      "listen: 0.0.0.0:0\n"
      "tls:\n"
      "  cert_file: server.pem\n"
      "  key_file: server.key\n"
      "  client_ca_file: ca.pem\n"
      "principals:\n"
      "  - tenant: acme\n"
      "    subject: agent-1\n"
      "    labels: { team: payments, role: admin }\n"
      "    api_key_sha256: 5E884898DA28047151D0E56F8DC6292773603D0D6AABBDD62A11EF721D1542D8\n"
      "  - tenant: acme\n"
      "    subject: batch\n"
      "    mtls_subject: CN=batch-runner,O=acme\n"
      "    mtls_san: batch.acme.internal\n"
      "targets:\n"
      "  - name: super\n"
      "    kind: openai\n"
      "    base_url: https://vllm.internal:8000/v1\n"
      "    model: nemotron-super\n"
      "    api_key_file: super.key\n"
      "    ca_file: ca.pem\n"
      "    clearance: confidential\n"
      "    timeouts: { connect_ms: 1500, first_byte_ms: 30000, idle_ms: 20000 }\n"
      "    retries: 2\n"
      "    eject_after_failures: 3\n"
      "    eject_for_ms: 1000\n"
      "  - name: frontier\n"
      "    kind: openai\n"
      "    base_url: https://api.example.com/v1\n"
      "    model: big\n"
      "    api_key_env: AIRLOCK_TEST_FRONTIER_KEY\n"
      "egress_allowlist: [vllm.internal, api.example.com]\n"
      "policy: " +
      dir_ +
      "/p.yaml\n"
      "audit: { path: logs/audit.jsonl, fsync: record, hmac_key_file: hmac.key }\n"
      "limits: { max_message_bytes: 65536, max_concurrent_streams: 10, max_in_flight: 20 }\n"
      "metrics: { listen: '[::1]:9464' }\n"
      "logging: { level: debug }\n"
      "shutdown_grace_ms: 2500\n"
      "policy_watch_ms: 0\n"
      "workers: 4\n";
  absl::StatusOr<Config> c = Parse(yaml);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "0.0.0.0:0");
  ASSERT_TRUE(c->tls.has_value());
  EXPECT_EQ(c->tls->cert_file, dir_ + "/server.pem");
  EXPECT_EQ(c->tls->key_file, dir_ + "/server.key");
  EXPECT_EQ(c->tls->client_ca_file, dir_ + "/ca.pem");
  ASSERT_EQ(c->principals.size(), 2u);
  EXPECT_EQ(c->principals[0].principal.tenant, "acme");
  EXPECT_EQ(c->principals[0].principal.subject, "agent-1");
  EXPECT_EQ(c->principals[0].principal.labels,
            (std::map<std::string, std::string>{{"team", "payments"}, {"role", "admin"}}));
  EXPECT_EQ(c->principals[0].api_key_sha256,
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8");
  EXPECT_EQ(c->principals[1].mtls_subject, "CN=batch-runner,O=acme");
  EXPECT_EQ(c->principals[1].mtls_san, "batch.acme.internal");
  ASSERT_EQ(c->targets.size(), 2u);
  const TargetConfig& s = c->targets[0];
  EXPECT_EQ(s.api_key, "sk-file");
  EXPECT_EQ(s.ca_file, dir_ + "/ca.pem");
  EXPECT_EQ(s.clearance, classifier::Level::kConfidential);
  EXPECT_EQ(s.connect_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(s.first_byte_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(s.idle_timeout, std::chrono::milliseconds(20000));
  EXPECT_EQ(s.retries, 2);
  EXPECT_EQ(s.eject_after_failures, 3);
  EXPECT_EQ(s.eject_for, std::chrono::milliseconds(1000));
  EXPECT_EQ(c->policy_watch, std::chrono::milliseconds(0));
  EXPECT_EQ(c->targets[1].api_key, "sk-env");
  EXPECT_EQ(c->egress_allowlist, (std::vector<std::string>{"vllm.internal", "api.example.com"}));
  EXPECT_EQ(c->policy_path, dir_ + "/p.yaml");
  EXPECT_EQ(c->audit.path, dir_ + "/logs/audit.jsonl");
  EXPECT_EQ(c->audit.fsync, AuditConfig::Fsync::kEveryRecord);
  EXPECT_EQ(c->audit.hmac_key_file, dir_ + "/hmac.key");
  EXPECT_EQ(c->limits.max_message_bytes, 65536);
  EXPECT_EQ(c->limits.max_concurrent_streams, 10);
  EXPECT_EQ(c->limits.max_in_flight, 20);
  EXPECT_EQ(c->metrics_listen, "[::1]:9464");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->shutdown_grace, std::chrono::milliseconds(2500));
  EXPECT_EQ(c->workers, 4);
  unsetenv("AIRLOCK_TEST_FRONTIER_KEY");
}

TEST_F(ConfigTest, FsyncValues) {
  for (auto [word, value] : {std::pair{"record", AuditConfig::Fsync::kEveryRecord},
                             std::pair{"batch", AuditConfig::Fsync::kBatch},
                             std::pair{"interval", AuditConfig::Fsync::kInterval},
                             std::pair{"never", AuditConfig::Fsync::kNever}}) {
    std::string yaml = std::string(kMinimal) + "";
    yaml.replace(yaml.find("{ path: a.jsonl }"), 17,
                 std::string("{ path: a.jsonl, fsync: ") + word + " }");
    absl::StatusOr<Config> c = Parse(yaml);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->audit.fsync, value) << word;
    EXPECT_EQ(c->audit.fsync_interval, std::chrono::milliseconds(10)) << word;
  }
  {
    std::string yaml = std::string(kMinimal);
    yaml.replace(yaml.find("{ path: a.jsonl }"), 17,
                 "{ path: a.jsonl, fsync: interval, fsync_interval_ms: 250 }");
    absl::StatusOr<Config> c = Parse(yaml);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->audit.fsync_interval, std::chrono::milliseconds(250));
  }
  EXPECT_EQ(Error("targets: [{name: t, kind: openai, base_url: 'http://h', model: m}]\n"
                  "policy: p\n"
                  "audit: { path: a, fsync: always }\n"),
            "t.yaml:3:26: audit.fsync: unknown fsync policy 'always' (expected record, batch, "
            "interval, never)");
}

TEST_F(ConfigTest, AuditSegmentsCheckpointsAndSigningKey) {
  {
    absl::StatusOr<Config> c = Parse(kMinimal);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->audit.signing_key_file, "");
    EXPECT_EQ(c->audit.segment_max_bytes, uint64_t{256} << 20);
    EXPECT_EQ(c->audit.segment_max_age, std::chrono::seconds(86400));
    EXPECT_EQ(c->audit.checkpoint_every_records, 10000u);
    EXPECT_EQ(c->audit.checkpoint_interval, std::chrono::milliseconds(10000));
  }
  std::ofstream(dir_ + "/audit.key") << "a key";
  std::string yaml = std::string(kMinimal);
  yaml.replace(yaml.find("{ path: a.jsonl }"), 17,
               "{ path: a.jsonl, signing_key_file: audit.key, segment_max_bytes: 1048576,\n"
               "  segment_max_age_s: 0, checkpoint_every_records: 100,\n"
               "  checkpoint_interval_ms: 2000 }");
  absl::StatusOr<Config> c = Parse(yaml);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->audit.signing_key_file, dir_ + "/audit.key");
  EXPECT_EQ(c->audit.segment_max_bytes, 1048576u);
  EXPECT_EQ(c->audit.segment_max_age, std::chrono::seconds(0));
  EXPECT_EQ(c->audit.checkpoint_every_records, 100u);
  EXPECT_EQ(c->audit.checkpoint_interval, std::chrono::milliseconds(2000));

  const std::string head =
      "targets: [{name: t, kind: openai, base_url: 'http://h', model: m}]\npolicy: p\n";
  EXPECT_THAT(Error(head + "audit: { path: a, segment_max_bytes: 100 }\n"),
              StartsWith("t.yaml:3:38: audit.segment_max_bytes: "));
  EXPECT_THAT(Error(head + "audit: { path: a, segment_max_age_s: -1 }\n"),
              StartsWith("t.yaml:3:38: audit.segment_max_age_s: "));
  EXPECT_THAT(Error(head + "audit: { path: a, checkpoint_every_records: 0 }\n"),
              StartsWith("t.yaml:3:45: audit.checkpoint_every_records: "));
  EXPECT_THAT(Error(head + "audit: { path: a, checkpoint_interval_ms: 0 }\n"),
              StartsWith("t.yaml:3:43: audit.checkpoint_interval_ms: "));
  EXPECT_THAT(Error(head + "audit: { path: a, signing_key_file: nowhere.key }\n"),
              StartsWith("t.yaml:3:37: audit.signing_key_file: "));
  EXPECT_THAT(Error(head + "audit: { path: a, dir: d }\n"),
              StartsWith("t.yaml:3:19: audit.dir: unknown key"));
}

TEST_F(ConfigTest, UnknownKeysAreErrors) {
  EXPECT_THAT(Error(std::string(kMinimal) + "listne: 1.2.3.4:5\n"),
              StartsWith("t.yaml:8:1: listne: unknown key (expected one of: listen, tls,"));
  // The integration test's case: an unknown key is reported before missing required keys.
  EXPECT_THAT(Error("listen: 127.0.0.1:0\npolicy: p.yaml\nlimits:\n  max_inflight: 3\n"),
              StartsWith("t.yaml:4:3: limits.max_inflight: unknown key"));
  EXPECT_THAT(Error("targets:\n  - name: t\n    kind: openai\n    base_url: http://h\n"
                    "    model: m\n    clearence: public\n"
                    "policy: p\naudit: {path: a}\n"),
              StartsWith("t.yaml:6:5: targets[0].clearence: unknown key"));
  EXPECT_THAT(Error(std::string(kMinimal) + "logging: { level: info, format: json }\n"),
              StartsWith("t.yaml:8:25: logging.format: unknown key (expected one of: level)"));
}

TEST_F(ConfigTest, DuplicateKeysAreErrors) {
  EXPECT_EQ(Error(std::string(kMinimal) + "policy: q.yaml\n"), "t.yaml:8:1: policy: duplicate key");
}

TEST_F(ConfigTest, BadLevel) {
  std::string yaml =
      "targets:\n"
      "  - name: t\n"
      "    kind: openai\n"
      "    base_url: http://h/v1\n"
      "    model: m\n"
      "    clearance: secret\n"
      "policy: p\n"
      "audit: {path: a}\n";
  EXPECT_EQ(Error(yaml),
            "t.yaml:6:16: targets[0].clearance: unknown level 'secret' (expected public, "
            "internal, confidential, restricted)");
}

TEST_F(ConfigTest, WrongTypes) {
  EXPECT_EQ(Error("targets: web\npolicy: p\naudit: {path: a}\n"),
            "t.yaml:1:10: targets: expected a list, got a scalar");
  EXPECT_EQ(Error("listen: [a, b]\n"), "t.yaml:1:9: listen: expected a string, got a list");
  EXPECT_EQ(Error(std::string(kMinimal) + "workers: two\n"),
            "t.yaml:8:10: workers: expected a whole number, got 'two'");
  EXPECT_EQ(Error(std::string(kMinimal) + "workers: 1.5\n"),
            "t.yaml:8:10: workers: expected a whole number, got '1.5'");
  EXPECT_EQ(Error(std::string(kMinimal) + "workers: 0\n"),
            "t.yaml:8:10: workers: 0 is out of range (1 to 256)");
  EXPECT_EQ(Error(std::string(kMinimal) + "limits: 5\n"),
            "t.yaml:8:9: limits: expected a map, got a scalar");
  EXPECT_EQ(Error(std::string(kMinimal) + "egress_allowlist: [a, {b: c}]\n"),
            "t.yaml:8:23: egress_allowlist[1]: expected a string, got a map");
  EXPECT_EQ(Error(std::string(kMinimal) + "listen:\n"), "t.yaml:8:1: listen: has no value");
  EXPECT_EQ(Error(std::string(kMinimal) + "egress_allowlist: [a.internal, 'https://b.example']\n"),
            "t.yaml:8:32: egress_allowlist[1]: expected a host name or address, not "
            "'https://b.example'");
  EXPECT_EQ(Error("- a\n- b\n"), "t.yaml:1:1: (top level): expected a map, got a list");
  EXPECT_EQ(Error(std::string(kMinimal) + "listen: localhost\n"),
            "t.yaml:8:9: listen: expected host:port or unix:PATH, got 'localhost'");
  EXPECT_EQ(Error(std::string(kMinimal) + "metrics: { listen: 'h:99999' }\n"),
            "t.yaml:8:20: metrics.listen: expected host:port, got 'h:99999'");
  EXPECT_EQ(Error(std::string(kMinimal) + "logging: { level: loud }\n"),
            "t.yaml:8:19: logging.level: unknown log level 'loud' (expected debug, info, warn, "
            "error)");
}

TEST_F(ConfigTest, BadDurations) {
  auto with_timeouts = [](const std::string& timeouts) {
    return "targets:\n  - name: t\n    kind: openai\n    base_url: http://h\n    model: m\n"
           "    timeouts: " +
           timeouts + "\npolicy: p\naudit: {path: a}\n";
  };
  EXPECT_EQ(Error(with_timeouts("{ connect_ms: 2s }")),
            "t.yaml:6:29: targets[0].timeouts.connect_ms: expected a duration in whole "
            "milliseconds (e.g. 2000), got '2s'");
  EXPECT_EQ(Error(with_timeouts("{ idle_ms: -5 }")),
            "t.yaml:6:26: targets[0].timeouts.idle_ms: duration -5 ms is out of range (1 to "
            "604800000 ms)");
  EXPECT_EQ(Error(with_timeouts("{ first_byte_ms: 0 }")),
            "t.yaml:6:32: targets[0].timeouts.first_byte_ms: duration 0 ms is out of range (1 to "
            "604800000 ms)");
  EXPECT_THAT(Error(with_timeouts("{ connect_ms: 99999999999999999999 }")),
              StartsWith("t.yaml:6:29: targets[0].timeouts.connect_ms: expected a duration"));
  EXPECT_EQ(Error(std::string(kMinimal) + "shutdown_grace_ms: soon\n"),
            "t.yaml:8:20: shutdown_grace_ms: expected a duration in whole milliseconds (e.g. "
            "2000), got 'soon'");
  // Zero is a valid grace period.
  EXPECT_TRUE(Parse(std::string(kMinimal) + "shutdown_grace_ms: 0\n").ok());
  EXPECT_EQ(Error(std::string(kMinimal) + "policy_watch_ms: -5\n"),
            "t.yaml:8:18: policy_watch_ms: duration -5 ms is out of range (0 to 604800000 ms)");
  // The file watch is on by default.
  EXPECT_EQ(Parse(std::string(kMinimal))->policy_watch, std::chrono::milliseconds(500));
}

TEST_F(ConfigTest, MissingRequiredKeys) {
  EXPECT_EQ(Error("policy: p\naudit: {path: a}\n"), "t.yaml:1:1: targets: required key is missing");
  EXPECT_EQ(Error("targets: []\npolicy: p\naudit: {path: a}\n"),
            "t.yaml:1:10: targets: at least one target is required");
  EXPECT_EQ(Error("targets: [{name: t, kind: openai, base_url: 'http://h', model: m}]\n"
                  "audit: {path: a}\n"),
            "t.yaml:1:1: policy: required key is missing");
  EXPECT_EQ(Error("targets: [{name: t, kind: openai, base_url: 'http://h', model: m}]\n"
                  "policy: p\n"),
            "t.yaml:1:1: audit: required key is missing");
  EXPECT_EQ(Error("targets: [{name: t, kind: openai, base_url: 'http://h', model: m}]\n"
                  "policy: p\naudit: {fsync: batch}\n"),
            "t.yaml:3:8: audit.path: required key is missing");
  std::string target =
      "targets:\n  - name: t\n    kind: openai\n    base_url: http://h\n"
      "    model: m\npolicy: p\naudit: {path: a}\n";
  for (const char* key : {"name", "kind", "base_url", "model"}) {
    std::string yaml = target;
    size_t at = yaml.find(std::string(key) + ":");
    yaml.erase(at, yaml.find('\n', at) + 1 - at);
    yaml.insert(at, "retries: 1\n");  // keep the list entry's first line
    EXPECT_EQ(Error(yaml),
              std::string("t.yaml:2:5: targets[0].") + key + ": required key is missing");
  }
  EXPECT_EQ(Error(""),
            "t.yaml:1:1: (top level): the file is empty; expected a map with at least targets, "
            "policy and audit");
}

TEST_F(ConfigTest, TargetErrors) {
  std::string two =
      "targets:\n"
      "  - {name: a, kind: openai, base_url: 'http://h', model: m}\n"
      "  - {name: a, kind: openai, base_url: 'http://h', model: m}\n"
      "policy: p\naudit: {path: a}\n";
  EXPECT_EQ(Error(two),
            "t.yaml:3:12: targets[1].name: duplicate target name 'a' (also targets[0])");
  EXPECT_EQ(Error("targets: [{name: a, kind: grpc, base_url: 'http://h', model: m}]\n"
                  "policy: p\naudit: {path: a}\n"),
            "t.yaml:1:27: targets[0].kind: unknown target kind 'grpc' (expected openai, local)");
  EXPECT_EQ(Error("targets: [{name: a, kind: openai, base_url: 'ftp://h', model: m}]\n"
                  "policy: p\naudit: {path: a}\n"),
            "t.yaml:1:45: targets[0].base_url: 'ftp://h' is not an http:// or https:// URL");
  EXPECT_EQ(Error("targets: [{name: 'a b', kind: openai, base_url: 'http://h', model: m}]\n"
                  "policy: p\naudit: {path: a}\n"),
            "t.yaml:1:18: targets[0].name: 'a b' is not a valid name (1 to 64 of A-Z a-z 0-9 _ "
            "- .)");
  EXPECT_EQ(Error("targets: [{name: a, kind: openai, base_url: 'http://h', model: m, retries: 11}]"
                  "\npolicy: p\naudit: {path: a}\n"),
            "t.yaml:1:76: targets[0].retries: 11 is out of range (0 to 10)");
}

TEST_F(ConfigTest, LocalTargets) {
  std::filesystem::create_directory(dir_ + "/nano");
  absl::StatusOr<Config> c = Parse(
      "targets: [{name: nano, kind: local, model: nano, clearance: restricted}]\n"
      "policy: p\naudit: {path: a}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->targets[0].kind, "local");
  EXPECT_EQ(c->targets[0].model, dir_ + "/nano");
  EXPECT_TRUE(c->targets[0].base_url.empty());
  EXPECT_EQ(c->targets[0].engine.max_sequences, 16);
  EXPECT_EQ(c->targets[0].engine.device, "auto");
  c = Parse(
      "targets: [{name: nano, kind: local, model: nano, engine: {max_sequences: 4, "
      "max_queued: 2, max_context: 4096, state_memory_mb: 512, step_tokens: 64, threads: 1, "
      "device: cuda, gpu: 1}}]\n"
      "policy: p\naudit: {path: a}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const TargetConfig::Engine& e = c->targets[0].engine;
  EXPECT_EQ(std::vector<int64_t>({e.max_sequences, e.max_queued, e.max_context, e.state_memory_mb,
                                  e.step_tokens, e.threads, e.gpu}),
            std::vector<int64_t>({4, 2, 4096, 512, 64, 1, 1}));
  EXPECT_EQ(e.device, "cuda");
  EXPECT_EQ(Error("targets: [{name: nano, kind: local, model: nano, engine: {device: gpu}}]\n"
                  "policy: p\naudit: {path: a}\n"),
            "t.yaml:1:67: targets[0].engine.device: 'gpu' is not one of: auto, cpu, cuda");
  EXPECT_EQ(Error("targets: [{name: nano, kind: local, model: nano, engine: {max_sequences: 0}}]\n"
                  "policy: p\naudit: {path: a}\n"),
            "t.yaml:1:74: targets[0].engine.max_sequences: 0 is out of range (1 to 4096)");
  EXPECT_EQ(Error("targets: [{name: s, kind: openai, base_url: 'http://h', model: m, engine: {}}]\n"
                  "policy: p\naudit: {path: a}\n"),
            "t.yaml:1:75: targets[0].engine: only for kind local");
  EXPECT_EQ(Error("targets: [{name: nano, kind: local, model: missing}]\n"
                  "policy: p\naudit: {path: a}\n"),
            "t.yaml:1:44: targets[0].model: no model at '" + dir_ + "/missing'");
  EXPECT_EQ(Error("targets: [{name: nano, kind: local, base_url: 'http://h', model: nano}]\n"
                  "policy: p\naudit: {path: a}\n"),
            "t.yaml:1:47: targets[0].base_url: not allowed for kind local");
}

TEST_F(ConfigTest, ModelStage) {
  std::filesystem::create_directory(dir_ + "/nano");
  const std::string targets =
      "targets: [{name: nano, kind: local, model: nano}, "
      "{name: s, kind: openai, base_url: 'http://h', model: m}]\npolicy: p\naudit: {path: a}\n";
  absl::StatusOr<Config> c = Parse(targets);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->model_stage.has_value());
  c = Parse(targets + "classifier: {model: {target: nano}}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->model_stage.has_value());
  EXPECT_EQ(c->model_stage->timeout, std::chrono::milliseconds(2000));
  EXPECT_TRUE(c->model_stage->fail_closed);
  EXPECT_TRUE(c->model_stage->keep_prefill);
  EXPECT_TRUE(c->model_stage->questions.empty());  // the defaults
  c = Parse(targets +
            "classifier:\n  model:\n    target: nano\n    timeout_ms: 50\n"
            "    on_failure: fail_open\n    keep_prefill: false\n    questions:\n"
            "      - id: pii.health\n        kind: category\n        text: Health data?\n"
            "        labels: {yes: 1, no: 0}\n        level: restricted\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_stage->timeout, std::chrono::milliseconds(50));
  EXPECT_FALSE(c->model_stage->fail_closed);
  EXPECT_FALSE(c->model_stage->keep_prefill);
  ASSERT_EQ(c->model_stage->questions.size(), 1u);
  const classifier::ModelQuestion& q = c->model_stage->questions[0];
  EXPECT_EQ(q.kind, classifier::ModelQuestion::Kind::kCategory);
  EXPECT_EQ(q.id, "pii.health");
  ASSERT_EQ(q.labels.size(), 2u);
  EXPECT_EQ(q.labels[0].word, "yes");
  EXPECT_EQ(q.labels[1].value, 0.0f);
  EXPECT_EQ(q.level, classifier::Level::kRestricted);

  std::ofstream(dir_ + "/heads.json") << "{}";
  c = Parse(targets + "classifier: {model: {target: nano, heads: heads.json}}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_stage->heads_file, dir_ + "/heads.json");
  EXPECT_EQ(Error(targets + "classifier: {model: {target: nano, heads: heads.json, questions: "
                            "[{id: d, kind: difficulty, text: t, labels: {easy: 0, hard: 1}}]}}\n"),
            "t.yaml:4:43: classifier.model.heads: either heads or questions, not both");
  EXPECT_EQ(Error(targets + "classifier: {model: {target: s}}\n"),
            "t.yaml:4:30: classifier.model.target: no target of kind local is named 's'");
  EXPECT_EQ(Error(targets + "classifier: {model: {target: nano, on_failure: shrug}}\n"),
            "t.yaml:4:48: classifier.model.on_failure: expected fail_closed or fail_open, got "
            "'shrug'");
  EXPECT_EQ(Error(targets + "classifier: {model: {target: nano, questions: [{id: d, kind: "
                            "difficulty, text: t, labels: {easy: 0, hard: x}}]}}\n"),
            "t.yaml:4:107: classifier.model.questions[0].labels.hard: expected a number, got "
            "'x'");
  // Thresholds are the policy's (router/policy.h `model`), not the config's.
  EXPECT_EQ(Error(targets + "classifier: {model: {target: nano, questions: [{id: c, kind: "
                            "category, text: t, labels: {yes: 1}, threshold: 2}]}}\n"),
            "t.yaml:4:99: classifier.model.questions[0].threshold: unknown key (expected one of: "
            "id, kind, text, labels, level)");
}

TEST_F(ConfigTest, ApiKeyFromEnvironment) {
  unsetenv("AIRLOCK_TEST_UNSET_KEY");
  std::string yaml =
      "targets:\n  - name: t\n    kind: openai\n    base_url: http://h\n    model: m\n"
      "    api_key_env: AIRLOCK_TEST_UNSET_KEY\npolicy: p\naudit: {path: a}\n";
  EXPECT_EQ(Error(yaml),
            "t.yaml:6:18: targets[0].api_key_env: environment variable 'AIRLOCK_TEST_UNSET_KEY' "
            "is not set");
  setenv("AIRLOCK_TEST_UNSET_KEY", "", 1);
  EXPECT_EQ(Error(yaml),
            "t.yaml:6:18: targets[0].api_key_env: environment variable 'AIRLOCK_TEST_UNSET_KEY' "
            "is empty");
  setenv("AIRLOCK_TEST_UNSET_KEY", "sk-123", 1);
  absl::StatusOr<Config> c = Parse(yaml);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->targets[0].api_key, "sk-123");
  unsetenv("AIRLOCK_TEST_UNSET_KEY");

  Write("k", "x\n");
  EXPECT_EQ(Error("targets:\n  - name: t\n    kind: openai\n    base_url: http://h\n"
                  "    model: m\n    api_key_env: X\n    api_key_file: k\n"
                  "policy: p\naudit: {path: a}\n"),
            "t.yaml:7:19: targets[0].api_key_file: give api_key_env or api_key_file, not both");
}

TEST_F(ConfigTest, ApiKeyFromFile) {
  std::string yaml =
      "targets:\n  - name: t\n    kind: openai\n    base_url: http://h\n    model: m\n"
      "    api_key_file: keys/t.key\npolicy: p\naudit: {path: a}\n";
  EXPECT_EQ(Error(yaml), "t.yaml:6:19: targets[0].api_key_file: cannot read '" + dir_ +
                             "/keys/t.key': No such file or directory");
  std::filesystem::create_directory(dir_ + "/keys");
  Write("keys/t.key", "\n");
  EXPECT_EQ(Error(yaml),
            "t.yaml:6:19: targets[0].api_key_file: '" + dir_ + "/keys/t.key' is empty");
  Write("keys/t.key", "sk-from-file\r\n");
  absl::StatusOr<Config> c = Parse(yaml);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->targets[0].api_key, "sk-from-file");
  // A folder is not a key file.
  std::string dir_yaml = yaml;
  dir_yaml.replace(dir_yaml.find("keys/t.key"), 10, "keys");
  EXPECT_EQ(Error(dir_yaml), "t.yaml:6:19: targets[0].api_key_file: cannot read '" + dir_ +
                                 "/keys': is a directory");
}

TEST_F(ConfigTest, TlsFilesMustBeReadable) {
  Write("server.pem", "cert");
  EXPECT_EQ(
      Error(std::string(kMinimal) + "tls: { cert_file: server.pem, key_file: nope.key }\n"),
      "t.yaml:8:41: tls.key_file: cannot read '" + dir_ + "/nope.key': No such file or directory");
  EXPECT_EQ(Error(std::string(kMinimal) + "tls: { key_file: server.pem }\n"),
            "t.yaml:8:6: tls.cert_file: required key is missing");
  Write("server.key", "key");
  EXPECT_EQ(Error(std::string(kMinimal) + "tls: { cert_file: server.pem, key_file: server.key, "
                                          "client_ca_file: /nonexistent/ca.pem }\n"),
            "t.yaml:8:69: tls.client_ca_file: cannot read '/nonexistent/ca.pem': No such file or "
            "directory");
}

TEST_F(ConfigTest, PrincipalErrors) {
  std::string base = std::string(kMinimal) + "principals:\n";
  EXPECT_EQ(Error(base + "  - { tenant: a, subject: b }\n"),
            "t.yaml:9:5: principals[0]: a principal needs api_key_sha256, mtls_subject or "
            "mtls_san");
  EXPECT_EQ(Error(base + "  - { tenant: a, subject: b, api_key_sha256: abc }\n"),
            "t.yaml:9:46: principals[0].api_key_sha256: expected 64 hex digits (the SHA-256 of "
            "the key, e.g. from `printf %s KEY | sha256sum`), got 3 characters");
  std::string not_hex(64, 'g');
  EXPECT_THAT(Error(base + "  - { tenant: a, subject: b, api_key_sha256: " + not_hex + " }\n"),
              StartsWith("t.yaml:9:46: principals[0].api_key_sha256: expected 64 hex digits"));
  std::string digest(64, 'a');
  EXPECT_EQ(Error(base + "  - { tenant: a, subject: b, api_key_sha256: " + digest + " }\n" +
                  "  - { tenant: a, subject: c, api_key_sha256: " + digest + " }\n"),
            "t.yaml:10:46: principals[1].api_key_sha256: the same key digest as principals[0]");
  EXPECT_EQ(Error(base + "  - { subject: b, api_key_sha256: " + digest + " }\n"),
            "t.yaml:9:5: principals[0].tenant: required key is missing");
  EXPECT_EQ(
      Error(base + "  - { tenant: a, subject: b, labels: [x], api_key_sha256: " + digest + " }\n"),
      "t.yaml:9:38: principals[0].labels: expected a map, got a list");
  EXPECT_EQ(Error(base + "  - { tenant: a, subject: b, labels: {x: [1]}, api_key_sha256: " +
                  digest + " }\n"),
            "t.yaml:9:42: principals[0].labels.x: expected a string, got a list");
  // mTLS principals need client certificates to be requested.
  EXPECT_EQ(Error(base + "  - { tenant: a, subject: b, mtls_san: b.internal }\n"),
            "t.yaml:9:40: principals[0].mtls_san: needs tls.client_ca_file (client certificates "
            "are not requested without it)");
}

TEST_F(ConfigTest, SyntaxErrorsHaveLineAndColumn) {
  EXPECT_THAT(Error("targets:\n  - name: t\n    kind: [openai\npolicy: p\n"),
              ::testing::MatchesRegex("t\\.yaml:[0-9]+:[0-9]+: syntax error: .+"));
  EXPECT_THAT(Error("a: b\n  c: d\n"), StartsWith("t.yaml:2:4: syntax error: "));
}

TEST_F(ConfigTest, LoadConfigResolvesAgainstTheFilesFolder) {
  std::filesystem::create_directory(dir_ + "/etc");
  std::string path = Write("etc/airlockd.yaml", kMinimal);
  EXPECT_EQ(LoadConfig(path).status().message(), path + ":6:9: policy: cannot read '" + dir_ +
                                                     "/etc/p.yaml': No such file or directory");
  Write("etc/p.yaml", "policy");
  absl::StatusOr<Config> c = LoadConfig(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->path, path);
  EXPECT_EQ(c->policy_path, dir_ + "/etc/p.yaml");
  EXPECT_EQ(c->audit.path, dir_ + "/etc/a.jsonl");

  std::string bad = Write("etc/bad.yaml", std::string(kMinimal) + "bogus: 1\n");
  absl::StatusOr<Config> b = LoadConfig(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()), StartsWith(bad + ":8:1: bogus: unknown key"));

  absl::StatusOr<Config> missing = LoadConfig(dir_ + "/nope.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.yaml"));
}

}  // namespace
}  // namespace airlock::gateway
