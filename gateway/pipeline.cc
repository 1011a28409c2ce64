#include "gateway/pipeline.h"

#include <openssl/rand.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "nlohmann/json.hpp"

namespace airlock::gateway {
namespace {

std::string NewRequestId() {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof(bytes));
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string DeterministicBytes(const v1::ChatRequest& request) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  request.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// "NAME: CODE: upstream message" -> "NAME: CODE"; gateway-made reasons stay whole.
std::string AuditFallback(const std::string& fallback) {
  size_t name_end = fallback.find(": ");
  if (name_end == std::string::npos) return fallback;
  size_t code_end = fallback.find(": ", name_end + 2);
  if (code_end == std::string::npos) return fallback;
  std::string_view code(fallback.data() + name_end + 2, code_end - name_end - 2);
  bool is_code = !code.empty();
  for (char c : code)
    is_code = is_code && (std::isupper(static_cast<unsigned char>(c)) || c == '_');
  return is_code ? fallback.substr(0, code_end) : fallback;
}

bool ValidToolName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<bool> PolicyStore::Reload() {
  std::lock_guard<std::mutex> lock(reload_mu_);
  auto loaded = router::LoadPolicy(path_, known_targets_);
  last_.when = std::chrono::system_clock::now();
  last_.error = loaded.ok() ? "" : std::string(loaded.status().message());
  if (!loaded.ok()) return loaded.status();
  auto old = current_.load();
  bool changed = !old || old->hash != (*loaded)->hash;
  if (changed) current_.store(*loaded);
  return changed;
}

PolicyStore::LastReload PolicyStore::last_reload() const {
  std::lock_guard<std::mutex> lock(reload_mu_);
  return last_;
}

absl::Status ValidateRequest(const v1::ChatRequest& request) {
  if (request.messages().empty()) {
    return absl::InvalidArgumentError("messages: at least one message is required");
  }
  for (int i = 0; i < request.messages_size(); ++i) {
    const v1::Message& m = request.messages(i);
    std::string where = absl::StrCat("messages[", i, "]");
    if (m.role() == v1::Message::ROLE_UNSPECIFIED || !v1::Message::Role_IsValid(m.role())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".role: must be SYSTEM, USER, ASSISTANT or TOOL"));
    }
    if (m.role() == v1::Message::TOOL && m.tool_call_id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".tool_call_id: required for a TOOL message"));
    }
    if (m.role() != v1::Message::ASSISTANT && m.tool_calls_size() > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".tool_calls: only ASSISTANT messages carry tool calls"));
    }
    for (int j = 0; j < m.tool_calls_size(); ++j) {
      if (!ValidToolName(m.tool_calls(j).name())) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".tool_calls[", j, "].name: 1 to 64 characters of [A-Za-z0-9_-] expected"));
      }
    }
  }
  for (int i = 0; i < request.tools_size(); ++i) {
    const v1::Tool& t = request.tools(i);
    if (!ValidToolName(t.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("tools[", i, "].name: 1 to 64 characters of [A-Za-z0-9_-] expected"));
    }
    if (!t.parameters().empty()) {
      auto schema = nlohmann::json::parse(t.parameters(), nullptr, /*allow_exceptions=*/false);
      if (schema.is_discarded() || !schema.is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat("tools[", i, "].parameters: a JSON object (JSON schema) expected"));
      }
    }
  }
  const v1::Sampling& s = request.sampling();
  if (s.has_temperature() && !(s.temperature() >= 0 && s.temperature() <= 2)) {
    return absl::InvalidArgumentError("sampling.temperature: must be in [0, 2]");
  }
  if (s.has_top_p() && !(s.top_p() > 0 && s.top_p() <= 1)) {
    return absl::InvalidArgumentError("sampling.top_p: must be in (0, 1]");
  }
  if (s.stop_size() > 4) {
    return absl::InvalidArgumentError("sampling.stop: at most 4 stop strings");
  }
  return absl::OkStatus();
}

Exchange::Exchange(const Services& services, std::string method)
    : services_(services),
      method_(std::move(method)),
      request_id_(NewRequestId()),
      start_(Clock::now()) {}

Exchange::~Exchange() { Finish(absl::InternalError("request ended without an outcome")); }

void Exchange::Stage(const char* name, Clock::time_point begin) {
  double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  stage_ms_[name] = seconds * 1e3;
  if (services_.metrics) services_.metrics->ObserveStage(name, seconds);
}

