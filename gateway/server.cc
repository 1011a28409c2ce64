#include "gateway/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "airlock/v1/admin.grpc.pb.h"
#include "airlock/v1/gateway.grpc.pb.h"
#include "gateway/log.h"
#include "gateway/pipeline.h"
#include "gateway/policy_watcher.h"
#include "gateway/targets/factory.h"
#include "gateway/targets/local_target.h"

namespace airlock::gateway {

namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The call's deadline on the steady clock; calls without one get an hour.
Clock::time_point DeadlineOf(const grpc::CallbackServerContext* ctx) {
  auto now_sys = std::chrono::system_clock::now();
  auto d = ctx->deadline();
  auto remaining = d - now_sys;
  if (d == std::chrono::system_clock::time_point::max() || remaining > std::chrono::hours(1)) {
    return Clock::now() + std::chrono::hours(1);
  }
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(remaining);
}

}  // namespace

struct Server::Impl {
  Config config;
  std::unique_ptr<Authenticator> auth;
  std::unique_ptr<PolicyStore> policies;
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::vector<std::thread> workers;
  // Before the targets: the model stage runs on a local target's runtime, which must stop
  // (ending the stage's requests) before the stage goes.
  std::unique_ptr<classifier::ModelStage> model_stage;
  std::unique_ptr<TargetRegistry> targets;
  std::unique_ptr<AuditLog> audit;
  Metrics metrics;
  std::unique_ptr<MetricsServer> metrics_server;
  std::unique_ptr<PolicyWatcher> policy_watcher;  // null when config.policy_watch is 0
  // Refreshes the targets' grpc.health.v1 status; on `io`, declared after it.
  std::optional<boost::asio::steady_timer> health_timer;
  std::map<std::string, bool> health_reported;  // target -> serving; touched by the timer only
  Services services;
  std::unique_ptr<grpc::Service> gateway_service;
  std::unique_ptr<grpc::Service> admin_service;
  std::unique_ptr<grpc::Server> grpc_server;
  int port = 0;
  int metrics_port = 0;
  std::atomic<int> in_flight{0};
  Clock::time_point started = Clock::now();
  std::once_flag shutdown_once;

  // Admission: takes an in-flight slot, or fails with RESOURCE_EXHAUSTED at once.
  absl::Status Admit() {
    int now = in_flight.fetch_add(1) + 1;
    if (now > config.limits.max_in_flight) {
      in_flight.fetch_sub(1);
      return absl::ResourceExhaustedError(absl::StrCat(
          "in-flight limit of ", config.limits.max_in_flight, " requests reached; retry later"));
    }
    metrics.InFlightAdd(1);
    return absl::OkStatus();
  }
  void Release() {
    in_flight.fetch_sub(1);
    metrics.InFlightAdd(-1);
  }

  // API key from `x-api-key` (or `authorization: Bearer KEY`), else the client certificate.
  absl::StatusOr<Principal> Authenticate(const grpc::CallbackServerContext* ctx) const {
    const auto& md = ctx->client_metadata();
    if (auto it = md.find("x-api-key"); it != md.end()) {
      return auth->AuthenticateApiKey(std::string_view(it->second.data(), it->second.size()));
    }
    if (auto it = md.find("authorization"); it != md.end()) {
      std::string_view v(it->second.data(), it->second.size());
      constexpr std::string_view kBearer = "Bearer ";
      if (v.substr(0, kBearer.size()) == kBearer) {
        return auth->AuthenticateApiKey(v.substr(kBearer.size()));
      }
    }
    auto peer = ctx->auth_context();
    if (peer && peer->IsPeerAuthenticated()) return auth->AuthenticatePeer(*peer);
    return absl::UnauthenticatedError(
        "no credentials: send an API key in the x-api-key metadata entry or a client "
        "certificate");
  }
};

