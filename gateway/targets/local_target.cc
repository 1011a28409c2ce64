#include "gateway/targets/local_target.h"

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "engine/chat_template.h"
#include "engine/generate.h"
#include "engine/tool_calls.h"

namespace airlock::gateway {

struct LocalTarget::Job : TargetCall {
  v1::ChatRequest request;
  Clock::time_point deadline;
  bool stream = false;
  std::shared_ptr<ChatSink> sink;
  std::atomic<bool> cancelled{false};
  void Cancel() override { cancelled = true; }
};

namespace {

std::string RoleName(v1::Message::Role r) {
  switch (r) {
    case v1::Message::SYSTEM:
      return "system";
    case v1::Message::ASSISTANT:
      return "assistant";
    case v1::Message::TOOL:
      return "tool";
    default:
      return "user";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalTarget>> LocalTarget::Create(const TargetConfig& config) {
  auto model = engine::Model::Load(config.model);
  if (!model.ok()) return model.status();
  auto tokenizer =
      engine::Tokenizer::Load((std::filesystem::path(config.model) / "tokenizer.json").string());
  if (!tokenizer.ok()) return tokenizer.status();
  return std::unique_ptr<LocalTarget>(
      new LocalTarget(config, *std::move(model), *std::move(tokenizer)));
}

LocalTarget::LocalTarget(TargetConfig config, std::unique_ptr<engine::Model> model,
                         std::unique_ptr<engine::Tokenizer> tokenizer)
    : config_(std::move(config)), model_(std::move(model)), tokenizer_(std::move(tokenizer)) {
  worker_ = std::thread([this] { Loop(); });
}

LocalTarget::~LocalTarget() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& job : queue_) job->cancelled = true;
  }
  wake_.notify_all();
  worker_.join();
}

std::shared_ptr<TargetCall> LocalTarget::Start(const v1::ChatRequest& request,
                                               Clock::time_point deadline, bool stream,
                                               std::shared_ptr<ChatSink> sink) {
  auto job = std::make_shared<Job>();
  job->request = request;
  job->deadline = deadline;
  job->stream = stream;
  job->sink = std::move(sink);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= kMaxQueued || stopping_) {
      job->sink->OnDone(absl::ResourceExhaustedError(absl::StrCat(
          "target '", config_.name, "': ", kMaxQueued, " requests are already waiting")));
      return job;
    }
    queue_.push_back(job);
  }
  wake_.notify_one();
  return job;
}

void LocalTarget::Loop() {
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = queue_.front();
      queue_.pop_front();
    }
    Run(*job);
  }
}

void LocalTarget::Run(Job& job) {
  const std::string who = absl::StrCat("target '", config_.name, "'");
  if (job.cancelled) return job.sink->OnDone(absl::CancelledError(who + ": cancelled"));
  if (Clock::now() >= job.deadline) {
    return job.sink->OnDone(absl::DeadlineExceededError(who + ": deadline passed while queued"));
  }
  const v1::ChatRequest& r = job.request;
  std::vector<engine::ChatMessage> messages;
  for (const v1::Message& m : r.messages()) {
    engine::ChatMessage msg{RoleName(m.role()), m.content(), "", {}};
    for (const v1::ToolCall& c : m.tool_calls())
      msg.tool_calls.push_back({c.name(), c.arguments()});
    messages.push_back(std::move(msg));
  }
  std::vector<engine::ChatTool> tools;
  for (const v1::Tool& t : r.tools()) tools.push_back({t.name(), t.description(), t.parameters()});
  engine::ChatOptions chat;
  chat.enable_thinking = false;
  const std::vector<int32_t> prompt =
      tokenizer_->Encode(engine::RenderNemotron3Chat(messages, tools, chat));
  engine::GenerateOptions o;
  o.max_tokens =
      r.sampling().max_tokens() > 0 ? static_cast<int32_t>(r.sampling().max_tokens()) : 256;
  if (static_cast<int64_t>(prompt.size()) + o.max_tokens > kMaxContext) {
    return job.sink->OnDone(absl::ResourceExhaustedError(
        absl::StrCat(who, ": the prompt (", prompt.size(), " tokens) and max_tokens (",
                     o.max_tokens, ") exceed the context of ", kMaxContext, " tokens")));
  }
  o.sampling.temperature = r.sampling().has_temperature() ? r.sampling().temperature() : 0.6f;
  o.sampling.top_p = r.sampling().has_top_p() ? r.sampling().top_p() : 0.95f;
  o.sampling.seed = r.sampling().has_seed() ? static_cast<uint64_t>(r.sampling().seed()) : 0;
  o.stop.assign(r.sampling().stop().begin(), r.sampling().stop().end());
  o.skip_special = true;
  for (const char* stop : {"<|im_end|>", "</s>"}) {
    if (auto id = tokenizer_->TokenId(stop)) o.stop_ids.push_back(*id);
  }

  engine::SequenceState seq = model_->NewSequence();
  auto logits = model_->Forward(&seq, prompt);
  if (!logits.ok()) {
    return job.sink->OnDone(
        absl::InternalError(absl::StrCat(who, ": ", logits.status().message())));
  }
  engine::ToolCallParser parser(tools);
  v1::ChatStreamResponse whole;  // unary: everything in one delta
  uint32_t calls = 0;
  bool deadline_passed = false;
  auto deliver = [&](const std::vector<engine::ToolCallEvent>& events) {
    for (const engine::ToolCallEvent& e : events) {
      v1::ChatStreamResponse d;
      if (e.kind == engine::ToolCallEvent::Kind::kContent) {
        if (e.content.empty()) continue;
        d.set_content_delta(e.content);
      } else {
        v1::ToolCallDelta* t = d.add_tool_calls();
        t->set_index(calls);
        t->set_id(absl::StrCat("call_", calls++));
        t->set_name(e.call.name);
        t->set_arguments(e.call.arguments);
      }
      if (job.stream) {
        job.sink->OnDelta(d);
      } else {
        whole.mutable_content_delta()->append(d.content_delta());
        for (const auto& t : d.tool_calls()) *whole.add_tool_calls() = t;
      }
    }
  };
  auto result = engine::Generate(*model_, *tokenizer_, &seq, *std::move(logits), o,
                                 [&](std::string_view text) {
                                   if (Clock::now() >= job.deadline) deadline_passed = true;
                                   if (job.cancelled || deadline_passed) return false;
                                   deliver(parser.Push(text));
                                   return true;
                                 });
  if (!result.ok()) {
    return job.sink->OnDone(
        absl::InternalError(absl::StrCat(who, ": ", result.status().message())));
  }
  if (job.cancelled) return job.sink->OnDone(absl::CancelledError(who + ": cancelled"));
  if (deadline_passed) {
    return job.sink->OnDone(
        absl::DeadlineExceededError(who + ": deadline passed while generating"));
  }
  deliver(parser.Finish());
  if (!job.stream) job.sink->OnDelta(whole);
  v1::ChatStreamResponse last;
  last.set_finish_reason(calls > 0 ? "tool_calls" : result->finish_reason);
  last.mutable_usage()->set_prompt_tokens(static_cast<uint32_t>(prompt.size()));
  last.mutable_usage()->set_completion_tokens(static_cast<uint32_t>(result->tokens.size()));
  job.sink->OnDelta(last);
  job.sink->OnDone(absl::OkStatus());
}

}  // namespace airlock::gateway
