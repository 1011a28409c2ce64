#include "gateway/targets/http_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace airlock::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr size_t kReadChunk = 16 * 1024;

// Debian's Abseil has its own string_view type: adapt std::string_view for StrCat.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Lower(std::string_view s) {
  std::string out(s);
  absl::AsciiStrToLower(&out);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(Sv(a), Sv(b));
}

bool IsIpLiteral(std::string_view host) {
  error_code ec;
  asio::ip::make_address(std::string(host), ec);
  return !ec;
}

std::string NormalizeHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return Lower(host);
}

std::string BracketIfV6(const std::string& host) {
  return host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
}

// One connection to an upstream, plain or TLS. Used by one call at a time; lives in the pool
// in between.
struct Connection {
  Connection(asio::io_context& io, ssl::context* tls_context) {
    if (tls_context) {
      tls.emplace(io, *tls_context);
    } else {
      plain.emplace(io);
    }
  }
  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }

  // Calls f(stream) with the stream to read and write: the TLS stream or the plain socket.
  template <class F>
  auto With(F&& f) {
    return tls ? f(*tls) : f(*plain);
  }

  // Whether the server has neither closed the idle connection nor sent anything on it.
  bool LooksAlive() {
    if (!socket().is_open()) return false;
    char byte;
    ssize_t n = ::recv(socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  void Close() {
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  std::optional<tcp::socket> plain;
  std::optional<ssl::stream<tcp::socket>> tls;
  beast::flat_buffer buffer;
  // Where body bytes are read to, before on_body: kept with the connection, so that a request
  // on a pooled connection allocates none.
  std::unique_ptr<char[]> body_chunk = std::make_unique_for_overwrite<char[]>(kReadChunk);
  Clock::time_point idle_since;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// URL and allowlist

std::string Url::Authority() const {
  uint16_t default_port = tls() ? 443 : 80;
  std::string h = BracketIfV6(host);
  return port == default_port ? h : absl::StrCat(h, ":", port);
}

std::string Url::HostPort() const { return absl::StrCat(BracketIfV6(host), ":", port); }

absl::StatusOr<Url> ParseUrl(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("URL '", Sv(text), "': ", Sv(why)));
  };
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    return bad("expected http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]");
  }
  Url url;
  url.scheme = Lower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    return bad(absl::StrCat("the scheme must be http or https, not '", url.scheme, "'"));
  }
  std::string_view rest = text.substr(sep + 3);
  if (rest.find('#') != std::string_view::npos) return bad("a fragment (#...) is not allowed");
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return bad("spaces and control characters are not allowed");
    }
  }
  size_t path_begin = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_begin);
  if (path_begin == std::string_view::npos) {
    url.target = "/";
  } else {
    url.target = std::string(rest.substr(path_begin));
    if (url.target.front() == '?') url.target.insert(0, "/");
  }
  if (authority.find('@') != std::string_view::npos) {
    return bad("user info (user:password@) is not supported");
  }
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated '[' in the host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected characters after ']'");
      port = after.substr(1);
      has_port = true;
    }
    error_code ec;
    asio::ip::make_address_v6(std::string(host), ec);
    if (ec) return bad(absl::StrCat("'", Sv(host), "' is not an IPv6 address"));
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      has_port = true;
    }
    for (char c : host) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
        return bad(absl::StrCat("the host '", Sv(host), "' contains '", std::string(1, c), "'"));
      }
    }
  }
  if (host.empty()) return bad("the host is missing");
  url.host = Lower(host);
  url.port = url.tls() ? 443 : 80;
  if (has_port) {
    uint32_t value = 0;
    if (port.empty() || !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(Sv(port), &value) || value == 0 || value > 65535) {
      return bad(absl::StrCat("the port '", Sv(port), "' is not a number in 1..65535"));
    }
    url.port = static_cast<uint16_t>(value);
  }
  return url;
}

bool HostAllowed(const std::vector<std::string>& allowlist, std::string_view host) {
  std::string h = NormalizeHost(host);
  if (h.empty()) return false;
  for (const std::string& raw : allowlist) {
    std::string entry = NormalizeHost(raw);
    if (entry.starts_with("*.")) {
      std::string_view suffix = std::string_view(entry).substr(1);  // ".example.com"
      if (h.size() > suffix.size() && h.ends_with(suffix)) return true;
    } else if (!entry.empty() && entry == h) {
      return true;
    }
  }
  return false;
}

