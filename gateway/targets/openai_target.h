// OpenAiTarget: a Target for `kind: openai`, an OpenAI-compatible chat-completions upstream
// (vLLM, NIM, TensorRT-LLM, llama.cpp server, a frontier API).
//
// Each call POSTs {base_url}/chat/completions with `stream: true` and
// `stream_options: {include_usage: true}` (and `Authorization: Bearer API_KEY` when the
// target has a key), and turns the server-sent events into ChatStreamResponse deltas:
// content_delta, tool-call fragments (the first fragment of a call carries its id and name,
// later ones only arguments, whatever the upstream repeats), and one last delta with
// finish_reason and usage. That last delta goes out at `data: [DONE]`; OnDone(OK) follows
// once the HTTP response has ended (so that its connection can go back to the pool), at most
// a second later. A stream that ends without [DONE] is accepted when a finish_reason was
// seen, and is UNAVAILABLE otherwise. A 200 answer that is a whole `chat.completion` JSON (an
// upstream that ignores `stream`) is accepted too.
//
// Retries: up to `retries` extra attempts, with exponential backoff (Backoff), only on
// connect errors (DNS, TCP connect, connect timeout), HTTP 5xx and 429, and only while
// nothing has been passed to the sink.
//
// Errors (the message always starts with "target 'NAME': "):
//   upstream HTTP errors   mapped by UpstreamHttpStatusToCode, with the upstream's message
//   PERMISSION_DENIED      the host is not on the egress allowlist (nothing connected)
//   UNAVAILABLE            connect / TLS / timeout / connection lost / stream cut before
//                          [DONE] (see http_client.h)
//   DEADLINE_EXCEEDED      the deadline given to Start passed (the connection is closed)
//   CANCELLED              Cancel() (the connection is closed)
//   INTERNAL               the upstream sent malformed JSON or an error event mid-stream
//   INVALID_ARGUMENT       the request cannot be expressed (e.g. a tool's parameters are not
//                          JSON; nothing was sent)
//
// Threads: each call runs on its own strand of the io_context given at creation: every
// sink call happens there (serialized, never inside Start or Cancel), ending with exactly
// one OnDone. Start and Cancel are safe from any thread. A call keeps the target's HTTP
// client alive, so the target may be destroyed while calls are in flight; the io_context
// must outlive every call.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "airlock/v1/gateway.pb.h"
#include "gateway/config.h"
#include "gateway/targets/target.h"

namespace airlock::gateway {

class HttpClient;

// The chat-completions request body (JSON text) for `request`; with `stream`, it asks for an
// event stream with usage (`stream: true, stream_options: {include_usage: true}`), else for a
// whole completion (`stream: false`). INVALID_ARGUMENT, naming the field, when a message has
// no role or a tool's parameters are not a JSON object.
absl::StatusOr<std::string> BuildChatCompletionsBody(const v1::ChatRequest& request,
                                                     const std::string& model, bool stream);

// The gRPC code for an upstream's HTTP error status:
//   400, 413, 422 → INVALID_ARGUMENT   the request was refused as malformed / too large
//   401, 403      → INTERNAL           the upstream refused Airlock's own credentials: a
//                                      gateway misconfiguration, not the client's fault (and
//                                      not PERMISSION_DENIED, which means a policy denial)
//   404           → NOT_FOUND          e.g. the model is not served there
//   408, 504      → DEADLINE_EXCEEDED
//   429           → RESOURCE_EXHAUSTED
//   501           → UNIMPLEMENTED
//   other 5xx     → UNAVAILABLE
//   anything else → UNKNOWN            (other 4xx, unexpected 1xx / 3xx)
absl::StatusCode UpstreamHttpStatusToCode(int http_status);

// The upstream's own message from an error body: OpenAI's {"error":{"message":...}},
// {"error":"..."}, {"message":"..."} (vLLM), or else the body text itself; whitespace
// trimmed, at most 512 bytes; empty when the body is empty.
std::string UpstreamErrorMessage(std::string_view body);

// "target 'NAME': upstream answered HTTP 429 Too Many Requests: MESSAGE" with the mapped code.
absl::Status UpstreamHttpError(std::string_view target_name, int http_status,
                               std::string_view body);

// Turns an upstream's `chat.completion.chunk` payloads into ChatStreamResponse deltas.
// Only choice 0 is used. Not thread-safe; one per call attempt.
class ChatChunkDecoder {
 public:
  // Decodes one SSE `data:` payload. Appends a delta to *out when the chunk carries content
  // or tool-call fragments; finish_reason and usage are kept for Final(). INTERNAL for
  // malformed JSON, or for an error object sent in the stream (with its message).
  absl::Status Decode(std::string_view json, std::vector<v1::ChatStreamResponse>* out);
  // Decodes a whole, non-streamed `chat.completion` body into one delta (plus what Final
  // returns).
  absl::Status DecodeCompletion(std::string_view json, std::vector<v1::ChatStreamResponse>* out);

  // A finish_reason or usage has been seen.
  bool HasFinal() const { return !finish_reason_.empty() || has_usage_; }
  bool HasFinishReason() const { return !finish_reason_.empty(); }
  // The last delta: finish_reason and usage.
  v1::ChatStreamResponse Final() const;

 private:
  void AddToolCall(uint32_t index, const std::string& id, const std::string& name,
                   const std::string& arguments, v1::ChatStreamResponse* delta);

  std::string finish_reason_;
  bool has_usage_ = false;
  v1::Usage usage_;
  std::map<uint32_t, std::pair<bool, bool>> announced_;  // index → (id sent, name sent)
};

class OpenAiTarget : public Target {
 public:
  // Validates the config (base_url http/https with a host, no query; model set; positive
  // timeouts; retries ≥ 0; no ca_file for http) and loads the CA file. INVALID_ARGUMENT
  // with a message that starts with the offending key.
  static absl::StatusOr<std::unique_ptr<OpenAiTarget>> Create(
      const TargetConfig& config, const std::vector<std::string>& egress_allowlist,
      boost::asio::io_context& io);
  ~OpenAiTarget() override;

  const TargetConfig& config() const override { return *config_; }
  // With `stream`, asks the upstream for an event stream (`stream: true` with usage);
  // without, for a whole `chat.completion`.
  std::shared_ptr<TargetCall> Start(const v1::ChatRequest& request, Clock::time_point deadline,
                                    bool stream, std::shared_ptr<ChatSink> sink) override;

  // Delay before retry number `retry` (0 for the first retry): 50 ms · 2^retry, at most 1 s.
  static std::chrono::milliseconds Backoff(int retry);

 private:
  OpenAiTarget(TargetConfig config, std::string url, std::shared_ptr<HttpClient> http,
               boost::asio::io_context& io);

  const std::shared_ptr<const TargetConfig> config_;  // shared with the calls in flight
  const std::string url_;                             // {base_url}/chat/completions
  const std::shared_ptr<HttpClient> http_;
  boost::asio::io_context& io_;
};

}  // namespace airlock::gateway
