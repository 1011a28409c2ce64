// bench_gateway_overhead: the latency and throughput that a gateway adds in front of an
// OpenAI-compatible upstream that answers at once (bench_fake_upstream). In one run, for each
// mode (unary, stream) and each number of concurrent clients, it measures side by side:
//
//   direct      clients -> fake upstream                    HTTP/1.1 keep-alive, JSON / SSE
//   grpc-floor  clients -> bench_grpc_floor (gRPC)          Chat / ChatStream answered at once:
//                                                           the gRPC transport's own cost
//   airlock     clients -> airlockd (gRPC) -> fake upstream Chat / ChatStream, x-api-key
//   litellm  clients -> LiteLLM proxy (HTTP) -> fake up.    OpenAI-compatible, keep-alive
//
// Each client is one thread with its own connection (HTTP) or channel (gRPC; see
// --grpc-channels), sending one request after the other. A cell runs for a warm-up period
// (not measured) and then a fixed duration; a request counts when it started after the warm-up
// and succeeded. Latency is from sending the request to the complete answer (streaming: the
// last message, i.e. `data: [DONE]` or the end of the gRPC stream).
//
//   bench_gateway_overhead --upstream-port P [--airlock-port P --api-key KEY] [--floor-port P]
//                          [--litellm-port P [--litellm-key KEY] [--litellm-model NAME]]
//                          [--clients 1,16,64] [--modes unary,stream] [--duration-s 3]
//                          [--warmup-s 0.5] [--grpc-channels 0] [--model bench-model]
//
// The table goes to stdout, progress to stderr. Exit status: 0 when every cell ran (errors in
// a cell are reported in its row), 2 on bad arguments. See README.md in this folder.
#include <utility>  // before Boost 1.74's asio headers, which use std::exchange

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "airlock/v1/gateway.grpc.pb.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kPrompt = "Say hello to the benchmark in five words.";
constexpr int kMaxTokens = 16;

struct Options {
  int upstream_port = 0;
  int airlock_port = 0;
  int floor_port = 0;
  std::string api_key;
  int litellm_port = 0;
  std::string litellm_key;
  std::string litellm_model = "bench";
  std::string model = "bench-model";
  std::vector<int> clients = {1, 16, 64};
  std::vector<bool> modes = {false, true};  // stream?
  double duration_s = 3.0;
  double warmup_s = 0.5;
  int grpc_channels = 0;  // 0: one per client
};

// One client: one connection, one request at a time. Call() returns false and sets *error on
// failure; the next Call() reconnects if needed.
class Client {
 public:
  virtual ~Client() = default;
  virtual bool Connect(std::string* error) = 0;
  virtual bool Call(std::string* error) = 0;
};

// ---------------------------------------------------------------- HTTP (direct, LiteLLM)

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