namespace {

using Impl = Server::Impl;

// Sets each target's grpc.health.v1 status where it changed, then runs again after
// kTargetHealthInterval (until the timer is cancelled). Ejection ends with time and an engine
// can fail at any moment, so health is looked at rather than announced.
void ReportTargetHealth(Impl* impl) {
  grpc::HealthCheckServiceInterface* health = impl->grpc_server->GetHealthCheckService();
  const auto now = Clock::now();
  for (const auto& e : impl->targets->entries()) {
    const std::string& name = e->target->config().name;
    const bool serving = impl->targets->Healthy(*e, now);
    auto [it, added] = impl->health_reported.try_emplace(name, serving);
    if (!added && it->second == serving) continue;
    it->second = serving;
    health->SetServingStatus(TargetHealthService(name), serving);
    if (!added) {
      Log(serving ? LogLevel::kInfo : LogLevel::kWarn, "target_health",
          {{"target", name}, {"serving", serving}});
    }
  }
  impl->health_timer->expires_after(kTargetHealthInterval);
  impl->health_timer->async_wait([impl](boost::system::error_code ec) {
    if (!ec) ReportTargetHealth(impl);
  });
}

// Holds an in-flight slot for the life of a call.
class Admission {
 public:
  explicit Admission(Impl* impl) : impl_(impl) { status_ = impl_->Admit(); }
  ~Admission() {
    if (status_.ok()) impl_->Release();
  }
  const absl::Status& status() const { return status_; }

 private:
  Impl* impl_;
  absl::Status status_;
};

// Runs the steps shared by every Gateway method up to (not including) dispatch: admission,
// authentication, and — for methods that decide — validation, assessment (with the model
// stage, when configured), decision and transform. `next` gets the prepared request or the
// status to return: on this thread, or on the engine's after the model stage. The exchange
// records the outcome and must outlive `next`.
void Begin(Impl* impl, const grpc::CallbackServerContext* ctx, const Admission& admission,
           Exchange& exchange, const v1::ChatRequest& request,
           std::function<void(absl::StatusOr<Prepared>)> next) {
  if (!admission.status().ok()) return next(admission.status());
  auto principal = impl->Authenticate(ctx);
  if (!principal.ok()) return next(principal.status());
  exchange.SetPrincipal(*principal);
  exchange.Prepare(request, DeadlineOf(ctx), std::move(next));
}

// Chat and ChatStream share this: a dispatch whose deltas are restored and handed to the
// reactor through `Emit`, and whose end reaches `Done`.
class ChatCall : public DispatchSink {
 public:
  using Emit = std::function<void(v1::ChatStreamResponse)>;
  using Done = std::function<void(const absl::Status&)>;

  ChatCall(std::shared_ptr<Exchange> exchange, Prepared prepared, Emit emit, Done done)
      : exchange_(std::move(exchange)),
        prepared_(std::move(prepared)),
        restorer_(&prepared_.result.pseudonyms),
        emit_(std::move(emit)),
        done_(std::move(done)) {}

  Exchange& exchange() { return *exchange_; }
  const Prepared& prepared() const { return prepared_; }

  void OnDelta(const v1::ChatStreamResponse& delta, const RouteTrace& route) override {
    v1::ChatStreamResponse out = restorer_.Push(delta);
    // finish_reason and usage travel on the last message, after any held-back text.
    if (!out.finish_reason().empty()) finish_reason_ = out.finish_reason();
    if (out.has_usage()) usage_ = out.usage();
    out.clear_finish_reason();
    out.clear_usage();
    if (!route_sent_) {
      route_sent_ = true;
      exchange_->MarkDispatched(route);
      exchange_->FillRoute(&route, out.mutable_route());
    }
    if (out.content_delta().empty() && out.tool_calls().empty() && !out.has_route()) return;
    emit_(std::move(out));
  }

  void OnDone(const absl::Status& status, const RouteTrace& route) override {
    exchange_->MarkDispatched(route);
    if (status.ok()) {
      v1::ChatStreamResponse last = restorer_.Finish();
      last.set_finish_reason(finish_reason_.empty() ? "stop" : finish_reason_);
      if (usage_) *last.mutable_usage() = *usage_;
      if (!route_sent_) exchange_->FillRoute(&route, last.mutable_route());
      exchange_->SetUsage(usage_ ? usage_->prompt_tokens() : 0,
                          usage_ ? usage_->completion_tokens() : 0);
      exchange_->SetMangledPlaceholders(restorer_.mangled());
      emit_(std::move(last));
    }
    exchange_->Finish(status);
    done_(status);
  }

 private:
  std::shared_ptr<Exchange> exchange_;
  Prepared prepared_;
  AnswerRestorer restorer_;
  Emit emit_;
  Done done_;
  bool route_sent_ = false;
  std::string finish_reason_;
  std::optional<v1::Usage> usage_;
};

// Cancellation plumbing shared by both chat reactors: OnCancel may come before, during or
// after dispatch starts.
class Cancellable {
 public:
  void SetCall(std::shared_ptr<TargetCall> call) {
    bool cancel;
    {
      std::lock_guard<std::mutex> lock(mu_);
      call_ = call;
      cancel = cancelled_;
    }
    if (cancel) call->Cancel();
  }
  void CancelCall() {
    std::shared_ptr<TargetCall> call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      call = call_;
    }
    if (call) call->Cancel();
  }

