#include "gateway/metrics.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace airlock::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// The label values of one observation, joined with '\0', in a per-thread buffer so that the
// common case (the series exists) does not allocate.
std::string_view Key(std::initializer_list<std::string_view> parts) {
  thread_local std::string buf;
  buf.clear();
  bool first = true;
  for (std::string_view p : parts) {
    if (!first) buf.push_back('\0');
    first = false;
    buf.append(p);
  }
  return buf;
}

std::vector<std::string_view> SplitKey(std::string_view key, size_t n) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i + 1 < n; ++i) {
    size_t z = key.find('\0');
    out.push_back(key.substr(0, z));
    key = z == std::string_view::npos ? std::string_view() : key.substr(z + 1);
  }
  out.push_back(key);
  return out;
}

void AppendEscapedLabel(std::string* out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

void AppendNumber(std::string* out, double v, bool fixed = false) {
  if (std::isnan(v)) {
    out->append("NaN");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
  } else {
    char buf[64];
    auto r = fixed ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                   : std::to_chars(buf, buf + sizeof buf, v);
    out->append(buf, r.ptr);
  }
}

// `name{l1="v1",l2="v2"[,extra]} `
void AppendSeries(std::string* out, std::string_view name,
                  const std::vector<std::string_view>& labels,
                  const std::vector<std::string_view>& values, std::string_view extra = {}) {
  out->append(name);
  if (!labels.empty() || !extra.empty()) {
    out->push_back('{');
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out->push_back(',');
      out->append(labels[i]);
      out->append("=\"");
      AppendEscapedLabel(out, values[i]);
      out->push_back('"');
    }
    if (!extra.empty()) {
      if (!labels.empty()) out->push_back(',');
      out->append(extra);
    }
    out->push_back('}');
  }
  out->push_back(' ');
}

void AppendHeader(std::string* out, std::string_view name, std::string_view help,
                  std::string_view type) {
  for (std::string_view part :
       {std::string_view("# HELP "), name, std::string_view(" "), help,
        std::string_view("\n# TYPE "), name, std::string_view(" "), type, std::string_view("\n")}) {
    out->append(part);
  }
}

void AppendHistogram(std::string* out, std::string_view name,
                     const std::vector<std::string_view>& labels,
                     const std::vector<std::string_view>& values, const Metrics::Histogram& h) {
  std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= Metrics::kBuckets.size(); ++i) {
    cumulative += h.counts[i].load(std::memory_order_relaxed);
    std::string le = "le=\"";
    AppendNumber(&le, i < Metrics::kBuckets.size() ? Metrics::kBuckets[i] : INFINITY, true);
    le.push_back('"');
    AppendSeries(out, bucket, labels, values, le);
    absl::StrAppend(out, cumulative, "\n");
  }
  AppendSeries(out, std::string(name) + "_sum", labels, values);
  AppendNumber(out, h.sum.load(std::memory_order_relaxed));
  out->push_back('\n');
  AppendSeries(out, std::string(name) + "_count", labels, values);
  absl::StrAppend(out, cumulative, "\n");
}

template <typename T, typename Fn>
void ForEachSeries(const Metrics::Family<T>& family, size_t nlabels, Fn fn) {
  std::shared_lock lock(family.mu);
  for (const auto& [key, value] : family.series) fn(SplitKey(key, nlabels), *value);
}

}  // namespace

template <typename T>
T& Metrics::Family<T>::Get(std::string_view key) {
  {
    std::shared_lock lock(mu);
    if (auto it = series.find(key); it != series.end()) return *it->second;
  }
  std::unique_lock lock(mu);
  auto [it, inserted] = series.try_emplace(std::string(key), nullptr);
  if (inserted) it->second = std::make_unique<T>();
  return *it->second;
}

void Metrics::Histogram::Observe(double seconds) {
  if (std::isnan(seconds)) return;
  if (seconds < 0) seconds = 0;
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  counts[i].fetch_add(1, std::memory_order_relaxed);
  sum.fetch_add(seconds, std::memory_order_relaxed);
}

Metrics::Metrics() = default;
Metrics::~Metrics() = default;

void Metrics::RequestDone(std::string_view target, std::string_view rule,
                          std::string_view outcome) {
  requests_.Get(Key({target, rule, outcome})).fetch_add(1, std::memory_order_relaxed);
}

void Metrics::ObserveStage(std::string_view stage, double seconds) {
  stages_.Get(Key({stage})).Observe(seconds);
}

void Metrics::ObserveRequest(double seconds) { request_.Observe(seconds); }

void Metrics::InFlightAdd(int delta) { in_flight_.fetch_add(delta, std::memory_order_relaxed); }

