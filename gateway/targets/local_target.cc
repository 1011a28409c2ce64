#include "gateway/targets/local_target.h"

#include "kernels/cuda_model.h"

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "classifier/chat_prompt.h"
#include "engine/generate.h"
#include "engine/tool_calls.h"

namespace airlock::gateway {

// One call: what it streams and how it ends, fed by the runtime's thread.
class LocalTarget::Call : public TargetCall {
 public:
  Call(std::string who, bool stream, std::shared_ptr<ChatSink> sink,
       std::vector<engine::ChatTool> tools, size_t prompt_tokens)
      : who_(std::move(who)),
        stream_(stream),
        sink_(std::move(sink)),
        parser_(std::move(tools)),
        prompt_tokens_(prompt_tokens) {}

  void Cancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (handle_ != nullptr) handle_->Cancel();
  }
  void SetHandle(std::shared_ptr<engine::RuntimeCall> handle) {
    std::lock_guard<std::mutex> lock(mu_);
    handle_ = std::move(handle);
    if (cancelled_) handle_->Cancel();
  }

  void OnText(std::string_view text) { Deliver(parser_.Push(text)); }

  void OnDone(absl::StatusOr<engine::GenerateResult> result) {
    if (!result.ok()) {
      return sink_->OnDone(absl::Status(result.status().code(),
                                        absl::StrCat(who_, ": ", result.status().message())));
    }
    Deliver(parser_.Finish());
    if (!stream_) sink_->OnDelta(whole_);
    v1::ChatStreamResponse last;
    last.set_finish_reason(calls_ > 0 ? "tool_calls" : result->finish_reason);
    last.mutable_usage()->set_prompt_tokens(static_cast<uint32_t>(prompt_tokens_));
    last.mutable_usage()->set_completion_tokens(static_cast<uint32_t>(result->tokens.size()));
    sink_->OnDelta(last);
    sink_->OnDone(absl::OkStatus());
  }

  ChatSink& sink() { return *sink_; }

 private:
  void Deliver(const std::vector<engine::ToolCallEvent>& events) {
    for (const engine::ToolCallEvent& e : events) {
      v1::ChatStreamResponse d;
      if (e.kind == engine::ToolCallEvent::Kind::kContent) {
        if (e.content.empty()) continue;
        d.set_content_delta(e.content);
      } else {
        v1::ToolCallDelta* t = d.add_tool_calls();
        t->set_index(calls_);
        t->set_id(absl::StrCat("call_", calls_++));
        t->set_name(e.call.name);
        t->set_arguments(e.call.arguments);
      }
      if (stream_) {
        sink_->OnDelta(d);
      } else {  // unary: everything in one delta
        whole_.mutable_content_delta()->append(d.content_delta());
        for (const auto& t : d.tool_calls()) *whole_.add_tool_calls() = t;
      }
    }
  }

  const std::string who_;
  const bool stream_;
  const std::shared_ptr<ChatSink> sink_;
  engine::ToolCallParser parser_;
  const size_t prompt_tokens_;
  v1::ChatStreamResponse whole_;
  uint32_t calls_ = 0;
  std::mutex mu_;
  bool cancelled_ = false;                       // guarded by mu_
  std::shared_ptr<engine::RuntimeCall> handle_;  // guarded by mu_
};

absl::StatusOr<std::unique_ptr<LocalTarget>> LocalTarget::Create(const TargetConfig& config) {
  auto model =
      kernels::LoadBackend(config.model, config.engine.device,
                           static_cast<size_t>(std::max<int64_t>(0, config.engine.threads)),
                           static_cast<int>(config.engine.gpu));
  if (!model.ok()) return model.status();
  const TargetConfig::Engine& e = config.engine;
  if (absl::Status s =
          (*model)->Reserve(static_cast<size_t>(e.step_tokens), static_cast<size_t>(e.step_tokens),
                            static_cast<uint64_t>(e.state_memory_mb) << 20);
      !s.ok()) {
    return s;
  }
  auto tokenizer =
      engine::Tokenizer::Load((std::filesystem::path(config.model) / "tokenizer.json").string());
  if (!tokenizer.ok()) return tokenizer.status();
  return std::unique_ptr<LocalTarget>(
      new LocalTarget(config, *std::move(model), *std::move(tokenizer)));
}