 private:
  std::mutex mu_;
  bool cancelled_ = false;
  std::shared_ptr<TargetCall> call_;
};

absl::Status DeniedStatus(const router::Decision& d) {
  return absl::PermissionDeniedError(
      absl::StrCat("denied by policy rule '", d.rule_id, "': ", d.deny_message));
}

// Chat and ChatStream differ only in how deltas reach the client (`emit`), how the call ends
// (`done`) and whether the target is asked to stream (`stream`): admission, authentication,
// preparation, denial and dispatch are shared. A call refused before dispatch is audited and ended
// through `done`.
void StartChat(Impl* impl, const grpc::CallbackServerContext* ctx, const Admission& admission,
               const char* method, bool stream, const v1::ChatRequest& request, ChatCall::Emit emit,
               ChatCall::Done done, Cancellable* cancel) {
  auto exchange = std::make_shared<Exchange>(impl->services, method);
  const Clock::time_point deadline = DeadlineOf(ctx);
  Begin(impl, ctx, admission, *exchange, request,
        [impl, deadline, stream, cancel, exchange, emit = std::move(emit),
         done = std::move(done)](absl::StatusOr<Prepared> prepared) mutable {
          absl::Status refused = !prepared.ok()            ? prepared.status()
                                 : prepared->decision.deny ? DeniedStatus(prepared->decision)
                                                           : absl::OkStatus();
          if (!refused.ok()) {
            exchange->Finish(refused);
            done(refused);
            return;
          }
          auto call = std::make_shared<ChatCall>(std::move(exchange), std::move(*prepared),
                                                 std::move(emit), std::move(done));
          const Prepared& p = call->prepared();
          cancel->SetCall(Dispatch(*impl->targets, p.transformed, p.result.remaining_level,
                                   p.decision.targets, deadline, stream, call, &impl->metrics));
        });
}

// Reactors may call Finish in their constructor: gRPC holds such operations until the
// handler has returned the reactor, and calls OnDone (which deletes it) only after that.
class ChatReactor final : public grpc::ServerUnaryReactor {
 public:
  ChatReactor(Impl* impl, grpc::CallbackServerContext* ctx, const v1::ChatRequest* request,
              v1::ChatResponse* response)
      : admission_(impl), response_(response) {
    StartChat(
        impl, ctx, admission_, "Chat", /*stream=*/false, *request,
        [this](v1::ChatStreamResponse d) {
          if (d.has_route()) *response_->mutable_route() = d.route();
          AppendDelta(d, response_);
        },
        [this](const absl::Status& s) { Finish(ToGrpc(s)); }, &cancel_);
  }

  void OnCancel() override { cancel_.CancelCall(); }
  void OnDone() override { delete this; }

 private:
  Admission admission_;
  v1::ChatResponse* response_;
  Cancellable cancel_;
};

class ChatStreamReactor final : public grpc::ServerWriteReactor<v1::ChatStreamResponse> {
 public:
  ChatStreamReactor(Impl* impl, grpc::CallbackServerContext* ctx, const v1::ChatRequest* request)
      : admission_(impl) {
    StartChat(
        impl, ctx, admission_, "ChatStream", /*stream=*/true, *request,
        [this](v1::ChatStreamResponse d) { Enqueue(std::move(d)); },
        [this](const absl::Status& s) { FinishWhenWritten(ToGrpc(s)); }, &cancel_);
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.pop_front();
      if (!ok) {
        // The client is gone; the call is being cancelled. Drop what is left.
        queue_.clear();
        write_failed_ = true;
      }
      if (!queue_.empty()) {
        StartWrite(&queue_.front());
      } else {
        writing_ = false;
        finish = std::move(final_);
      }
    }
    if (finish) Finish(*finish);
  }
  void OnCancel() override { cancel_.CancelCall(); }
  void OnDone() override { delete this; }

 private:
  // One write at a time; what arrives meanwhile waits, merged into one message (a client or a
  // network slower than the upstream gets fewer, larger deltas instead of a growing queue).
  void Enqueue(v1::ChatStreamResponse msg) {
    std::lock_guard<std::mutex> lock(mu_);
    if (write_failed_) return;
    if (queue_.size() >= 2 && MergeDelta(&queue_.back(), msg)) return;  // front: being written
    queue_.push_back(std::move(msg));
    if (!writing_) {
      writing_ = true;
      StartWrite(&queue_.front());
    }
  }
  void FinishWhenWritten(grpc::Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (writing_) {
        final_ = std::move(status);
        return;
      }
    }
    Finish(status);
  }

  Admission admission_;
  Cancellable cancel_;
  std::mutex mu_;
  std::deque<v1::ChatStreamResponse> queue_;  // front is being written
  bool writing_ = false;
  bool write_failed_ = false;
  std::optional<grpc::Status> final_;
};

