// bench_fake_upstream: an OpenAI-compatible chat-completions server that answers at once, the
// upstream that the gateway-overhead benchmark puts behind airlockd, behind LiteLLM, and calls
// directly.
//
//   bench_fake_upstream [--port-file PATH] [--threads N] [--chunks N]
//
// Listens on 127.0.0.1, port 0 (the kernel picks one); prints "port N" on stdout and, with
// --port-file, writes N to PATH (atomically) once listening. HTTP/1.1 with keep-alive.
//
//   POST /v1/chat/completions (also /chat/completions)
//     "stream": false  -> one chat.completion JSON object
//     "stream": true   -> text/event-stream, chunked: one chunk per content delta (the first
//                         also carries role), a chunk with finish_reason "stop", a usage chunk
//                         with empty choices when stream_options.include_usage is true (as
//                         OpenAI sends it), then "data: [DONE]".
//   GET /health, GET /v1/models -> 200
//
// SIGINT/SIGTERM stop it; it then prints how many completions it served.
#include <utility>  // before Boost 1.74's asio/awaitable.hpp, which uses std::exchange

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

struct Options {
  std::string port_file;
  int threads = 2;
  int chunks = 5;
};

std::atomic<uint64_t> g_completions{0};

constexpr std::string_view kWords[] = {"Hello",  " from",    " the", " fake", " upstream", ",",
                                       " which", " answers", " at",  " once", "."};

std::string Content(int chunks) {
  std::string s;
  for (int i = 0; i < chunks; ++i) s += kWords[i % std::size(kWords)];
  return s;
}

long Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Rough token counts: enough for clients that read usage.
int PromptTokens(const nlohmann::json& req) {
  size_t bytes = 0;
  if (auto it = req.find("messages"); it != req.end() && it->is_array()) {
    for (const auto& m : *it) {
      if (auto c = m.find("content"); c != m.end() && c->is_string()) {
        bytes += c->get_ref<const std::string&>().size();
      }
    }
  }
  return static_cast<int>(bytes / 4 + 1);
}

nlohmann::json Usage(int prompt, int completion) {
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion}};
}

std::string UnaryBody(const std::string& model, int prompt, int chunks) {
  nlohmann::json j = {
      {"id", "chatcmpl-bench"},
      {"object", "chat.completion"},
      {"created", Now()},
      {"model", model},
      {"choices",
       nlohmann::json::array({{{"index", 0},
                               {"message", {{"role", "assistant"}, {"content", Content(chunks)}}},
                               {"finish_reason", "stop"}}})},
      {"usage", Usage(prompt, chunks)}};
  return j.dump();
}

std::string Event(const nlohmann::json& j) { return "data: " + j.dump() + "\n\n"; }