class HttpClient : public Client {
 public:
  HttpClient(int port, const std::string& model, const std::string& bearer, bool stream)
      : port_(port), stream_(stream), socket_(io_) {
    std::string body = R"({"model":")" + JsonEscape(model) +
                       R"(","messages":[{"role":"user","content":")" + JsonEscape(kPrompt) +
                       R"("}],"max_tokens":)" + std::to_string(kMaxTokens);
    body += stream ? R"(,"stream":true,"stream_options":{"include_usage":true}})"
                   : R"(,"stream":false})";
    request_ = http::request<http::string_body>(http::verb::post, "/v1/chat/completions", 11);
    request_.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    request_.set(http::field::content_type, "application/json");
    request_.set(http::field::accept, stream ? "text/event-stream" : "application/json");
    if (!bearer.empty()) request_.set(http::field::authorization, "Bearer " + bearer);
    request_.keep_alive(true);
    request_.body() = std::move(body);
    request_.prepare_payload();
  }

  bool Connect(std::string* error) override {
    beast::error_code ec;
    socket_.close(ec);
    buffer_.clear();
    socket_.connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)), ec);
    if (ec) {
      *error = "connect 127.0.0.1:" + std::to_string(port_) + ": " + ec.message();
      return false;
    }
    socket_.set_option(tcp::no_delay(true), ec);
    connected_ = true;
    return true;
  }

  bool Call(std::string* error) override {
    if (!connected_ && !Connect(error)) return false;
    beast::error_code ec;
    http::write(socket_, request_, ec);
    if (ec) return Fail("write: " + ec.message(), error);
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    http::read(socket_, buffer_, parser, ec);
    if (ec) return Fail("read: " + ec.message(), error);
    const auto& res = parser.get();
    if (res.result() != http::status::ok) {
      return Fail("HTTP " + std::to_string(res.result_int()) + ": " + res.body().substr(0, 300),
                  error);
    }
    const std::string& body = res.body();
    if (stream_ ? body.find("data: [DONE]") == std::string::npos
                : body.find("\"choices\"") == std::string::npos) {
      return Fail(std::string(stream_ ? "stream without [DONE]" : "no choices") + ": " +
                      body.substr(0, 300),
                  error);
    }
    if (!res.keep_alive()) connected_ = false;
    return true;
  }

 private:
  bool Fail(std::string message, std::string* error) {
    *error = std::move(message);
    connected_ = false;
    return false;
  }

  int port_;
  bool stream_;
  net::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  bool connected_ = false;
};

// ---------------------------------------------------------------- gRPC (airlock)

class GrpcClient : public Client {
 public:
  GrpcClient(std::shared_ptr<grpc::Channel> channel, std::string api_key, bool stream)
      : channel_(std::move(channel)),
        stub_(airlock::v1::Gateway::NewStub(channel_)),
        api_key_(std::move(api_key)),
        stream_(stream) {
    auto* m = request_.add_messages();
    m->set_role(airlock::v1::Message::USER);
    m->set_content(std::string(kPrompt));
    request_.mutable_sampling()->set_max_tokens(kMaxTokens);
  }

  bool Connect(std::string* error) override {
    if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
      *error = "gRPC channel did not connect within 5 s";
      return false;
    }
    return true;
  }

  bool Call(std::string* error) override {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-api-key", api_key_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!stream_) {
      airlock::v1::ChatResponse res;
      grpc::Status s = stub_->Chat(&ctx, request_, &res);
      if (!s.ok()) return Fail(s, error);
      if (res.content().empty() || res.route().target().empty()) {
        *error = "Chat: empty content or route";
        return false;
      }
      return true;
    }
    auto reader = stub_->ChatStream(&ctx, request_);
    airlock::v1::ChatStreamResponse msg;
    int messages = 0;
    bool finished = false;
    while (reader->Read(&msg)) {
      ++messages;
      if (!msg.finish_reason().empty()) finished = true;
    }
    grpc::Status s = reader->Finish();
    if (!s.ok()) return Fail(s, error);
    if (!finished) {
      *error = "ChatStream: no finish_reason in " + std::to_string(messages) + " messages";
      return false;
    }
    return true;
  }

 private:
  static bool Fail(const grpc::Status& s, std::string* error) {
    *error =
        "gRPC code " + std::to_string(static_cast<int>(s.error_code())) + ": " + s.error_message();
    return false;
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<airlock::v1::Gateway::Stub> stub_;
  std::string api_key_;
  bool stream_;
  airlock::v1::ChatRequest request_;
};