class GatewayService final : public v1::Gateway::CallbackService {
 public:
  explicit GatewayService(Impl* impl) : impl_(impl) {}

  grpc::ServerUnaryReactor* Chat(grpc::CallbackServerContext* ctx, const v1::ChatRequest* request,
                                 v1::ChatResponse* response) override {
    return new ChatReactor(impl_, ctx, request, response);
  }

  grpc::ServerWriteReactor<v1::ChatStreamResponse>* ChatStream(
      grpc::CallbackServerContext* ctx, const v1::ChatRequest* request) override {
    return new ChatStreamReactor(impl_, ctx, request);
  }

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* ctx,
                                     const v1::ChatRequest* request,
                                     v1::ClassifyResponse* response) override {
    auto call = std::make_shared<UnaryCall>(impl_, "Classify");
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    Begin(impl_, ctx, call->admission, call->exchange, *request,
          [call, reactor, response](absl::StatusOr<Prepared> prepared) {
            if (prepared.ok()) {
              classifier::ToProto(prepared->assessment, response->mutable_assessment());
              response->set_request_id(call->exchange.request_id());
            }
            Respond(reactor, call->exchange, prepared.status());
          });
    return reactor;
  }

  grpc::ServerUnaryReactor* Route(grpc::CallbackServerContext* ctx, const v1::ChatRequest* request,
                                  v1::RouteResponse* response) override {
    auto call = std::make_shared<UnaryCall>(impl_, "Route");
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    Begin(impl_, ctx, call->admission, call->exchange, *request,
          [this, call, reactor, response](absl::StatusOr<Prepared> prepared) {
            if (prepared.ok()) Explain(*prepared, call->exchange, response);
            Respond(reactor, call->exchange, prepared.status(), "dry_run");
          });
    return reactor;
  }

 private:
  // A unary call's in-flight slot and exchange, kept until it responds.
  struct UnaryCall {
    UnaryCall(Impl* impl, const char* method) : admission(impl), exchange(impl->services, method) {}
    Admission admission;
    Exchange exchange;
  };

  // Route's answer: the decision, where it would go, and why.
  void Explain(const Prepared& prepared, Exchange& exchange, v1::RouteResponse* response) const {
    const router::Decision& d = prepared.decision;
    classifier::ToProto(prepared.assessment, response->mutable_assessment());
    RouteTrace trace;
    if (!d.deny) {
      size_t next = 0;
      if (auto* entry = SelectTarget(*impl_->targets, prepared.result.remaining_level, d.targets,
                                     &next, &trace)) {
        trace.target = entry->target->config().name;
      }
    }
    exchange.MarkDispatched(trace);
    exchange.FillRoute(&trace, response->mutable_route());
    response->set_denied(d.deny);
    response->set_denial(d.deny_message);
    // The same policy snapshot and assessment give the same decision, now with its reasons.
    std::string explanation =
        router::Explain(*prepared.policy, prepared.assessment, prepared.facts).explanation;
    if (!d.deny && trace.target.empty()) {
      absl::StrAppend(&explanation, "\nno target is cleared for ",
                      std::string(classifier::LevelName(prepared.result.remaining_level)),
                      " content: a real request would be refused");
    }
    response->set_explanation(explanation);
  }

  static void Respond(grpc::ServerUnaryReactor* reactor, Exchange& exchange,
                      const absl::Status& status, std::string_view ok_outcome = {}) {
    exchange.Finish(status, status.ok() ? ok_outcome : std::string_view());
    reactor->Finish(ToGrpc(status));
  }

  Impl* impl_;
};

