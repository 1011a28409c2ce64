// HttpClient: an asynchronous HTTP/1.1 client (Boost.Beast + OpenSSL) for upstream targets.
//
//   auto client = HttpClient::Create(io, {.egress_allowlist = {"vllm.internal"}});
//   auto call = (*client)->Send(
//       {.method = "POST", .url = "https://vllm.internal:8000/v1/chat/completions", ...},
//       {.connect_timeout = 2s, .first_byte_timeout = 30s, .idle_timeout = 30s,
//        .deadline = Clock::now() + 60s},
//       {.on_head = ..., .on_body = ..., .on_done = ...});
//   ...
//   call->Cancel();  // from any thread
//
// What it does:
// - Egress allowlist: a host that is not on the list is refused with PERMISSION_DENIED before
//   any DNS lookup or connection. Entries are host names (case-insensitive, exact), IP
//   literals ("127.0.0.1", "::1" or "[::1]"), or "*.example.com" (any subdomain of
//   example.com, not example.com itself). An empty list refuses every host.
// - Connection pool: idle connections are kept per scheme://host:port. A connection goes back
//   to the pool only after a complete response that allows keep-alive; a pooled connection
//   found closed by the server is dropped, and a request that fails on a reused connection
//   before any response byte arrived is sent once more on a fresh connection.
// - https: the peer's certificate chain is verified against `ca_file` (PEM) or, when that is
//   empty, the system's default store; the host name (or IP address) is verified against
//   the certificate; SNI is sent for host names (not for IP literals). A failed verification
//   is reported as "TLS handshake with HOST:PORT failed: certificate verify failed: REASON"
//   where REASON is OpenSSL's (for example "unable to get local issuer certificate").
// - Timeouts: connect (DNS + TCP + TLS handshake), first byte (request sent until the
//   response header is complete), idle (between two reads of the body), and an overall
//   deadline. Any of them closes the connection at once.
// - Streaming: the body is delivered as it arrives, chunk by chunk (chunked transfer
//   encoding, Content-Length, or read-until-close), already de-chunked.
//
// Errors (HttpResult::status):
//   PERMISSION_DENIED  host not on the egress allowlist (nothing was resolved or connected).
//   UNAVAILABLE        resolve / connect / TLS failure, connect, first-byte or idle timeout,
//                      the connection closed or failed before the response was complete.
//   DEADLINE_EXCEEDED  the call's deadline passed.
//   CANCELLED          Cancel() was called.
//   INTERNAL           the upstream's response was not valid HTTP/1.1.
//   INVALID_ARGUMENT   the request's URL cannot be used (see ParseUrl).
// Every message names the host (and port, once known). An HTTP error status (4xx, 5xx) is not an
// error here: it is a complete response, reported through on_head / on_body and an OK result.
//
// Threads: the io_context belongs to the caller, who runs it on any number of threads. Each
// call runs on a strand (its own, or the one passed to Send): its handlers are invoked on
// that strand, one at a time, never re-entrantly from Send or Cancel, and never after
// on_done. The handlers are destroyed right after on_done returns (so they may hold
// shared_ptrs to their owner without leaking). Handlers must not block. HttpClient and
// HttpCall are safe to use from any thread. A call keeps what it needs alive (including the
// client's pool and TLS context), so the HttpClient may be destroyed while calls are in
// flight; the io_context must outlive every call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace airlock::gateway {

using Clock = std::chrono::steady_clock;
using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

// An absolute http(s) URL, split up.
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // lowercase; an IPv6 literal without its brackets
  uint16_t port = 0;   // the explicit port, or 80 / 443
  std::string target;  // path and query, at least "/"

  bool tls() const { return scheme == "https"; }
  // host, or host:port when the port is not the scheme's default (IPv6 in brackets): the
  // value of the Host header.
  std::string Authority() const;
  // HOST:PORT, always with the port (IPv6 in brackets): for messages.
  std::string HostPort() const;
};

// Parses "http://host[:port][/path][?query]" (or https). INVALID_ARGUMENT, naming what is
// wrong, for another scheme, a missing host, a bad port, user info or a fragment.
absl::StatusOr<Url> ParseUrl(std::string_view url);

// Whether `host` (as in Url::host) is allowed by `allowlist` (see the top of this file).
bool HostAllowed(const std::vector<std::string>& allowlist, std::string_view host);

struct HttpClientOptions {
  // Hosts this client may connect to; nothing else.
  std::vector<std::string> egress_allowlist;
  // PEM file of CA certificates trusted for https; empty: the system's default store.
  std::string ca_file;
  // Idle connections kept per scheme://host:port.
  size_t max_idle_per_host = 16;
  // A pooled connection unused for longer than this is closed instead of reused.
  std::chrono::milliseconds keep_alive_idle{30000};
  // Limit on the size of a response header.
  uint32_t max_header_bytes = 64 * 1024;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute http(s) URL
  // Extra headers. Host and Content-Length are set by the client (a Host given here wins).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpCallOptions {
  std::chrono::milliseconds connect_timeout{2000};        // DNS + TCP connect + TLS handshake
  std::chrono::milliseconds first_byte_timeout{60000};    // request sent → response header
  std::chrono::milliseconds idle_timeout{60000};          // between two reads of the body
  Clock::time_point deadline = Clock::time_point::max();  // the whole call
};

struct HttpResponseHead {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  // Value of the first header with that name (case-insensitive); empty when absent.
  std::string_view Get(std::string_view name) const;
};

// Where a call was when it ended (kDone after a complete response).
enum class HttpStage {
  kAllowlist,     // refused by the egress allowlist
  kResolve,       // DNS lookup
  kConnect,       // TCP connect
  kTlsHandshake,  // TLS handshake and certificate verification
  kSendRequest,   // writing the request
  kAwaitHead,     // waiting for / reading the response header
  kReadBody,      // reading the response body
  kDone,
};

struct HttpResult {
  absl::Status status;
  HttpStage stage = HttpStage::kDone;
  // True when the call failed before a connection was established (nothing was sent).
  bool ConnectFailed() const {
    return !status.ok() && (stage == HttpStage::kResolve || stage == HttpStage::kConnect);
  }
};

struct HttpHandlers {
  // Once, when the response header is complete (any status code). Optional.
  std::function<void(const HttpResponseHead&)> on_head;
  // For each piece of the (de-chunked) body, in order, after on_head. Optional.
  std::function<void(std::string_view)> on_body;
  // Exactly once, last. Required.
  std::function<void(const HttpResult&)> on_done;
};

// A request in flight.
class HttpCall {
 public:
  virtual ~HttpCall() = default;
  // Closes the connection and ends the call with CANCELLED, unless it has already ended.
  // Safe from any thread (including from a handler), any number of times; asynchronous:
  // on_done follows on the call's strand, never inside Cancel.
  virtual void Cancel() = 0;
};

class HttpClient {
 public:
  // Fails (INVALID_ARGUMENT) when the CA file cannot be loaded.
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(boost::asio::io_context& io,
                                                            HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a request; returns at once. Handlers run on `strand` (a new strand when absent).
  std::shared_ptr<HttpCall> Send(HttpRequest request, HttpCallOptions options,
                                 HttpHandlers handlers, std::optional<Strand> strand = {});

  // Idle connections in the pool (all hosts), for tests and metrics.
  size_t IdleConnections() const;

  struct Impl;

 private:
  explicit HttpClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace airlock::gateway