std::string_view HttpResponseHead::Get(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// The client: TLS context and connection pool, shared with the calls in flight.

struct HttpClient::Impl {
  Impl(asio::io_context& io_context, HttpClientOptions opts)
      : io(io_context), options(std::move(opts)), tls_context(ssl::context::tls_client) {}

  absl::Status InitTls() {
    SSL_CTX_set_min_proto_version(tls_context.native_handle(), TLS1_2_VERSION);
    tls_context.set_verify_mode(ssl::verify_peer);
    error_code ec;
    if (options.ca_file.empty()) {
      tls_context.set_default_verify_paths(ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot load the system's default CA store: ", ec.message()));
      }
      return absl::OkStatus();
    }
    std::ifstream probe(options.ca_file);
    if (!probe) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read CA file '", options.ca_file, "': ", std::strerror(errno)));
    }
    tls_context.load_verify_file(options.ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CA file '", options.ca_file, "' holds no usable PEM certificate: ", ec.message()));
    }
    return absl::OkStatus();
  }

  static std::string PoolKey(const Url& url) {
    return absl::StrCat(url.scheme, "://", url.HostPort());
  }

  // An idle connection to reuse, or nullptr.
  std::unique_ptr<Connection> TakeIdle(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto& list = it->second;
    Clock::time_point now = Clock::now();
    while (!list.empty()) {
      std::unique_ptr<Connection> c = std::move(list.back());
      list.pop_back();
      if (now - c->idle_since <= options.keep_alive_idle && c->LooksAlive()) return c;
      c->Close();
    }
    return nullptr;
  }

  void Release(const std::string& key, std::unique_ptr<Connection> c) {
    if (c->buffer.size() != 0 || options.max_idle_per_host == 0) {
      c->Close();  // unread bytes: the connection is not in a known state
      return;
    }
    c->idle_since = Clock::now();
    std::lock_guard<std::mutex> lock(mu);
    auto& list = idle[key];
    if (list.size() >= options.max_idle_per_host) {
      list.front()->Close();
      list.erase(list.begin());
    }
    list.push_back(std::move(c));
  }

  asio::io_context& io;
  const HttpClientOptions options;
  ssl::context tls_context;  // declared before the pool: pooled TLS streams refer to it

  mutable std::mutex mu;  // guards `idle`
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
};