void Exchange::Prepare(const v1::ChatRequest& request, Clock::time_point deadline,
                       std::function<void(absl::StatusOr<Prepared>)> next) {
  absl::StatusOr<Prepared> p = Assess(request);
  const classifier::ModelStage* stage = services_.model_stage;
  if (!p.ok() || stage == nullptr) {
    if (p.ok()) Decide(request, &*p);
    return next(std::move(p));
  }
  // The model stage, within its time budget; the rest continues on the engine's thread.
  const ModelStageConfig& mc = *services_.config->model_stage;
  auto held = std::make_shared<std::pair<v1::ChatRequest, Prepared>>(request, *std::move(p));
  const Clock::time_point t = Clock::now();
  const bool generates = method_ == "Chat" || method_ == "ChatStream";
  stage->Assess(request, std::min(deadline, t + mc.timeout), generates,
                [this, held, t, fail_closed = mc.fail_closed,
                 next = std::move(next)](absl::StatusOr<classifier::ModelVerdict> verdict) {
                  {
                    std::lock_guard<std::mutex> lock(mu_);
                    Stage("model", t);
                  }
                  Prepared& p = held->second;
                  classifier::MergeModelVerdict(verdict, *p.policy->classifier, fail_closed,
                                                &p.assessment);
                  Decide(held->first, &held->second);
                  next(std::move(held->second));
                });
}

absl::StatusOr<Prepared> Exchange::Assess(const v1::ChatRequest& request) {
  if (absl::Status valid = ValidateRequest(request); !valid.ok()) return valid;
  std::lock_guard<std::mutex> lock(mu_);
  Prepared p;
  content_hmac_ = services_.audit->ContentHmac(DeterministicBytes(request));

  // One snapshot of the policy for assess and decide: its detectors and its rules go together.
  p.policy = services_.policies->current();
  if (p.policy == nullptr || p.policy->classifier == nullptr) {  // fail closed
    return absl::FailedPreconditionError("no active policy with detectors to assess the request");
  }
  auto t = Clock::now();
  p.assessment = p.policy->classifier->Assess(request);
  Stage("assess", t);
  return p;
}

void Exchange::Decide(const v1::ChatRequest& request, Prepared* prepared) {
  std::lock_guard<std::mutex> lock(mu_);
  Prepared& p = *prepared;
  level_ = std::string(classifier::LevelName(p.assessment.level));
  model_ = p.assessment.model.outcome;
  difficulty_ = p.assessment.difficulty;
  for (const auto& f : p.assessment.findings) ++categories_[f.category];
  for (const auto& c : p.assessment.model.categories) ++categories_[c.category];

  auto t = Clock::now();
  p.facts =
      router::RequestFactsOf(request, principal_.tenant, principal_.subject, principal_.labels);
  p.decision = router::Decide(*p.policy, p.assessment, p.facts);
  Stage("decide", t);
  policy_hash_ = p.policy->hash;
  rule_id_ = p.decision.rule_id;
  transform_ = std::string(router::TransformName(p.decision.transform));

  // The transform rewrites only the findings above the lowest clearance among the targets the
  // decision may use, so every one of them is cleared for what passes unchanged; a target
  // unknown to the config counts as public (the dispatcher refuses it anyway).
  std::optional<classifier::Level> clearance;
  for (const std::string& name : p.decision.targets) {
    classifier::Level c = classifier::Level::kPublic;
    if (services_.config != nullptr) {
      for (const TargetConfig& tc : services_.config->targets) {
        if (tc.name == name) c = tc.clearance;
      }
    }
    clearance = clearance ? std::min(*clearance, c) : c;
  }
  t = Clock::now();
  p.transformed = request;
  p.result = router::ApplyTransform(p.decision.transform, p.assessment,
                                    clearance.value_or(classifier::Level::kPublic), &p.transformed);
  Stage("transform", t);
}

void Exchange::FillRoute(const RouteTrace* trace, v1::RouteInfo* out) const {
  out->set_request_id(request_id_);
  out->set_policy_hash(policy_hash_);
  out->set_rule_id(rule_id_);
  out->set_level(level_);
  out->set_transform(transform_);
  if (trace) {
    out->set_target(trace->target);
    out->mutable_fallbacks()->Assign(trace->fallbacks.begin(), trace->fallbacks.end());
  }
}

void Exchange::MarkDispatched(const RouteTrace& trace) {
  std::lock_guard<std::mutex> lock(mu_);
  trace_ = trace;
}

void Exchange::SetUsage(uint32_t prompt_tokens, uint32_t completion_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ = prompt_tokens;
  completion_tokens_ = completion_tokens;
}

void Exchange::SetMangledPlaceholders(size_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  mangled_placeholders_ =
      static_cast<uint32_t>(std::min<size_t>(count, std::numeric_limits<uint32_t>::max()));
}

