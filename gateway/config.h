// The airlockd configuration: one YAML file.
//
//   listen: 127.0.0.1:50051            # host:port (port 0 picks a free one) or unix:PATH
//   tls:                               # optional; plaintext when absent
//     cert_file: server.pem            # required within tls
//     key_file: server.key             # required within tls
//     client_ca_file: clients-ca.pem   # optional; when set, clients must present a cert
//   principals:                        # optional; without principals nobody can call
//     - tenant: acme                   # required
//       subject: agent-1               # required
//       labels: { team: payments }     # optional string map
//       api_key_sha256: 5e88...        # hex SHA-256 of the API key; never the key itself
//     - tenant: acme
//       subject: batch-runner
//       mtls_subject: CN=batch-runner  # RFC 2253 subject DN; and/or mtls_san: batch.acme.internal
//                                      # (needs tls.client_ca_file; when both are set, both
//                                      # must match)
//   targets:                           # required, at least one
//     - name: super                    # required, unique, [A-Za-z0-9_.-]
//       kind: openai                   # required: openai | local
//       base_url: https://vllm.internal:8000/v1   # required for openai (http or https)
//       model: nemotron-super          # required (for local: the model path)
//       api_key_env: SUPER_API_KEY     # or api_key_file: /etc/airlock/super.key (not both)
//       ca_file: /etc/airlock/ca.pem   # optional; system CAs otherwise
//       clearance: confidential        # public (default) | internal | confidential | restricted
//       timeouts: { connect_ms: 2000, first_byte_ms: 30000, idle_ms: 30000 }
//       retries: 1                     # 0..10
//       eject_after_failures: 5        # optional, >= 1
//       eject_for_ms: 30000            # optional
//     - name: nano
//       kind: local                    # the in-process engine (engine/runtime.h)
//       model: models/nano             # a Hugging Face Nemotron-H folder
//       engine: { max_sequences: 16, max_queued: 64, max_context: 32768,
//                 state_memory_mb: 8192, step_tokens: 512, threads: 0,
//                 device: auto, gpu: 0 }   # all optional; only for kind local (threads 0:
//                                      # all cores; device cpu | cuda | auto: CUDA when a
//                                      # device answers; gpu: the CUDA device index)
//   egress_allowlist: [vllm.internal]  # hosts targets may connect to; nothing else
//   policy: policies/default.yaml      # required, readable; relative paths are relative to
//                                      # this file
//   policy_watch_ms: 500               # reload the policy once its files (the policy and its
//                                      # terms files) have changed and then stayed unchanged
//                                      # this long; 0: only on SIGHUP / Admin.ReloadPolicy
//   audit:                             # the tamper-evident audit log (see AuditConfig)
//     path: audit/audit.jsonl          # required: the live segment; sealed segments and
//                                      # checkpoints lie next to it
//     fsync: interval                  # record | batch | interval (default) | never
//     fsync_interval_ms: 10            # for interval, 1..
//     hmac_key_file: hmac.key          # optional; key of the content HMAC
//     signing_key_file: audit.key      # optional; Ed25519 key (airlock audit keygen)
//     segment_max_bytes: 268435456     # 4096..2^40 (default 256 MiB)
//     segment_max_age_s: 86400         # 0 (no limit)..
//     checkpoint_every_records: 10000  # 1..
//     checkpoint_interval_ms: 10000    # 1..
//   limits: { max_message_bytes: 4194304, max_concurrent_streams: 100, max_in_flight: 256 }
//   metrics: { listen: 127.0.0.1:9464 }  # optional
//   logging: { level: info }           # debug | info | warn | error
//   shutdown_grace_ms: 10000
//   workers: 2                         # threads for upstream I/O, 1..256
//   classifier:                        # optional
//     model:                           # the model stage (classifier/model_stage.h)
//       target: nano                   # required: a kind local target
//       timeout_ms: 2000               # the stage's time budget per request
//       on_failure: fail_closed        # fail_closed (default: treat as restricted) | fail_open
//       keep_prefill: true             # keep the conversation's prefill for the generation
//       questions:                     # optional; default: classifier::DefaultModelQuestions()
//         - id: pii.health             # required; a category's name for kind category
//           kind: category             # required: level | difficulty | category
//           text: Does the conversation above contain health data? Answer yes or no.
//           labels: { "yes": 1, "no": 0 }  # required, in order: word -> value
//           level: restricted          # category: the level of a yes (default confidential)
//                                      # (the policy's `model` and `levels` decide how the
//                                      # answers are read: router/policy.h)
//       heads: models/nano/airlock_heads.json  # or: trained heads (airlock classifier train)
//                                      # on the hidden state, no questions (not with questions)
//
// Durations are whole milliseconds in keys ending in `_ms`. Unknown keys, duplicate keys,
// wrong types and out-of-range values are errors; every error names file, line, column and
// the key's path, e.g.
//   airlockd.yaml:12:5: targets[0].clearance: unknown level 'secret' (expected public, ...)
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/level.h"
#include "classifier/model_stage.h"