std::shared_ptr<grpc::Channel> NewChannel(int port) {
  grpc::ChannelArguments args;
  // Without this, channels with equal arguments share one subchannel (one TCP connection).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(16 << 20);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

// ---------------------------------------------------------------- measurement

struct Cell {
  std::string path;
  bool stream = false;
  int clients = 0;
  uint64_t ok = 0;
  uint64_t errors = 0;
  double rps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double client_cpu_us = 0;  // this process's CPU time per successful request
  std::string first_error;
  bool ran = false;
};

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  size_t rank = static_cast<size_t>(q * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, v.size());
  std::nth_element(v.begin(), v.begin() + static_cast<long>(rank - 1), v.end());
  return v[rank - 1];
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

using ClientFactory = std::function<std::unique_ptr<Client>(int index, bool stream)>;

Cell RunCell(const std::string& path, const ClientFactory& factory, bool stream, int n,
             const Options& opt) {
  Cell cell{.path = path, .stream = stream, .clients = n};
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < n; ++i) {
    clients.push_back(factory(i, stream));
    std::string error;
    if (!clients.back()->Connect(&error)) {
      cell.first_error = error;
      return cell;
    }
  }
  struct PerThread {
    std::vector<double> latencies_ms;
    uint64_t errors = 0;
    Clock::time_point last_done{};
  };
  std::vector<PerThread> results(static_cast<size_t>(n));
  std::mutex error_mu;
  std::latch start(n + 1);
  Clock::time_point warm_end, end;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      PerThread& r = results[static_cast<size_t>(i)];
      r.latencies_ms.reserve(1 << 16);
      Client& client = *clients[static_cast<size_t>(i)];
      start.arrive_and_wait();
      std::string error;
      for (;;) {
        const Clock::time_point t0 = Clock::now();
        if (t0 >= end) break;
        const bool ok = client.Call(&error);
        const Clock::time_point t1 = Clock::now();
        if (t0 < warm_end) continue;
        r.last_done = t1;
        if (ok) {
          r.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        } else {
          ++r.errors;
          {
            std::lock_guard<std::mutex> lock(error_mu);
            if (cell.first_error.empty()) cell.first_error = error;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(1));  // no hot error loop
        }
      }
    });
  }
  const double cpu_before = CpuSeconds();
  const Clock::time_point t_start = Clock::now();
  warm_end = t_start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(opt.warmup_s));
  end = warm_end +
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration_s));
  start.arrive_and_wait();  // publishes warm_end and end to the threads
  for (auto& t : threads) t.join();
  const double cpu = CpuSeconds() - cpu_before;

  std::vector<double> all;
  Clock::time_point last = warm_end;
  for (auto& r : results) {
    all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    cell.errors += r.errors;
    last = std::max(last, r.last_done);
  }
  cell.ok = all.size();
  const double secs = std::chrono::duration<double>(last - warm_end).count();
  cell.rps = secs > 0 ? static_cast<double>(cell.ok) / secs : 0;
  cell.p50_ms = Percentile(all, 0.50);
  cell.p99_ms = Percentile(all, 0.99);
  // Includes the warm-up; scaled by the share of requests measured, roughly.
  const double total = std::chrono::duration<double>(last - t_start).count();
  if (cell.ok > 0 && total > 0) cell.client_cpu_us = cpu * 1e6 * (secs / total) / cell.ok;
  cell.ran = true;
  return cell;
}

// ---------------------------------------------------------------- output

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string Signed(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%+.3f", v);
  return buf;
}

void PrintTable(const std::vector<Cell>& cells) {
  std::printf("%-10s %-7s %7s %9s %9s %9s %10s %10s %8s\n", "path", "mode", "clients", "rps",
              "p50 ms", "p99 ms", "+p50 ms", "+p99 ms", "errors");
  const Cell* direct = nullptr;
  for (const Cell& c : cells) {
    if (c.path == "direct") direct = &c;
    const bool base = direct && direct->ran && direct->ok > 0 && direct->stream == c.stream &&
                      direct->clients == c.clients && c.path != "direct";
    const char* mode = c.stream ? "stream" : "unary";
    if (!c.ran || c.ok == 0) {
      std::printf("%-10s %-7s %7d %9s %9s %9s %10s %10s %8llu  %s\n", c.path.c_str(), mode,
                  c.clients, "-", "-", "-", "-", "-", static_cast<unsigned long long>(c.errors),
                  c.first_error.substr(0, 120).c_str());
      continue;
    }
    std::printf("%-10s %-7s %7d %9s %9s %9s %10s %10s %8llu\n", c.path.c_str(), mode, c.clients,
                Fixed(c.rps, 0).c_str(), Fixed(c.p50_ms, 3).c_str(), Fixed(c.p99_ms, 3).c_str(),
                base ? Signed(c.p50_ms - direct->p50_ms).c_str() : "-",
                base ? Signed(c.p99_ms - direct->p99_ms).c_str() : "-",
                static_cast<unsigned long long>(c.errors));
  }
  for (const Cell& c : cells) {
    if (!c.first_error.empty() && c.ok > 0) {
      std::printf("  %s %s %d: first error: %s\n", c.path.c_str(), c.stream ? "stream" : "unary",
                  c.clients, c.first_error.substr(0, 200).c_str());
    }
  }
}