namespace {

// One request: a coroutine on the call's strand does the work; a watchdog coroutine on the
// same strand enforces the timeouts; Cancel posts onto the strand. Everything below is
// touched only on the strand, except `cancelled_`.
class Call final : public HttpCall, public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<HttpClient::Impl> client, HttpRequest request, HttpCallOptions options,
       HttpHandlers handlers, Strand strand)
      : client_(std::move(client)),
        request_(std::move(request)),
        options_(options),
        handlers_(std::move(handlers)),
        strand_(std::move(strand)),
        resolver_(client_->io),
        timer_(strand_) {}

  void Start() {
    asio::co_spawn(strand_, Run(shared_from_this()), asio::detached);
    asio::co_spawn(strand_, Watchdog(shared_from_this()), asio::detached);
  }

  void Cancel() override {
    if (cancelled_.exchange(true)) return;
    asio::post(strand_, [self = shared_from_this()] { self->Abort(Reason::kCancelled); });
  }

 private:
  enum class Reason { kCancelled, kConnectTimeout, kFirstByteTimeout, kIdleTimeout, kDeadline };

  static asio::awaitable<void> Run(std::shared_ptr<Call> self) {
    HttpResult result;
    try {
      result = co_await self->Execute();
    } catch (const std::exception& e) {
      result = {
          absl::InternalError(absl::StrCat("request to ", self->where(), " failed: ", e.what())),
          self->stage_};
    }
    self->Finish(std::move(result));
    self->conn_.reset();  // nothing refers to it any more
  }

  // Sleeps until the current expiry (moved by Arm) and aborts the call when it passes.
  static asio::awaitable<void> Watchdog(std::shared_ptr<Call> self) {
    while (!self->done_) {
      self->timer_.expires_at(self->expiry_);
      error_code ec;
      co_await self->timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!self->done_ && Clock::now() >= self->expiry_) {
        self->Abort(self->expiry_reason_);
      }
    }
  }

  // Sets the time limit of the current phase (capped by the deadline). When that limit has
  // already passed (a deadline in the past), aborts at once and returns false.
  [[nodiscard]] bool Arm(std::chrono::milliseconds limit, Reason reason) {
    Clock::time_point now = Clock::now();
    Clock::time_point old = expiry_;
    if (options_.deadline - now <= limit) {
      expiry_ = options_.deadline;
      expiry_reason_ = Reason::kDeadline;
    } else {
      expiry_ = now + limit;
      expiry_reason_ = reason;
    }
    phase_limit_ = limit;
    if (expiry_ <= now) {
      Abort(expiry_reason_);
      return false;
    }
    if (expiry_ < old) timer_.cancel();  // wake the watchdog to wait for the earlier time
    return true;
  }

  std::string where() const { return url_ ? url_->HostPort() : request_.url; }

  HttpResult Fail(absl::Status status) { return {std::move(status), stage_}; }

  asio::awaitable<HttpResult> Execute() {
    absl::StatusOr<Url> url = ParseUrl(request_.url);
    if (!url.ok()) co_return Fail(url.status());
    url_ = *url;
    stage_ = HttpStage::kAllowlist;
    if (!HostAllowed(client_->options.egress_allowlist, url_->host)) {
      co_return Fail(
          absl::PermissionDeniedError(absl::StrCat("egress to '", url_->host,
                                                   "' refused: the host is not on the egress "
                                                   "allowlist")));
    }
    const std::string key = HttpClient::Impl::PoolKey(*url_);
    if (!Arm(options_.connect_timeout, Reason::kConnectTimeout)) co_return HttpResult{};
    for (;;) {
      conn_ = client_->TakeIdle(key);
      bool reused = conn_ != nullptr;
      if (!reused) {
        HttpResult connected = co_await Connect();
        if (done_ || !connected.status.ok()) co_return connected;
      }
      bool stale = false;
      HttpResult result = co_await Exchange(reused, &stale);
      if (done_) co_return result;
      if (stale) {  // the server had closed the pooled connection; try a fresh one
        conn_->Close();
        conn_.reset();
        continue;
      }
      if (result.status.ok() && keep_alive_) {
        client_->Release(key, std::move(conn_));
      }
      co_return result;
    }
  }

  asio::awaitable<HttpResult> Connect() {
    if (!Arm(options_.connect_timeout, Reason::kConnectTimeout)) co_return HttpResult{};
    error_code ec;
    tcp::resolver::results_type endpoints;
    const std::string port = std::to_string(url_->port);
    if (IsIpLiteral(url_->host)) {
      stage_ = HttpStage::kConnect;
      endpoints = tcp::resolver::results_type::create(
          tcp::endpoint(asio::ip::make_address(url_->host), url_->port), url_->host, port);
    } else {
      stage_ = HttpStage::kResolve;
      endpoints = co_await resolver_.async_resolve(url_->host, port,
                                                   asio::redirect_error(asio::use_awaitable, ec));
      if (done_) co_return HttpResult{};
      if (ec) {
        co_return Fail(absl::UnavailableError(
            absl::StrCat("cannot resolve '", url_->host, "': ", ec.message())));
      }
    }
    stage_ = HttpStage::kConnect;
    conn_ =
        std::make_unique<Connection>(client_->io, url_->tls() ? &client_->tls_context : nullptr);
    co_await asio::async_connect(conn_->socket(), endpoints,
                                 asio::redirect_error(asio::use_awaitable, ec));
    if (done_) co_return HttpResult{};
    if (ec) {
      co_return Fail(
          absl::UnavailableError(absl::StrCat("cannot connect to ", where(), ": ", ec.message())));
    }
    conn_->socket().set_option(tcp::no_delay(true), ec);
    if (!url_->tls()) co_return HttpResult{};

    stage_ = HttpStage::kTlsHandshake;
    SSL* ssl = conn_->tls->native_handle();
    if (IsIpLiteral(url_->host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_->host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, url_->host.c_str());  // SNI
      SSL_set1_host(ssl, url_->host.c_str());
    }
    co_await conn_->tls->async_handshake(ssl::stream_base::client,
                                         asio::redirect_error(asio::use_awaitable, ec));
    if (done_) co_return HttpResult{};
    if (ec) {
      std::string reason = ec.message();
      long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) {
        reason = absl::StrCat("certificate verify failed: ", X509_verify_cert_error_string(verify));
      } else if (ec.category() == asio::error::get_ssl_category()) {
        const char* lib = ERR_lib_error_string(static_cast<unsigned long>(ec.value()));
        if (lib) absl::StrAppend(&reason, " (", lib, ")");
      }
      co_return Fail(absl::UnavailableError(
          absl::StrCat("TLS handshake with ", where(), " failed: ", reason)));
    }
    co_return HttpResult{};
  }

  // Sends the request and reads the response. *stale: the reused connection turned out to be
  // closed before any response byte; nothing else happened.
  asio::awaitable<HttpResult> Exchange(bool reused, bool* stale) {
    stage_ = HttpStage::kSendRequest;
    if (!Arm(options_.first_byte_timeout, Reason::kFirstByteTimeout)) co_return HttpResult{};
    http::request<http::string_body> req;
    req.version(11);
    req.method_string(request_.method);
    req.target(url_->target);
    bool has_host = false;
    for (const auto& [name, value] : request_.headers) {
      if (EqualsIgnoreCase(name, "host")) has_host = true;
      req.insert(name, value);
    }
    if (!has_host) req.set(http::field::host, url_->Authority());
    if (req.find(http::field::user_agent) == req.end()) req.set(http::field::user_agent, "airlock");
    req.body() = request_.body;
    if (!request_.body.empty() || request_.method == "POST" || request_.method == "PUT") {
      req.prepare_payload();
    }

    error_code ec;
    co_await conn_->With([&](auto& stream) {
      return http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
    });
    if (done_) co_return HttpResult{};
    if (ec) {
      if (reused && IsClosedByPeer(ec)) {
        *stale = true;
        co_return HttpResult{};
      }
      co_return Fail(absl::UnavailableError(
          absl::StrCat("sending the request to ", where(), " failed: ", ec.message())));
    }

    stage_ = HttpStage::kAwaitHead;
    http::response_parser<http::buffer_body> parser;
    // Unlimited (streamed). Not boost::none: Boost 1.74 compares Content-Length against an
    // empty optional and reports body_limit.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.header_limit(client_->options.max_header_bytes);
    if (request_.method == "HEAD") parser.skip(true);
    co_await conn_->With([&](auto& stream) {
      return http::async_read_header(stream, conn_->buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    });
    if (done_) co_return HttpResult{};
    if (ec) {
      if (reused && IsClosedByPeer(ec) && !parser.got_some()) {
        *stale = true;
        co_return HttpResult{};
      }
      co_return Fail(ReadError(ec, "before sending a response"));
    }

    HttpResponseHead head;
    head.status = static_cast<int>(parser.get().result_int());
    head.reason = std::string(parser.get().reason());
    for (const auto& field : parser.get()) {
      head.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    if (handlers_.on_head) handlers_.on_head(head);
    if (CancelledByHandler()) co_return HttpResult{};

    stage_ = HttpStage::kReadBody;
    while (!parser.is_done()) {
      if (!Arm(options_.idle_timeout, Reason::kIdleTimeout)) co_return HttpResult{};
      parser.get().body().data = conn_->body_chunk.get();
      parser.get().body().size = kReadChunk;
      co_await conn_->With([&](auto& stream) {
        return http::async_read_some(stream, conn_->buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
      });
      if (done_) co_return HttpResult{};
      if (ec == http::error::need_buffer) ec = {};
      size_t n = kReadChunk - parser.get().body().size;
      if (n > 0 && handlers_.on_body) {
        handlers_.on_body(std::string_view(conn_->body_chunk.get(), n));
        if (CancelledByHandler()) co_return HttpResult{};
      }
      if (ec) co_return Fail(ReadError(ec, "in the middle of the response body"));
    }
    keep_alive_ = parser.get().keep_alive();
    stage_ = HttpStage::kDone;
    co_return HttpResult{};
  }

  static bool IsClosedByPeer(const error_code& ec) {
    return ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == http::error::end_of_stream ||
           ec == asio::ssl::error::stream_truncated;
  }

  absl::Status ReadError(const error_code& ec, std::string_view when) {
    if (IsClosedByPeer(ec) || ec == http::error::partial_message) {
      return absl::UnavailableError(
          absl::StrCat(where(), " closed the connection ", Sv(when), " (", ec.message(), ")"));
    }
    if (ec.category() == error_code(http::error::need_more).category()) {  // a Beast parse error
      return absl::InternalError(
          absl::StrCat("malformed HTTP response from ", where(), ": ", ec.message()));
    }
    return absl::UnavailableError(
        absl::StrCat("reading the response from ", where(), " failed: ", ec.message()));
  }

  // A handler called Cancel(): end now, without waiting for the posted abort.
  bool CancelledByHandler() {
    if (!cancelled_.load()) return false;
    Abort(Reason::kCancelled);
    return true;
  }

  // Closes the connection and ends the call with the reason's status.
  void Abort(Reason reason) {
    if (done_) return;
    resolver_.cancel();
    if (conn_) conn_->Close();
    std::string limit = absl::StrCat(phase_limit_.count(), "ms");
    absl::Status status;
    switch (reason) {
      case Reason::kCancelled:
        status = absl::CancelledError(absl::StrCat("request to ", where(), " cancelled"));
        break;
      case Reason::kConnectTimeout:
        status = absl::UnavailableError(
            absl::StrCat("connecting to ", where(), " timed out after ", limit));
        break;
      case Reason::kFirstByteTimeout:
        status = absl::UnavailableError(
            absl::StrCat(where(), " sent no response within ", limit, " (first-byte timeout)"));
        break;
      case Reason::kIdleTimeout:
        status = absl::UnavailableError(absl::StrCat(
            where(), " sent nothing for ", limit, " in the middle of the response (idle timeout)"));
        break;
      case Reason::kDeadline:
        status = absl::DeadlineExceededError(
            absl::StrCat("deadline exceeded in the request to ", where()));
        break;
    }
    Finish(Fail(std::move(status)));
  }

  void Finish(HttpResult result) {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    // Not released to the pool: close it. The object itself stays until Run ends, since an
    // operation in flight still refers to its socket and buffer.
    if (conn_) conn_->Close();
    HttpHandlers handlers = std::move(handlers_);
    handlers_ = {};
    handlers.on_done(result);
  }

  const std::shared_ptr<HttpClient::Impl> client_;
  const HttpRequest request_;
  const HttpCallOptions options_;
  HttpHandlers handlers_;
  Strand strand_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::atomic<bool> cancelled_{false};

  std::optional<Url> url_;
  std::unique_ptr<Connection> conn_;
  HttpStage stage_ = HttpStage::kAllowlist;
  bool done_ = false;
  bool keep_alive_ = false;
  Clock::time_point expiry_ = options_.deadline;
  Reason expiry_reason_ = Reason::kDeadline;
  std::chrono::milliseconds phase_limit_{0};
};

}  // namespace

HttpClient::HttpClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() = default;

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(asio::io_context& io,
                                                               HttpClientOptions options) {
  auto impl = std::make_shared<Impl>(io, std::move(options));
  if (absl::Status s = impl->InitTls(); !s.ok()) return s;
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

std::shared_ptr<HttpCall> HttpClient::Send(HttpRequest request, HttpCallOptions options,
                                           HttpHandlers handlers, std::optional<Strand> strand) {
  auto call = std::make_shared<Call>(impl_, std::move(request), options, std::move(handlers),
                                     strand ? std::move(*strand) : asio::make_strand(impl_->io));
  call->Start();
  return call;
}

size_t HttpClient::IdleConnections() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  size_t n = 0;
  for (const auto& [key, list] : impl_->idle) n += list.size();
  return n;
}

}  // namespace airlock::gateway