namespace airlock::gateway {

struct Principal {
  std::string tenant;
  std::string subject;
  std::map<std::string, std::string> labels;
};

struct PrincipalConfig {
  Principal principal;
  std::string api_key_sha256;  // lowercase hex, 64 chars; empty when mTLS only
  std::string mtls_subject;    // matched against the client certificate's subject DN
  std::string mtls_san;        // matched against the certificate's DNS/URI SANs
};

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // empty: client certificates are not requested
};

struct TargetConfig {
  std::string name;
  std::string kind;      // "openai" or "local"
  std::string base_url;  // empty for kind local
  std::string model;     // model name; for kind local an absolute model path
  std::string api_key;   // resolved from api_key_env / api_key_file at load; may be empty
  std::string ca_file;   // empty: the system's default CA store
  classifier::Level clearance = classifier::Level::kPublic;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds first_byte_timeout{60000};
  std::chrono::milliseconds idle_timeout{60000};
  int retries = 1;               // extra attempts after the first, before any byte streamed
  int eject_after_failures = 5;  // consecutive failures before the target is ejected
  std::chrono::milliseconds eject_for{30000};
  // kind local: the engine runtime's limits (engine::RuntimeOptions) and its CPU threads.
  struct Engine {
    int64_t max_sequences = 16;
    int64_t max_queued = 64;
    int64_t max_context = 32768;
    int64_t state_memory_mb = 8192;
    int64_t step_tokens = 512;
    int64_t threads = 0;
    std::string device = "auto";  // cpu | cuda | auto (cuda when a CUDA device answers)
    int64_t gpu = 0;              // the CUDA device index
  } engine;
};

struct AuditConfig {
  // The live segment, e.g. /var/lib/airlock/audit/audit.jsonl. Sealed segments
  // (audit.000000.jsonl, ...) and the signed checkpoints (audit.checkpoints.jsonl) lie next to
  // it; see gateway/audit/checkpoint.h for the layout.
  std::string path;
  // record: fsync after each record; batch: after each group-committed batch; interval: write
  // and fsync what has queued up once every fsync_interval; never: leave it to the OS (Flush()
  // and checkpoints still sync). See AuditLog for what each can lose in a crash.
  enum class Fsync { kEveryRecord, kBatch, kInterval, kNever } fsync = Fsync::kInterval;
  std::chrono::milliseconds fsync_interval{10};
  std::string hmac_key_file;  // empty: a random key per process (digests not comparable
                              // across restarts)
  // Ed25519 private key (PEM, from `airlock audit keygen`) that signs checkpoints. Empty: a
  // new key per process, its public half written next to the log as STEM.key-ID.pub (fine for
  // tests; an auditor should not trust a key that lies next to the log it vouches for).
  std::string signing_key_file;
  // The live segment is sealed and a new one begun before a record would take it past
  // segment_max_bytes, or when a record comes after it has been open segment_max_age
  // (0: no age limit).
  uint64_t segment_max_bytes = uint64_t{256} << 20;
  std::chrono::seconds segment_max_age{86400};
  // A signed checkpoint after every checkpoint_every_records records, or checkpoint_interval
  // after the first record it has not covered, whichever comes first; also at each rotation,
  // on open after a crash and on close.
  uint64_t checkpoint_every_records = 10000;
  std::chrono::milliseconds checkpoint_interval{10000};
};

struct ModelStageConfig {
  std::string target;
  std::chrono::milliseconds timeout{2000};
  bool fail_closed = true;
  bool keep_prefill = true;
  std::vector<classifier::ModelQuestion> questions;  // empty: the defaults
  std::string heads_file;  // the heads method (classifier/heads.h) instead of questions
};

struct LimitsConfig {
  int max_message_bytes = 4 << 20;
  int max_concurrent_streams = 100;
  int max_in_flight = 256;
};

struct Config {
  std::string path;  // the file this was loaded from
  std::string listen = "127.0.0.1:50051";
  std::optional<TlsConfig> tls;
  std::vector<PrincipalConfig> principals;
  std::vector<TargetConfig> targets;
  std::vector<std::string> egress_allowlist;
  std::string policy_path;  // absolute, or relative to the working directory after load
  std::chrono::milliseconds policy_watch{500};  // debounce of the file watch; 0: no watch
  AuditConfig audit;
  LimitsConfig limits;
  std::string metrics_listen;      // empty: no metrics endpoint
  std::string log_level = "info";  // debug, info, warn or error
  std::chrono::milliseconds shutdown_grace{10000};
  int workers = 2;
  std::optional<ModelStageConfig> model_stage;
};

// Parses YAML text; relative file paths are resolved against base_dir (kept relative when
// base_dir is empty). Files named by the config (policy, TLS files, ca_file, api_key_file,
// hmac_key_file) must be readable; api_key_env must name a set, non-empty variable. Errors are
// INVALID_ARGUMENT with a message "FILE:LINE:COLUMN: KEY.PATH: what is wrong" (YAML syntax
// errors: "FILE:LINE:COLUMN: syntax error: ..."). `filename` is used in messages and as
// Config::path.
absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& filename,
                                   const std::string& base_dir);
// Reads and parses the file; relative paths in it are resolved against its folder.
absl::StatusOr<Config> LoadConfig(const std::string& path);

}  // namespace airlock::gateway