std::string_view OutcomeOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return "ok";
    case absl::StatusCode::kPermissionDenied:
      return "denied";
    case absl::StatusCode::kCancelled:
      return "cancelled";
    case absl::StatusCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case absl::StatusCode::kResourceExhausted:
      return "rejected";
    case absl::StatusCode::kInvalidArgument:
      return "invalid";
    case absl::StatusCode::kUnauthenticated:
      return "unauthenticated";
    default:
      return "error";
  }
}

void Exchange::Finish(const absl::Status& status, std::string_view outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  double total = std::chrono::duration<double>(Clock::now() - start_).count();
  std::string outcome_word(outcome.empty() ? OutcomeOf(status) : outcome);

  AuditRecord r;
  r.request_id = request_id_;
  r.tenant = principal_.tenant;
  r.subject = principal_.subject;
  r.method = method_;
  r.policy_hash = policy_hash_;
  r.rule_id = rule_id_;
  r.level = level_;
  r.model = model_;
  r.categories = categories_;
  r.difficulty = difficulty_;
  r.target = trace_.target;
  r.transform = transform_;
  // An upstream's error message may echo prompt text: the record keeps "NAME: CODE" only.
  for (const std::string& f : trace_.fallbacks) r.fallbacks.push_back(AuditFallback(f));
  r.outcome = outcome_word;
  r.status_code = absl::StatusCodeToString(status.code());
  r.prompt_tokens = prompt_tokens_;
  r.completion_tokens = completion_tokens_;
  r.mangled_placeholders = mangled_placeholders_;
  r.stage_ms = stage_ms_;
  r.total_ms = total * 1e3;
  r.content_hmac = content_hmac_;
  services_.audit->Append(std::move(r));

  if (services_.metrics) {
    services_.metrics->ObserveRequest(total);
    services_.metrics->RequestDone(trace_.target, rule_id_, outcome_word);
  }
}

v1::ChatStreamResponse AnswerRestorer::Push(const v1::ChatStreamResponse& delta) {
  if (map_ == nullptr || map_->empty()) return delta;
  v1::ChatStreamResponse out = delta;
  out.set_content_delta(content_.Push(delta.content_delta()));
  for (auto& call : *out.mutable_tool_calls()) {
    auto it = arguments_.try_emplace(call.index(), map_).first;
    call.set_arguments(it->second.Push(call.arguments()));
    router::MangledReport mangled;
    call.set_name(router::Restore(*map_, call.name(), &mangled));
    mangled_names_ += mangled.count;
  }
  return out;
}

size_t AnswerRestorer::mangled() const {
  size_t n = content_.mangled().count + mangled_names_;
  for (const auto& [index, restorer] : arguments_) n += restorer.mangled().count;
  return n;
}

v1::ChatStreamResponse AnswerRestorer::Finish() {
  v1::ChatStreamResponse out;
  if (map_ == nullptr || map_->empty()) return out;
  out.set_content_delta(content_.Finish());
  for (auto& [index, restorer] : arguments_) {
    std::string rest = restorer.Finish();
    if (rest.empty()) continue;
    auto* call = out.add_tool_calls();
    call->set_index(index);
    call->set_arguments(std::move(rest));
  }
  return out;
}

void AppendDelta(const v1::ChatStreamResponse& delta, v1::ChatResponse* answer) {
  answer->mutable_content()->append(delta.content_delta());
  for (const auto& d : delta.tool_calls()) {
    while (answer->tool_calls_size() <= static_cast<int>(d.index())) answer->add_tool_calls();
    v1::ToolCall* call = answer->mutable_tool_calls(static_cast<int>(d.index()));
    if (!d.id().empty()) call->set_id(d.id());
    if (!d.name().empty()) call->set_name(d.name());
    call->mutable_arguments()->append(d.arguments());
  }
  if (!delta.finish_reason().empty()) answer->set_finish_reason(delta.finish_reason());
  if (delta.has_usage()) *answer->mutable_usage() = delta.usage();
}

bool MergeDelta(v1::ChatStreamResponse* into, const v1::ChatStreamResponse& next) {
  if (next.has_route() || !into->finish_reason().empty() || into->has_usage()) return false;
  into->mutable_content_delta()->append(next.content_delta());
  into->mutable_tool_calls()->MergeFrom(next.tool_calls());
  if (!next.finish_reason().empty()) into->set_finish_reason(next.finish_reason());
  if (next.has_usage()) *into->mutable_usage() = next.usage();
  return true;
}

}  // namespace airlock::gateway
