// Pipeline: the request path of DESIGN.md, independent of gRPC.
//
//   authenticate ─▶ assess ─▶ decide ─▶ transform ─▶ dispatch ─▶ restore ─▶ audit
//   (auth.h)        Prepare() ──────────────────────▶ dispatcher.h  AnswerRestorer  Exchange
//
// Server (server.h) owns the long-lived parts (Services) and drives one Exchange per call.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "airlock/v1/admin.pb.h"
#include "airlock/v1/gateway.pb.h"
#include "classifier/classifier.h"
#include "classifier/model_stage.h"
#include "gateway/audit/audit_log.h"
#include "gateway/auth.h"
#include "gateway/config.h"
#include "gateway/dispatcher.h"
#include "gateway/metrics.h"
#include "router/policy.h"

namespace airlock::gateway {

// The active policy, swapped atomically on reload. Readers get a consistent snapshot.
class PolicyStore {
 public:
  PolicyStore(std::string path, std::set<std::string> known_targets)
      : path_(std::move(path)), known_targets_(std::move(known_targets)) {}

  // Loads the file; on error the current policy (if any) stays active.
  // Returns true when the content hash changed.
  absl::StatusOr<bool> Reload();
  std::shared_ptr<const router::Policy> current() const { return current_.load(); }
  const std::string& path() const { return path_; }

  // The outcome of the last Reload (the first load included).
  struct LastReload {
    std::chrono::system_clock::time_point when;  // epoch: none yet
    std::string error;                           // empty: it succeeded
  };
  LastReload last_reload() const;

 private:
  const std::string path_;
  const std::set<std::string> known_targets_;
  mutable std::mutex reload_mu_;  // one reload at a time; guards last_
  LastReload last_;
  std::atomic<std::shared_ptr<const router::Policy>> current_;
};

// The long-lived parts every request uses; owned by Server, outlive every Exchange.
struct Services {
  const Config* config = nullptr;
  const Authenticator* auth = nullptr;
  PolicyStore* policies = nullptr;  // the active policy carries the classifier
  TargetRegistry* targets = nullptr;
  AuditLog* audit = nullptr;
  Metrics* metrics = nullptr;
  // The classifier's model stage (config classifier.model); null without one.
  const classifier::ModelStage* model_stage = nullptr;
};

// Checks the request's shape. INVALID_ARGUMENT naming the field ("messages[2].role: ...").
absl::Status ValidateRequest(const v1::ChatRequest& request);

// The result of assess → decide → transform.
struct Prepared {
  classifier::Assessment assessment;
  std::shared_ptr<const router::Policy> policy;
  router::RequestFacts facts;  // who asks and what the request carries, for the rules
  router::Decision decision;
  v1::ChatRequest transformed;     // what may leave, after the transform
  router::TransformResult result;  // remaining level and the pseudonym map
};

// One request's life: timings, decision, outcome; writes exactly one audit record.
// Thread-safe: methods may be called from gRPC and dispatch threads, one at a time.
class Exchange {
 public:
  Exchange(const Services& services, std::string method);
  ~Exchange();  // audits as "error" if Finish was never called

  const std::string& request_id() const { return request_id_; }
  const Services& services() const { return services_; }

  void SetPrincipal(const Principal& principal) { principal_ = principal; }
  // Validates, assesses, decides and transforms, timing each stage, and passes the result to
  // `next`: at once on this thread, or — with the classifier's model stage
  // (Services::model_stage) — from the engine's thread once the model has answered or failed
  // (within min(deadline, classifier.model.timeout_ms); its failure fails closed or open as
  // configured, and the audit record says which). The exchange must outlive `next`.
  void Prepare(const v1::ChatRequest& request, Clock::time_point deadline,
               std::function<void(absl::StatusOr<Prepared>)> next);

  // Fills RouteInfo from the decision and the dispatch trace.
  void FillRoute(const RouteTrace* trace, v1::RouteInfo* out) const;
  void SetUsage(uint32_t prompt_tokens, uint32_t completion_tokens);
  // Placeholders the answer returned altered (AnswerRestorer::mangled()), for the record.
  void SetMangledPlaceholders(size_t count);
  void MarkDispatched(const RouteTrace& trace);

  // Records the outcome once: metrics and the audit record. Later calls are ignored.
  void Finish(const absl::Status& status, std::string_view outcome = {});

 private:
  void Stage(const char* name, Clock::time_point begin);            // mu_ held
  absl::StatusOr<Prepared> Assess(const v1::ChatRequest& request);  // validate, detectors
  void Decide(const v1::ChatRequest& request, Prepared* prepared);  // decide, transform

  const Services& services_;
  const std::string method_;
  const std::string request_id_;
  const Clock::time_point start_;
  std::mutex mu_;
  Principal principal_;
  bool finished_ = false;
  // From Prepare.
  std::string policy_hash_, rule_id_, level_ = "public", transform_ = "none", content_hmac_;
  std::string model_;  // the model stage's outcome; empty: none ran
  std::map<std::string, int> categories_;
  float difficulty_ = 0;
  // From dispatch.
  RouteTrace trace_;
  Clock::time_point dispatch_start_{};
  uint32_t prompt_tokens_ = 0, completion_tokens_ = 0;
  uint32_t mangled_placeholders_ = 0;
  std::map<std::string, double> stage_ms_;
};

// Restores pseudonyms in an answer that arrives as deltas: content and each tool call's
// arguments keep their own StreamRestorer, so a placeholder split across chunks comes back
// whole. With an empty map it passes deltas through unchanged.
class AnswerRestorer {
 public:
  explicit AnswerRestorer(const router::PseudonymMap* map) : map_(map) {}
  // The restored delta (content and arguments may lag by a partial placeholder).
  v1::ChatStreamResponse Push(const v1::ChatStreamResponse& delta);
  // What was held back; empty fields when nothing was.
  v1::ChatStreamResponse Finish();
  // Mangled placeholders (router/transform.h) seen so far in content, tool-call names and
  // arguments; complete after Finish. A count only: fit for logs and metrics.
  size_t mangled() const;

 private:
  const router::PseudonymMap* map_;
  router::StreamRestorer content_{map_};
  std::map<uint32_t, router::StreamRestorer> arguments_;
  size_t mangled_names_ = 0;
};

// Merges deltas into a complete unary answer.
void AppendDelta(const v1::ChatStreamResponse& delta, v1::ChatResponse* answer);

// Appends `next` to `into`, a delta not yet sent, so that one message carries both: the answer
// that AppendDelta assembles is the same. False (and nothing changed) when `next` carries the
// route (it must stay the stream's first message) or `into` is already the last message.
bool MergeDelta(v1::ChatStreamResponse* into, const v1::ChatStreamResponse& next);

// Maps an absl status to the audit outcome word: ok, denied, cancelled, deadline_exceeded,
// rejected (resource exhausted), invalid, unauthenticated, error.
std::string_view OutcomeOf(const absl::Status& status);

}  // namespace airlock::gateway
