#include "gateway/targets/openai_target.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gateway/targets/http_client.h"
#include "gateway/targets/sse_parser.h"

namespace airlock::gateway {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;

constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kMaxCompletionBody = 16 << 20;
constexpr size_t kMaxUpstreamMessage = 512;
// How long to wait, after [DONE], for the upstream to end its HTTP response.
constexpr std::chrono::milliseconds kDrainGrace{1000};

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A float as the double with the same shortest decimal form (0.7f → 0.7, not 0.699999988).
double ShortestDouble(float f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", static_cast<double>(f));
  return std::strtod(buf, nullptr);
}

std::string StringField(const json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

uint32_t UintField(const json& object, const char* key, uint32_t fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return fallback;
  int64_t v = it->get<int64_t>();
  return v < 0 ? fallback : static_cast<uint32_t>(std::min<int64_t>(v, UINT32_MAX));
}

absl::StatusOr<json> ParseJson(std::string_view text, std::string_view what) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return absl::InternalError(
        absl::StrCat("the upstream sent malformed JSON in ", Sv(what), ": ", e.what()));
  }
}

const char* RoleName(v1::Message::Role role) {
  switch (role) {
    case v1::Message::SYSTEM:
      return "system";
    case v1::Message::USER:
      return "user";
    case v1::Message::ASSISTANT:
      return "assistant";
    case v1::Message::TOOL:
      return "tool";
    default:
      return nullptr;
  }
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Request body

absl::StatusOr<std::string> BuildChatCompletionsBody(const v1::ChatRequest& request,
                                                     const std::string& model, bool stream) {
  json body = json::object();
  body["model"] = model;
  json messages = json::array();
  for (int i = 0; i < request.messages_size(); ++i) {
    const v1::Message& m = request.messages(i);
    const char* role = RoleName(m.role());
    if (role == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("messages[", i, "].role is unspecified"));
    }
    json msg = {{"role", role}};
    if (m.content().empty() && m.tool_calls_size() > 0) {
      msg["content"] = nullptr;
    } else {
      msg["content"] = m.content();
    }
    if (m.tool_calls_size() > 0) {
      json calls = json::array();
      for (const v1::ToolCall& tc : m.tool_calls()) {
        calls.push_back({{"id", tc.id()},
                         {"type", "function"},
                         {"function",
                          {{"name", tc.name()},
                           {"arguments", tc.arguments().empty() ? "{}" : tc.arguments()}}}});
      }
      msg["tool_calls"] = std::move(calls);
    }
    if (!m.tool_call_id().empty()) msg["tool_call_id"] = m.tool_call_id();
    if (!m.name().empty()) msg["name"] = m.name();
    messages.push_back(std::move(msg));
  }
  body["messages"] = std::move(messages);

  if (request.tools_size() > 0) {
    json tools = json::array();
    for (int i = 0; i < request.tools_size(); ++i) {
      const v1::Tool& t = request.tools(i);
      json parameters = {{"type", "object"}, {"properties", json::object()}};
      if (!t.parameters().empty()) {
        try {
          parameters = json::parse(t.parameters());
        } catch (const json::exception& e) {
          return absl::InvalidArgumentError(
              absl::StrCat("tools[", i, "].parameters is not valid JSON: ", e.what()));
        }
        if (!parameters.is_object()) {
          return absl::InvalidArgumentError(
              absl::StrCat("tools[", i, "].parameters must be a JSON object (a JSON schema)"));
        }
      }
      json function = {{"name", t.name()}, {"parameters", std::move(parameters)}};
      if (!t.description().empty()) function["description"] = t.description();
      tools.push_back({{"type", "function"}, {"function", std::move(function)}});
    }
    body["tools"] = std::move(tools);
  }

  const v1::Sampling& s = request.sampling();
  if (s.max_tokens() > 0) body["max_tokens"] = s.max_tokens();
  if (s.has_temperature()) body["temperature"] = ShortestDouble(s.temperature());
  if (s.has_top_p()) body["top_p"] = ShortestDouble(s.top_p());
  if (s.stop_size() > 0) body["stop"] = std::vector<std::string>(s.stop().begin(), s.stop().end());
  if (s.has_seed()) body["seed"] = s.seed();
  body["stream"] = stream;
  if (stream) body["stream_options"] = {{"include_usage", true}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------------------------
// Upstream errors

absl::StatusCode UpstreamHttpStatusToCode(int http_status) {
  switch (http_status) {
    case 400:
    case 413:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
    case 403:
      return absl::StatusCode::kInternal;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 501:
      return absl::StatusCode::kUnimplemented;
    default:
      return http_status >= 500 && http_status <= 599 ? absl::StatusCode::kUnavailable
                                                      : absl::StatusCode::kUnknown;
  }
}

std::string UpstreamErrorMessage(std::string_view body) {
  std::string message;
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    auto error = j.find("error");
    if (error != j.end() && error->is_object()) {
      message = StringField(*error, "message");
    } else if (error != j.end() && error->is_string()) {
      message = error->get<std::string>();
    }
    if (message.empty()) message = StringField(j, "message");
    if (message.empty()) message = StringField(j, "detail");
  }
  if (message.empty()) message = std::string(body);
  absl::string_view trimmed = absl::StripAsciiWhitespace(message);
  message = std::string(trimmed.substr(0, kMaxUpstreamMessage));
  return message;
}

absl::Status UpstreamHttpError(std::string_view target_name, int http_status,
                               std::string_view body) {
  std::string text =
      absl::StrCat("target '", Sv(target_name), "': upstream answered HTTP ", http_status);
  if (const char* phrase = ReasonPhrase(http_status); *phrase) absl::StrAppend(&text, " ", phrase);
  if (std::string message = UpstreamErrorMessage(body); !message.empty()) {
    absl::StrAppend(&text, ": ", message);
  }
  return absl::Status(UpstreamHttpStatusToCode(http_status), text);
}

// ---------------------------------------------------------------------------------------------
// Stream decoding

void ChatChunkDecoder::AddToolCall(uint32_t index, const std::string& id, const std::string& name,
                                   const std::string& arguments, v1::ChatStreamResponse* delta) {
  auto& [id_sent, name_sent] = announced_[index];
  v1::ToolCallDelta fragment;
  fragment.set_index(index);
  bool any = false;
  if (!id.empty() && !id_sent) {
    fragment.set_id(id);
    id_sent = any = true;
  }
  if (!name.empty() && !name_sent) {
    fragment.set_name(name);
    name_sent = any = true;
  }
  if (!arguments.empty()) {
    fragment.set_arguments(arguments);
    any = true;
  }
  if (any) *delta->add_tool_calls() = std::move(fragment);
}

namespace {

// The `usage` object of a chunk or a completion, when present.
void ReadUsage(const json& obj, bool* has_usage, v1::Usage* usage) {
  auto it = obj.find("usage");
  if (it == obj.end() || !it->is_object()) return;
  *has_usage = true;
  usage->set_prompt_tokens(UintField(*it, "prompt_tokens", 0));
  usage->set_completion_tokens(UintField(*it, "completion_tokens", 0));
}

void EmitIfAny(v1::ChatStreamResponse delta, std::vector<v1::ChatStreamResponse>* out) {
  if (!delta.content_delta().empty() || delta.tool_calls_size() > 0) {
    out->push_back(std::move(delta));
  }
}

}  // namespace

absl::Status ChatChunkDecoder::Decode(std::string_view text,
                                      std::vector<v1::ChatStreamResponse>* out) {
  absl::StatusOr<json> parsed = ParseJson(text, "a stream event");
  if (!parsed.ok()) return parsed.status();
  const json& chunk = *parsed;
  if (!chunk.is_object()) {
    return absl::InternalError("the upstream sent a stream event that is not a JSON object");
  }
  if (auto error = chunk.find("error"); error != chunk.end() && !error->is_null()) {
    std::string message = UpstreamErrorMessage(error->dump());
    return absl::InternalError(absl::StrCat("the upstream reported an error in the stream: ",
                                            message.empty() ? "(no message)" : message));
  }
  v1::ChatStreamResponse delta;
  if (auto choices = chunk.find("choices"); choices != chunk.end() && choices->is_array()) {
    for (const json& choice : *choices) {
      if (!choice.is_object() || UintField(choice, "index", 0) != 0) continue;
      if (auto d = choice.find("delta"); d != choice.end() && d->is_object()) {
        delta.mutable_content_delta()->append(StringField(*d, "content"));
        if (auto calls = d->find("tool_calls"); calls != d->end() && calls->is_array()) {
          uint32_t position = 0;
          for (const json& call : *calls) {
            const json function =
                call.is_object() && call.contains("function") ? call["function"] : json::object();
            AddToolCall(UintField(call, "index", position++), StringField(call, "id"),
                        StringField(function, "name"), StringField(function, "arguments"), &delta);
          }
        }
      }
      if (std::string reason = StringField(choice, "finish_reason"); !reason.empty()) {
        finish_reason_ = reason;
      }
    }
  }
  ReadUsage(chunk, &has_usage_, &usage_);
  EmitIfAny(std::move(delta), out);
  return absl::OkStatus();
}

absl::Status ChatChunkDecoder::DecodeCompletion(std::string_view text,
                                                std::vector<v1::ChatStreamResponse>* out) {
  absl::StatusOr<json> parsed = ParseJson(text, "its response");
  if (!parsed.ok()) return parsed.status();
  const json& completion = *parsed;
  if (!completion.is_object()) {
    return absl::InternalError("the upstream's response is not a JSON object");
  }
  auto choices = completion.find("choices");
  if (choices == completion.end() || !choices->is_array() || choices->empty() ||
      !(*choices)[0].is_object()) {
    return absl::InternalError("the upstream's response has no choices");
  }
  const json& choice = (*choices)[0];
  v1::ChatStreamResponse delta;
  if (auto message = choice.find("message"); message != choice.end() && message->is_object()) {
    delta.set_content_delta(StringField(*message, "content"));
    if (auto calls = message->find("tool_calls"); calls != message->end() && calls->is_array()) {
      uint32_t index = 0;
      for (const json& call : *calls) {
        const json function =
            call.is_object() && call.contains("function") ? call["function"] : json::object();
        AddToolCall(index++, StringField(call, "id"), StringField(function, "name"),
                    StringField(function, "arguments"), &delta);
      }
    }
  }
  finish_reason_ = StringField(choice, "finish_reason");
  ReadUsage(completion, &has_usage_, &usage_);
  EmitIfAny(std::move(delta), out);
  return absl::OkStatus();
}

v1::ChatStreamResponse ChatChunkDecoder::Final() const {
  v1::ChatStreamResponse last;
  last.set_finish_reason(finish_reason_);
  if (has_usage_) *last.mutable_usage() = usage_;
  return last;
}

// ---------------------------------------------------------------------------------------------
// The call

namespace {

// One Start(): attempts, retries, deadline and cancellation, all on one strand. Members
// below `cancelled_` are touched only on the strand.
class OpenAiCall final : public TargetCall, public std::enable_shared_from_this<OpenAiCall> {
 public:
  OpenAiCall(std::shared_ptr<const TargetConfig> config, std::string url,
             std::shared_ptr<HttpClient> http, asio::io_context& io, std::string body,
             Clock::time_point deadline, bool stream, std::shared_ptr<ChatSink> sink)
      : config_(std::move(config)),
        url_(std::move(url)),
        http_(std::move(http)),
        strand_(asio::make_strand(io)),
        body_(std::move(body)),
        deadline_(deadline),
        stream_(stream),
        sink_(std::move(sink)),
        deadline_timer_(strand_),
        backoff_timer_(strand_) {}

  void Start() {
    asio::post(strand_, [self = shared_from_this()] { self->Begin(); });
  }

  // Reports `status` (an error found before anything was sent) from the strand.
  void FailSoon(absl::Status status) {
    asio::post(strand_, [self = shared_from_this(), status = std::move(status)] {
      self->Finish(self->Named(status));
    });
  }

  void Cancel() override {
    if (cancelled_.exchange(true)) return;
    asio::post(strand_, [self = shared_from_this()] {
      self->Finish(
          absl::CancelledError(absl::StrCat("target '", self->config_->name, "': cancelled")));
    });
  }

 private:
  enum class Mode { kStream, kCompletion, kError };

  void Begin() {
    if (done_) return;
    deadline_timer_.expires_at(deadline_);
    deadline_timer_.async_wait(
        asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code ec) {
          if (!ec) self->OnDeadline();
        }));
    StartAttempt();
  }

  void StartAttempt() {
    if (done_) return;
    ++attempts_;
    mode_ = Mode::kStream;
    http_status_ = 0;
    body_buffer_.clear();
    sse_ = SseParser();
    decoder_ = ChatChunkDecoder();

    HttpRequest request;
    request.method = "POST";
    request.url = url_;
    request.headers = {{"Content-Type", "application/json"},
                       {"Accept", stream_ ? "text/event-stream" : "application/json"}};
    if (!config_->api_key.empty()) {
      request.headers.emplace_back("Authorization", absl::StrCat("Bearer ", config_->api_key));
    }
    request.body = body_;
    HttpCallOptions options;
    options.connect_timeout = config_->connect_timeout;
    options.first_byte_timeout = config_->first_byte_timeout;
    options.idle_timeout = config_->idle_timeout;
    options.deadline = deadline_;
    auto self = shared_from_this();
    HttpHandlers handlers;
    handlers.on_head = [self](const HttpResponseHead& head) { self->OnHead(head); };
    handlers.on_body = [self](std::string_view bytes) { self->OnBody(bytes); };
    handlers.on_done = [self](const HttpResult& result) { self->OnHttpDone(result); };
    call_ = http_->Send(std::move(request), options, std::move(handlers), strand_);
  }

  void OnHead(const HttpResponseHead& head) {
    if (done_) return;
    http_status_ = head.status;
    if (head.status < 200 || head.status > 299) {
      mode_ = Mode::kError;
    } else if (head.Get("Content-Type").find("application/json") != std::string_view::npos) {
      mode_ = Mode::kCompletion;
    } else {
      mode_ = Mode::kStream;
    }
  }

  void OnBody(std::string_view bytes) {
    if (done_) return;
    if (mode_ != Mode::kStream) {
      size_t limit = mode_ == Mode::kError ? kMaxErrorBody : kMaxCompletionBody;
      if (body_buffer_.size() + bytes.size() > limit) {
        if (mode_ == Mode::kError) {
          body_buffer_.append(bytes.substr(0, limit - body_buffer_.size()));
          return;
        }
        Fail(absl::InternalError(
            absl::StrCat("the upstream's response is larger than ", limit, " bytes")));
        return;
      }
      body_buffer_.append(bytes);
      return;
    }
    std::vector<SseEvent> events;
    absl::Status parsed = sse_.Feed(bytes, &events);
    for (const SseEvent& event : events) {
      if (done_) return;
      if (event.IsDone()) {
        OnDoneEvent();
        return;
      }
      std::vector<v1::ChatStreamResponse> deltas;
      absl::Status decoded = decoder_.Decode(event.data, &deltas);
      for (const auto& delta : deltas) Emit(delta);
      if (!decoded.ok()) {
        Fail(decoded);
        return;
      }
    }
    if (!parsed.ok()) {
      Fail(absl::InternalError(
          absl::StrCat("the upstream's event stream is malformed: ", parsed.message())));
    }
  }

  void OnHttpDone(const HttpResult& result) {
    call_.reset();
    if (done_) return;
    if (answered_) {  // [DONE] was seen: the answer is complete whatever happened after it
      Finish(absl::OkStatus());
      return;
    }
    if (!result.status.ok()) {
      if (result.ConnectFailed()) {
        MaybeRetry(result.status);
      } else {
        Finish(Named(result.status));
      }
      return;
    }
    switch (mode_) {
      case Mode::kError: {
        absl::Status error = UpstreamHttpError(config_->name, http_status_, body_buffer_);
        if (http_status_ >= 500 || http_status_ == 429) {
          MaybeRetry(error);
        } else {
          Finish(error);
        }
        return;
      }
      case Mode::kCompletion: {
        std::vector<v1::ChatStreamResponse> deltas;
        absl::Status decoded = decoder_.DecodeCompletion(body_buffer_, &deltas);
        if (!decoded.ok()) {
          Finish(Named(decoded));
          return;
        }
        for (const auto& delta : deltas) Emit(delta);
        EmitFinalAndFinish();
        return;
      }
      case Mode::kStream:
        if (decoder_.HasFinishReason() && !sse_.HasPartialEvent()) {
          EmitFinalAndFinish();  // an upstream that ends the stream without [DONE]
        } else {
          Finish(Named(absl::UnavailableError("the upstream's stream ended before [DONE]")));
        }
        return;
    }
  }

  // Retries after a backoff when allowed; otherwise finishes with `error`.
  void MaybeRetry(const absl::Status& error) {
    int retry = attempts_ - 1;
    if (streamed_ || retry >= config_->retries) {
      Finish(attempts_ > 1 ? Named(error, absl::StrCat(" (after ", attempts_, " attempts)"))
                           : Named(error));
      return;
    }
    std::chrono::milliseconds delay = OpenAiTarget::Backoff(retry);
    if (Clock::now() + delay >= deadline_) {
      Finish(Named(absl::DeadlineExceededError(absl::StrCat(
          "deadline exceeded before a retry could be made; last error: ", error.message()))));
      return;
    }
    backoff_timer_.expires_after(delay);
    backoff_timer_.async_wait(
        asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code ec) {
          if (!ec) self->StartAttempt();
        }));
  }

  void OnDeadline() {
    if (answered_) {
      Finish(absl::OkStatus());
      return;
    }
    Finish(Named(
        absl::DeadlineExceededError(absl::StrCat("deadline exceeded (attempt ", attempts_, ")"))));
  }

  void Emit(const v1::ChatStreamResponse& delta) {
    if (done_) return;
    streamed_ = true;
    sink_->OnDelta(delta);
  }

  // [DONE]: the answer is complete. The last delta goes out now; OnDone(OK) follows once the
  // HTTP response has ended (so that the connection can go back to the pool), or after a
  // short grace period if the upstream does not end it.
  void OnDoneEvent() {
    if (done_ || answered_) return;
    answered_ = true;
    if (decoder_.HasFinal()) Emit(decoder_.Final());
    if (call_.expired()) {
      Finish(absl::OkStatus());
      return;
    }
    backoff_timer_.expires_after(kDrainGrace);
    backoff_timer_.async_wait(
        asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code ec) {
          if (!ec) self->Finish(absl::OkStatus());
        }));
  }

  void EmitFinalAndFinish() {
    if (done_) return;
    if (decoder_.HasFinal()) Emit(decoder_.Final());
    Finish(absl::OkStatus());
  }

  // An error found in the upstream's answer: close the connection and report it.
  void Fail(const absl::Status& status) { Finish(Named(status)); }

  absl::Status Named(const absl::Status& status, std::string_view suffix = {}) const {
    std::string_view message(status.message().data(), status.message().size());
    std::string prefix = absl::StrCat("target '", config_->name, "': ");
    if (message.starts_with(prefix)) prefix.clear();  // already named (UpstreamHttpError)
    return absl::Status(status.code(), absl::StrCat(prefix, Sv(message), Sv(suffix)));
  }

  void Finish(const absl::Status& status) {
    if (done_) return;
    done_ = true;
    deadline_timer_.cancel();
    backoff_timer_.cancel();
    // Closes the connection unless the response has ended.
    if (auto call = call_.lock()) call->Cancel();
    std::shared_ptr<ChatSink> sink = std::move(sink_);
    sink->OnDone(status);
  }

  const std::shared_ptr<const TargetConfig> config_;  // shared with the target
  const std::string url_;
  const std::shared_ptr<HttpClient> http_;
  Strand strand_;
  const std::string body_;
  const Clock::time_point deadline_;
  const bool stream_;
  std::shared_ptr<ChatSink> sink_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer backoff_timer_;
  std::atomic<bool> cancelled_{false};

  // The attempt in flight. Weak: the HTTP call holds its handlers, and so this object,
  // until it ends; a strong reference back would be a cycle if the io_context stopped first.
  std::weak_ptr<HttpCall> call_;
  int attempts_ = 0;
  bool done_ = false;
  bool streamed_ = false;
  bool answered_ = false;  // [DONE] seen and the last delta passed on
  Mode mode_ = Mode::kStream;
  int http_status_ = 0;
  std::string body_buffer_;
  SseParser sse_;
  ChatChunkDecoder decoder_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// The target