const Cell* FindCell(const std::vector<Cell>& cells, const std::string& path, bool stream,
                     int clients) {
  for (const Cell& c : cells) {
    if (c.path == path && c.stream == stream && c.clients == clients && c.ran && c.ok > 0) {
      return &c;
    }
  }
  return nullptr;
}

// The issue's goal: at 16 clients, airlock adds at most 0.3 ms at p50 and 1 ms at p99. When
// the gRPC floor ran, also what airlockd adds over the gRPC transport alone.
void PrintGoal(const std::vector<Cell>& cells) {
  for (bool stream : {false, true}) {
    const Cell* a = FindCell(cells, "airlock", stream, 16);
    const Cell* d = FindCell(cells, "direct", stream, 16);
    if (a == nullptr || d == nullptr) continue;
    const char* mode = stream ? "stream" : "unary";
    const double p50 = a->p50_ms - d->p50_ms, p99 = a->p99_ms - d->p99_ms;
    std::printf(
        "goal (16 clients, %s): airlock adds p50 %s ms (goal <= 0.3), p99 %s ms "
        "(goal <= 1.0): %s\n",
        mode, Signed(p50).c_str(), Signed(p99).c_str(),
        p50 <= 0.3 && p99 <= 1.0 ? "met" : "NOT met");
    if (const Cell* f = FindCell(cells, "grpc-floor", stream, 16)) {
      std::printf(
          "  of which the gRPC transport alone (grpc-floor - direct): p50 %s ms, p99 %s ms; "
          "airlockd's own work (airlock - grpc-floor): p50 %s ms, p99 %s ms\n",
          Signed(f->p50_ms - d->p50_ms).c_str(), Signed(f->p99_ms - d->p99_ms).c_str(),
          Signed(a->p50_ms - f->p50_ms).c_str(), Signed(a->p99_ms - f->p99_ms).c_str());
    }
  }
}

// ---------------------------------------------------------------- arguments