class AdminService final : public v1::Admin::CallbackService {
 public:
  explicit AdminService(Server* server, Impl* impl) : server_(server), impl_(impl) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const v1::StatusRequest*,
                                   v1::StatusResponse* response) override {
    absl::Status s = Authorize(ctx);
    if (s.ok()) {
      auto now = Clock::now();
      for (const auto& e : impl_->targets->entries()) {
        auto* t = response->add_targets();
        const TargetConfig& c = e->target->config();
        t->set_name(c.name);
        t->set_kind(c.kind);
        t->set_clearance(std::string(classifier::LevelName(c.clearance)));
        t->set_healthy(impl_->targets->Healthy(*e, now));
        t->set_consecutive_failures(e->consecutive_failures.load());
        e->target->FillStatus(t);
      }
      auto policy = impl_->policies->current();
      response->set_policy_hash(policy->hash);
      response->set_policy_path(policy->path);
      response->set_uptime_seconds(
          std::chrono::duration_cast<std::chrono::seconds>(now - impl_->started).count());
      response->set_in_flight(impl_->in_flight.load());
      response->set_version(AIRLOCK_VERSION);
      const PolicyStore::LastReload last = impl_->policies->last_reload();
      response->set_last_reload_error(last.error);
      response->set_last_reload_unix_ms(
          std::chrono::duration_cast<std::chrono::milliseconds>(last.when.time_since_epoch())
              .count());
    }
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(ToGrpc(s));
    return reactor;
  }

  grpc::ServerUnaryReactor* ReloadPolicy(grpc::CallbackServerContext* ctx,
                                         const v1::ReloadPolicyRequest*,
                                         v1::ReloadPolicyResponse* response) override {
    absl::Status s = Authorize(ctx);
    if (s.ok()) {
      auto changed = server_->ReloadPolicy();
      if (changed.ok()) {
        response->set_changed(*changed);
        response->set_policy_hash(impl_->policies->current()->hash);
      } else {
        s = changed.status();
      }
    }
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(ToGrpc(s));
    return reactor;
  }

 private:
  absl::Status Authorize(const grpc::CallbackServerContext* ctx) {
    auto principal = impl_->Authenticate(ctx);
    if (!principal.ok()) return principal.status();
    auto it = principal->labels.find("role");
    if (it == principal->labels.end() || it->second != "admin") {
      return absl::PermissionDeniedError(
          "the Admin service needs a principal with the label role: admin");
    }
    return absl::OkStatus();
  }

  Server* server_;
  Impl* impl_;
};

}  // namespace

std::string TargetHealthService(std::string_view target) {
  return absl::StrCat("targets/", absl::string_view(target.data(), target.size()));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Server>> Server::Create(Config config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  const Config& c = impl->config;
  impl->auth = std::make_unique<Authenticator>(c.principals);

  std::vector<std::unique_ptr<Target>> targets;
  for (const TargetConfig& tc : c.targets) {
    auto t = MakeTarget(tc, c.egress_allowlist, impl->io);
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(c.path, ": targets: '", tc.name, "': ", t.status().message()));
    }
    targets.push_back(std::move(*t));
  }
  impl->targets = std::make_unique<TargetRegistry>(std::move(targets));
  if (c.model_stage) {  // the config checked that the target exists and is local
    const TargetRegistry::Entry* entry = impl->targets->Find(c.model_stage->target);
    auto* local = entry != nullptr ? dynamic_cast<LocalTarget*>(entry->target.get()) : nullptr;
    if (local == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(c.path, ": classifier.model.target: '",
                                                     c.model_stage->target,
                                                     "' is not a local target"));
    }
    engine::PrefixCache* cache = c.model_stage->keep_prefill ? &local->prefills() : nullptr;
    absl::StatusOr<std::unique_ptr<classifier::ModelStage>> stage;
    if (!c.model_stage->heads_file.empty()) {
      absl::StatusOr<classifier::Heads> heads = classifier::LoadHeads(c.model_stage->heads_file);
      stage = heads.ok() ? classifier::ModelStage::Create(&local->runtime(), cache, *heads)
                         : heads.status();
    } else {
      stage = classifier::ModelStage::Create(&local->runtime(), cache,
                                             c.model_stage->questions.empty()
                                                 ? classifier::DefaultModelQuestions()
                                                 : c.model_stage->questions);
    }
    if (!stage.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(c.path, ": classifier.model: ", stage.status().message()));
    }
    impl->model_stage = *std::move(stage);
  }

  impl->policies = std::make_unique<PolicyStore>(c.policy_path, impl->targets->names());
  if (auto loaded = impl->policies->Reload(); !loaded.ok()) return loaded.status();

  auto audit = AuditLog::Open(c.audit);
  if (!audit.ok()) return audit.status();
  impl->audit = std::move(*audit);

  impl->services =
      Services{&impl->config,     impl->auth.get(), impl->policies.get(),   impl->targets.get(),
               impl->audit.get(), &impl->metrics,   impl->model_stage.get()};
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