OpenAiTarget::OpenAiTarget(TargetConfig config, std::string url, std::shared_ptr<HttpClient> http,
                           asio::io_context& io)
    : config_(std::make_shared<const TargetConfig>(std::move(config))),
      url_(std::move(url)),
      http_(std::move(http)),
      io_(io) {}

OpenAiTarget::~OpenAiTarget() = default;

absl::StatusOr<std::unique_ptr<OpenAiTarget>> OpenAiTarget::Create(
    const TargetConfig& config, const std::vector<std::string>& egress_allowlist,
    asio::io_context& io) {
  absl::StatusOr<Url> url = ParseUrl(config.base_url);
  if (!url.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("base_url: ", url.status().message()));
  }
  if (url->target.find('?') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "base_url: '", config.base_url, "' has a query; give the API's base path, e.g. /v1"));
  }
  if (config.model.empty()) {
    return absl::InvalidArgumentError(
        "model: required for kind 'openai' (the upstream's model "
        "name, e.g. nemotron-super)");
  }
  if (!config.ca_file.empty() && !url->tls()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ca_file: set, but base_url '", config.base_url, "' is http, not https"));
  }
  const std::pair<const char*, std::chrono::milliseconds> timeouts[] = {
      {"connect_ms", config.connect_timeout},
      {"first_byte_ms", config.first_byte_timeout},
      {"idle_ms", config.idle_timeout}};
  for (const auto& [key, value] : timeouts) {
    if (value.count() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("timeouts: ", key, " must be positive, not ", value.count()));
    }
  }
  if (config.retries < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("retries: must be 0 or more, not ", config.retries));
  }
  HttpClientOptions options;
  options.egress_allowlist = egress_allowlist;
  options.ca_file = config.ca_file;
  absl::StatusOr<std::unique_ptr<HttpClient>> http = HttpClient::Create(io, std::move(options));
  if (!http.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("ca_file: ", http.status().message()));
  }
  std::string endpoint = config.base_url;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  endpoint += "/chat/completions";
  return std::unique_ptr<OpenAiTarget>(
      new OpenAiTarget(config, std::move(endpoint), std::move(*http), io));
}

std::shared_ptr<TargetCall> OpenAiTarget::Start(const v1::ChatRequest& request,
                                                Clock::time_point deadline, bool stream,
                                                std::shared_ptr<ChatSink> sink) {
  absl::StatusOr<std::string> body = BuildChatCompletionsBody(request, config_->model, stream);
  auto call = std::make_shared<OpenAiCall>(config_, url_, http_, io_,
                                           body.ok() ? std::move(*body) : std::string(), deadline,
                                           stream, std::move(sink));
  if (body.ok()) {
    call->Start();
  } else {
    call->FailSoon(body.status());
  }
  return call;
}

std::chrono::milliseconds OpenAiTarget::Backoff(int retry) {
  constexpr std::chrono::milliseconds kFirst{50};
  constexpr std::chrono::milliseconds kMax{1000};
  if (retry < 0) retry = 0;
  if (retry >= 5) return kMax;  // 50 · 2^5 = 1600 > kMax
  return std::min(kMax, kFirst * (1 << retry));
}

}  // namespace airlock::gateway