int PrintUsage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --upstream-port P [--airlock-port P --api-key KEY] [--floor-port P]\n"
               "          [--litellm-port P [--litellm-key KEY] [--litellm-model NAME]]\n"
               "          [--clients 1,16,64] [--modes unary,stream] [--duration-s 3]\n"
               "          [--warmup-s 0.5] [--grpc-channels 0] [--model bench-model]\n",
               argv0);
  return 2;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::optional<Options> ParseArgs(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return std::nullopt;
    const std::string v = argv[++i];
    if (a == "--upstream-port") {
      opt.upstream_port = std::atoi(v.c_str());
    } else if (a == "--airlock-port") {
      opt.airlock_port = std::atoi(v.c_str());
    } else if (a == "--floor-port") {
      opt.floor_port = std::atoi(v.c_str());
    } else if (a == "--api-key") {
      opt.api_key = v;
    } else if (a == "--litellm-port") {
      opt.litellm_port = std::atoi(v.c_str());
    } else if (a == "--litellm-key") {
      opt.litellm_key = v;
    } else if (a == "--litellm-model") {
      opt.litellm_model = v;
    } else if (a == "--model") {
      opt.model = v;
    } else if (a == "--clients") {
      opt.clients.clear();
      for (const auto& c : Split(v)) {
        const int n = std::atoi(c.c_str());
        if (n < 1 || n > 1024) return std::nullopt;
        opt.clients.push_back(n);
      }
    } else if (a == "--modes") {
      opt.modes.clear();
      for (const auto& m : Split(v)) {
        if (m != "unary" && m != "stream") return std::nullopt;
        opt.modes.push_back(m == "stream");
      }
    } else if (a == "--duration-s") {
      opt.duration_s = std::atof(v.c_str());
    } else if (a == "--warmup-s") {
      opt.warmup_s = std::atof(v.c_str());
    } else if (a == "--grpc-channels") {
      opt.grpc_channels = std::atoi(v.c_str());
    } else {
      return std::nullopt;
    }
  }
  if (opt.upstream_port <= 0 || opt.clients.empty() || opt.modes.empty()) return std::nullopt;
  if (opt.duration_s <= 0 || opt.duration_s > 60 || opt.warmup_s < 0 || opt.warmup_s > 10) {
    return std::nullopt;
  }
  if (opt.airlock_port > 0 && opt.api_key.empty()) return std::nullopt;
  return opt;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> parsed = ParseArgs(argc, argv);
  if (!parsed) return PrintUsage(argv[0]);
  const Options& opt = *parsed;

  struct Path {
    std::string name;
    ClientFactory factory;
  };
  std::vector<Path> paths;
  paths.push_back({"direct", [&](int, bool stream) -> std::unique_ptr<Client> {
                     return std::make_unique<HttpClient>(opt.upstream_port, opt.model, "", stream);
                   }});
  std::vector<std::shared_ptr<grpc::Channel>> shared_channels;
  if (opt.airlock_port > 0) {
    for (int i = 0; i < opt.grpc_channels; ++i) {
      shared_channels.push_back(NewChannel(opt.airlock_port));
    }
    paths.push_back(
        {"airlock", [&](int index, bool stream) -> std::unique_ptr<Client> {
           auto channel =
               shared_channels.empty()
                   ? NewChannel(opt.airlock_port)
                   : shared_channels[static_cast<size_t>(index) % shared_channels.size()];
           return std::make_unique<GrpcClient>(std::move(channel), opt.api_key, stream);
         }});
  }
  if (opt.floor_port > 0) {
    paths.push_back({"grpc-floor", [&](int, bool stream) -> std::unique_ptr<Client> {
                       return std::make_unique<GrpcClient>(NewChannel(opt.floor_port), "", stream);
                     }});
  }
  if (opt.litellm_port > 0) {
    paths.push_back({"litellm", [&](int, bool stream) -> std::unique_ptr<Client> {
                       return std::make_unique<HttpClient>(opt.litellm_port, opt.litellm_model,
                                                           opt.litellm_key, stream);
                     }});
  }

  const unsigned cores = std::thread::hardware_concurrency();
  std::fprintf(stderr,
               "bench_gateway_overhead: %zu path(s), %.1f s warm-up + %.1f s per cell, "
               "%u cores\n",
               paths.size(), opt.warmup_s, opt.duration_s, cores);
  std::vector<Cell> cells;
  for (bool stream : opt.modes) {
    for (int n : opt.clients) {
      for (const Path& p : paths) {
        std::fprintf(stderr, "  %-10s %-7s %3d clients ...", p.name.c_str(),
                     stream ? "stream" : "unary", n);
        std::fflush(stderr);
        cells.push_back(RunCell(p.name, p.factory, stream, n, opt));
        const Cell& c = cells.back();
        std::fprintf(stderr, " %llu ok, %llu errors, client CPU %.0f us/request\n",
                     static_cast<unsigned long long>(c.ok),
                     static_cast<unsigned long long>(c.errors), c.client_cpu_us);
      }
    }
  }
  std::printf("\nGateway overhead vs. direct calls to a fake upstream that answers at once\n");
  std::printf(
      "(%u cores; %.1f s per cell after %.1f s warm-up; latency = request to complete "
      "answer;\n +p50/+p99 = path minus direct at the same mode and clients)\n\n",
      cores, opt.duration_s, opt.warmup_s);
  PrintTable(cells);
  std::printf("\n");
  PrintGoal(cells);
  return 0;
}