std::vector<std::string> StreamEvents(const std::string& model, int prompt, int chunks,
                                      bool include_usage) {
  const long created = Now();
  auto chunk = [&](nlohmann::json choices) {
    return nlohmann::json{{"id", "chatcmpl-bench"},
                          {"object", "chat.completion.chunk"},
                          {"created", created},
                          {"model", model},
                          {"choices", std::move(choices)}};
  };
  std::vector<std::string> events;
  for (int i = 0; i < chunks; ++i) {
    nlohmann::json delta = {{"content", std::string(kWords[i % std::size(kWords)])}};
    if (i == 0) delta["role"] = "assistant";
    events.push_back(Event(chunk(
        nlohmann::json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", nullptr}}}))));
  }
  events.push_back(Event(chunk(nlohmann::json::array(
      {{{"index", 0}, {"delta", nlohmann::json::object()}, {"finish_reason", "stop"}}}))));
  if (include_usage) {
    nlohmann::json last = chunk(nlohmann::json::array());
    last["usage"] = Usage(prompt, chunks);
    events.push_back(Event(last));
  }
  events.push_back("data: [DONE]\n\n");
  return events;
}

net::awaitable<void> WriteSimple(tcp::socket& socket, const http::request<http::string_body>& req,
                                 http::status status, std::string content_type, std::string body) {
  http::response<http::string_body> res{status, req.version()};
  res.set(http::field::server, "bench-fake-upstream");
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  co_await http::async_write(socket, res, net::use_awaitable);
}

net::awaitable<void> HandleCompletion(tcp::socket& socket,
                                      const http::request<http::string_body>& req, int chunks) {
  nlohmann::json body = nlohmann::json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    co_await WriteSimple(
        socket, req, http::status::bad_request, "application/json",
        R"({"error":{"message":"body is not a JSON object","type":"invalid_request_error"}})");
    co_return;
  }
  const std::string model = body.value("model", std::string("bench-model"));
  const bool stream = body.value("stream", false);
  const int prompt = PromptTokens(body);
  g_completions.fetch_add(1, std::memory_order_relaxed);
  if (!stream) {
    co_await WriteSimple(socket, req, http::status::ok, "application/json",
                         UnaryBody(model, prompt, chunks));
    co_return;
  }
  bool include_usage = false;
  if (auto it = body.find("stream_options"); it != body.end() && it->is_object()) {
    include_usage = it->value("include_usage", false);
  }
  http::response<http::empty_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "bench-fake-upstream");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(req.keep_alive());
  res.chunked(true);
  http::response_serializer<http::empty_body> sr{res};
  co_await http::async_write_header(socket, sr, net::use_awaitable);
  for (const std::string& ev : StreamEvents(model, prompt, chunks, include_usage)) {
    co_await net::async_write(socket, http::make_chunk(net::buffer(ev)), net::use_awaitable);
  }
  co_await net::async_write(socket, http::make_chunk_last(), net::use_awaitable);
}

net::awaitable<void> Session(tcp::socket socket, int chunks) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  beast::flat_buffer buffer;
  try {
    for (;;) {
      http::request<http::string_body> req;
      co_await http::async_read(socket, buffer, req, net::use_awaitable);
      const std::string_view target(req.target().data(), req.target().size());
      const std::string_view path = target.substr(0, target.find('?'));
      if (req.method() == http::verb::post &&
          (path == "/v1/chat/completions" || path == "/chat/completions")) {
        co_await HandleCompletion(socket, req, chunks);
      } else if (req.method() == http::verb::get && path == "/health") {
        co_await WriteSimple(socket, req, http::status::ok, "application/json",
                             R"({"status":"ok"})");
      } else if (req.method() == http::verb::get && (path == "/v1/models" || path == "/models")) {
        co_await WriteSimple(
            socket, req, http::status::ok, "application/json",
            R"({"object":"list","data":[{"id":"bench-model","object":"model","owned_by":"bench"}]})");
      } else {
        co_await WriteSimple(socket, req, http::status::not_found, "application/json",
                             R"({"error":{"message":"not found","type":"invalid_request_error"}})");
      }
      if (!req.keep_alive()) break;
    }
  } catch (const boost::system::system_error&) {
    // Peer closed or sent garbage: drop the connection.
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

net::awaitable<void> Listen(tcp::acceptor& acceptor, int chunks) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (ec == net::error::operation_aborted) co_return;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    net::co_spawn(acceptor.get_executor(), Session(std::move(socket), chunks), net::detached);
  }
}

int PrintUsage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--port-file PATH] [--threads N] [--chunks N]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) return PrintUsage(argv[0]);
    if (a == "--port-file") {
      opt.port_file = argv[++i];
    } else if (a == "--threads") {
      opt.threads = std::atoi(argv[++i]);
    } else if (a == "--chunks") {
      opt.chunks = std::atoi(argv[++i]);
    } else {
      return PrintUsage(argv[0]);
    }
  }
  if (opt.threads < 1 || opt.chunks < 1) return PrintUsage(argv[0]);

  net::io_context io(opt.threads);
  tcp::acceptor acceptor(io);
  try {
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor.open(ep.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(net::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "bench_fake_upstream: cannot listen: %s\n", e.what());
    return 1;
  }
  const unsigned short port = acceptor.local_endpoint().port();

  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    beast::error_code ec;
    acceptor.close(ec);
    io.stop();
  });
  net::co_spawn(io, Listen(acceptor, opt.chunks), net::detached);

  std::printf("port %u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
  if (!opt.port_file.empty()) {
    const std::string tmp = opt.port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), opt.port_file.c_str());  // readers never see a partial file
  }

  std::vector<std::thread> threads;
  for (int i = 1; i < opt.threads; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
  std::printf("served %llu completions\n", static_cast<unsigned long long>(g_completions.load()));
  return 0;
}