LocalTarget::LocalTarget(TargetConfig config, std::unique_ptr<engine::Backend> model,
                         std::unique_ptr<engine::Tokenizer> tokenizer)
    : config_(std::move(config)),
      model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      prefills_(static_cast<size_t>(config_.engine.max_sequences), std::chrono::seconds(10)) {
  for (const char* stop : {"<|im_end|>", "</s>"}) {
    if (auto id = tokenizer_->TokenId(stop)) stop_ids_.push_back(*id);
  }
  const TargetConfig::Engine& e = config_.engine;
  runtime_ = std::make_unique<engine::Runtime>(
      *model_, *tokenizer_,
      engine::RuntimeOptions{.max_sequences = static_cast<size_t>(e.max_sequences),
                             .max_queued = static_cast<size_t>(e.max_queued),
                             .max_context = e.max_context,
                             .step_tokens = static_cast<size_t>(e.step_tokens),
                             .memory_bytes = static_cast<uint64_t>(e.state_memory_mb) << 20});
}

LocalTarget::~LocalTarget() = default;

void LocalTarget::FillStatus(v1::TargetStatus* status) const {
  const engine::RuntimeStats s = runtime_->stats();
  v1::EngineStatus* e = status->mutable_engine();
  e->set_backend(model_->Describe());
  e->set_running(static_cast<uint32_t>(s.running));
  e->set_queued(static_cast<uint32_t>(s.queued));
  e->set_state_bytes(s.reserved_bytes);
  e->set_state_budget_bytes(runtime_->options().memory_bytes);
  e->set_steps(s.steps);
  e->set_max_step_requests(static_cast<uint32_t>(s.max_step_sequences));
  const engine::PrefixCache::Stats p = prefills_.stats();
  e->set_prefills_reused(p.hits);
  e->set_prefills_dropped(p.dropped);
}

std::shared_ptr<TargetCall> LocalTarget::Start(const v1::ChatRequest& r, Clock::time_point deadline,
                                               bool stream, std::shared_ptr<ChatSink> sink) {
  classifier::ChatPrompt chat = classifier::ChatPromptOf(r);
  engine::RuntimeRequest req;
  req.prompt = tokenizer_->Encode(classifier::RenderForGeneration(chat));
  req.start = prefills_.Take(req.prompt);
  std::vector<engine::ChatTool>& tools = chat.tools;
  auto call = std::make_shared<Call>(absl::StrCat("target '", config_.name, "'"), stream,
                                     std::move(sink), tools, req.prompt.size());
  engine::GenerateOptions& o = req.options;
  o.max_tokens =
      r.sampling().max_tokens() > 0 ? static_cast<int32_t>(r.sampling().max_tokens()) : 256;
  o.sampling.temperature = r.sampling().has_temperature() ? r.sampling().temperature() : 0.6f;
  o.sampling.top_p = r.sampling().has_top_p() ? r.sampling().top_p() : 0.95f;
  o.sampling.seed = r.sampling().has_seed() ? static_cast<uint64_t>(r.sampling().seed()) : 0;
  o.stop.assign(r.sampling().stop().begin(), r.sampling().stop().end());
  o.skip_special = true;
  o.stop_ids = stop_ids_;
  req.deadline = deadline;
  req.on_text = [call](std::string_view text) {
    call->OnText(text);
    return true;
  };
  req.on_done = [call](absl::StatusOr<engine::GenerateResult> result) {
    call->OnDone(std::move(result));
  };
  absl::StatusOr<std::shared_ptr<engine::RuntimeCall>> handle = runtime_->Submit(std::move(req));
  if (!handle.ok()) {
    call->sink().OnDone(
        absl::Status(handle.status().code(),
                     absl::StrCat("target '", config_.name, "': ", handle.status().message())));
    return call;
  }
  call->SetHandle(*std::move(handle));
  return call;
}

}  // namespace airlock::gateway