void Metrics::UpstreamError(std::string_view target, std::string_view code) {
  upstream_errors_.Get(Key({target, code})).fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::Render() const {
  std::string out;
  out.reserve(8192);
  using Counter = std::atomic<uint64_t>;

  AppendHeader(&out, "airlock_requests_total", "Requests finished, by target, rule and outcome.",
               "counter");
  ForEachSeries(requests_, 3, [&](const std::vector<std::string_view>& v, const Counter& c) {
    AppendSeries(&out, "airlock_requests_total", {"target", "rule", "outcome"}, v);
    absl::StrAppend(&out, c.load(std::memory_order_relaxed), "\n");
  });

  AppendHeader(&out, "airlock_upstream_errors_total",
               "Failed dispatches to a target, by target and status code.", "counter");
  ForEachSeries(upstream_errors_, 2, [&](const std::vector<std::string_view>& v, const Counter& c) {
    AppendSeries(&out, "airlock_upstream_errors_total", {"target", "code"}, v);
    absl::StrAppend(&out, c.load(std::memory_order_relaxed), "\n");
  });

  AppendHeader(&out, "airlock_stage_seconds", "Time spent in each pipeline stage.", "histogram");
  ForEachSeries(stages_, 1, [&](const std::vector<std::string_view>& v, const Histogram& h) {
    AppendHistogram(&out, "airlock_stage_seconds", {"stage"}, v, h);
  });

  AppendHeader(&out, "airlock_request_seconds", "Total time of each request.", "histogram");
  AppendHistogram(&out, "airlock_request_seconds", {}, {}, request_);

  AppendHeader(&out, "airlock_in_flight", "Requests in flight.", "gauge");
  absl::StrAppend(&out, "airlock_in_flight ", in_flight_.load(std::memory_order_relaxed), "\n");
  return out;
}

// --- MetricsServer -------------------------------------------------------------------------

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Metrics* metrics)
      : stream_(std::move(socket)), metrics_(metrics) {}

  void Read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, req_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->Respond();
                     });
  }

 private:
  void Respond() {
    res_ = {};
    res_.version(req_.version());
    res_.keep_alive(req_.keep_alive());
    res_.set(http::field::server, "airlock");
    std::string_view target(req_.target().data(), req_.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics") {
      res_.result(http::status::not_found);
      res_.set(http::field::content_type, "text/plain; charset=utf-8");
      res_.body() = "not found; metrics are at /metrics\n";
    } else if (req_.method() != http::verb::get && req_.method() != http::verb::head) {
      res_.result(http::status::method_not_allowed);
      res_.set(http::field::allow, "GET, HEAD");
      res_.set(http::field::content_type, "text/plain; charset=utf-8");
      res_.body() = "method not allowed\n";
    } else {
      res_.result(http::status::ok);
      res_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res_.body() = metrics_->Render();
    }
    res_.prepare_payload();
    if (req_.method() == http::verb::head) res_.body().clear();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      if (self->res_.keep_alive()) {
        self->Read();
      } else {
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      }
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  const Metrics* metrics_;
};

}  // namespace

struct MetricsServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  const Metrics* metrics = nullptr;
  bool started = false;

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) std::make_shared<Session>(std::move(socket), metrics)->Read();
      Accept();
    });
  }
};

MetricsServer::MetricsServer(const Metrics* metrics)
    : metrics_(metrics), impl_(std::make_unique<Impl>()) {
  impl_->metrics = metrics_;
}

MetricsServer::~MetricsServer() { Stop(); }

absl::StatusOr<int> MetricsServer::Start(const std::string& listen) {
  if (impl_->started) return absl::FailedPreconditionError("metrics server already started");
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen address '", listen, "' is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  beast::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto results =
      resolver.resolve(host, port, tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen address '", listen, "': cannot resolve: ", ec.message()));
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  auto fail = [&](const char* what) {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    return absl::UnavailableError(
        absl::StrCat("metrics listen address '", listen, "': ", what, ": ", ec.message()));
  };
  if (impl_->acceptor.open(endpoint.protocol(), ec)) return fail("open");
  if (impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec)) {
    return fail("set_option");
  }
  if (impl_->acceptor.bind(endpoint, ec)) return fail("bind");
  if (impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec)) {
    return fail("listen");
  }
  int bound = impl_->acceptor.local_endpoint(ec).port();
  if (ec) return fail("local_endpoint");
  impl_->started = true;
  impl_->Accept();
  impl_->thread = std::thread([impl = impl_.get()] {
    while (true) {
      try {
        impl->io.run();
        return;
      } catch (...) {  // a handler threw (out of memory): keep serving
      }
    }
  });
  return bound;
}

void MetricsServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->io.stop();
  });
  impl_->thread.join();
}

}  // namespace airlock::gateway