absl::Status Server::Start() {
  Impl& impl = *impl_;
  const Config& c = impl.config;
  impl.work.emplace(impl.io.get_executor());
  for (int i = 0; i < std::max(1, c.workers); ++i) {
    impl.workers.emplace_back([&impl] { impl.io.run(); });
  }

  std::shared_ptr<grpc::ServerCredentials> creds;
  if (c.tls) {
    grpc::SslServerCredentialsOptions opts(c.tls->client_ca_file.empty()
                                               ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                               : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    auto cert = ReadFile(c.tls->cert_file);
    auto key = ReadFile(c.tls->key_file);
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    opts.pem_key_cert_pairs.push_back({*key, *cert});
    if (!c.tls->client_ca_file.empty()) {
      auto ca = ReadFile(c.tls->client_ca_file);
      if (!ca.ok()) return ca.status();
      opts.pem_root_certs = *ca;
    }
    creds = grpc::SslServerCredentials(opts);
  } else {
    creds = grpc::InsecureServerCredentials();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(c.listen, creds, &impl.port);
  builder.SetMaxReceiveMessageSize(c.limits.max_message_bytes);
  builder.SetMaxSendMessageSize(c.limits.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, c.limits.max_concurrent_streams);
  impl.gateway_service = std::make_unique<GatewayService>(&impl);
  impl.admin_service = std::make_unique<AdminService>(this, &impl);
  builder.RegisterService(impl.gateway_service.get());
  builder.RegisterService(impl.admin_service.get());
  impl.grpc_server = builder.BuildAndStart();
  if (!impl.grpc_server || impl.port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", c.listen));
  }
  impl.health_timer.emplace(impl.io);
  ReportTargetHealth(&impl);  // then on the workers; io.stop() in Shutdown ends it

  if (!c.metrics_listen.empty()) {
    impl.metrics_server = std::make_unique<MetricsServer>(&impl.metrics);
    auto port = impl.metrics_server->Start(c.metrics_listen);
    if (!port.ok()) return port.status();
    impl.metrics_port = *port;
  }
  if (c.policy_watch.count() > 0) {
    impl.policy_watcher =
        std::make_unique<PolicyWatcher>([&impl] { return impl.policies->current()->files; },
                                        [this] { (void)ReloadPolicy(); }, c.policy_watch);
    impl.policy_watcher->Start();
  }
  return absl::OkStatus();
}

int Server::port() const { return impl_->port; }
int Server::metrics_port() const { return impl_->metrics_port; }

absl::StatusOr<bool> Server::ReloadPolicy() {
  auto changed = impl_->policies->Reload();
  if (!changed.ok()) {
    Log(LogLevel::kError, "policy_reload_refused",
        {{"path", impl_->policies->path()}, {"error", std::string(changed.status().message())}});
  } else {
    Log(LogLevel::kInfo, "policy_reloaded",
        {{"path", impl_->policies->path()},
         {"hash", impl_->policies->current()->hash},
         {"changed", *changed}});
  }
  return changed;
}

void Server::Shutdown() {
  std::call_once(impl_->shutdown_once, [this] {
    Impl& impl = *impl_;
    if (impl.policy_watcher) impl.policy_watcher->Stop();
    if (impl.grpc_server) {
      auto deadline = std::chrono::system_clock::now() + impl.config.shutdown_grace;
      // Every service NOT_SERVING from now on; later refreshes are ignored.
      impl.grpc_server->GetHealthCheckService()->Shutdown();
      impl.grpc_server->Shutdown(deadline);  // in-flight calls finish or are cancelled
      impl.grpc_server->Wait();
    }
    if (impl.metrics_server) impl.metrics_server->Stop();
    impl.work.reset();
    impl.io.stop();
    for (auto& t : impl.workers) t.join();
    impl.workers.clear();
    if (impl.audit) impl.audit->Flush();
  });
}

}  // namespace airlock::gateway
