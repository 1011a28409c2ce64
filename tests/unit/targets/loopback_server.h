// Test helpers for the targets tests: a blocking HTTP/1.1 (optionally TLS) server on
// 127.0.0.1 port 0 whose answers a test scripts byte by byte, a certificate authority made
// at test time with the OpenSSL API, and temporary files.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace airlock::gateway::testutil {

// ---------------------------------------------------------------------------------------------
// PKI

struct Pem {
  std::string cert;
  std::string key;
};

namespace detail {

inline std::string ToPem(const std::function<int(BIO*)>& write) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (write(bio) != 1) throw std::runtime_error("PEM write failed");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// A certificate for `key`, signed by `signer_key` (`issuer` null: self-signed).
inline X509* MakeCert(EVP_PKEY* key, EVP_PKEY* signer_key, X509* issuer, const std::string& cn,
                      bool ca, const std::string& san) {
  static std::atomic<long> serial{1000};
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  auto add = [&](int nid, const char* value) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!e) throw std::runtime_error(std::string("bad extension ") + value);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  };
  add(NID_subject_key_identifier, "hash");
  if (ca) {
    add(NID_basic_constraints, "critical,CA:TRUE");
    add(NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add(NID_basic_constraints, "CA:FALSE");
    add(NID_key_usage, "critical,digitalSignature");
    add(NID_ext_key_usage, "serverAuth");
    add(NID_subject_alt_name, san.c_str());
    add(NID_authority_key_identifier, "keyid");
  }
  if (X509_sign(x, signer_key, EVP_sha256()) == 0) throw std::runtime_error("X509_sign failed");
  return x;
}

}  // namespace detail

// A CA and a server certificate it signed, for `san` (OpenSSL syntax, e.g.
// "DNS:localhost,IP:127.0.0.1").
struct TestPki {
  Pem ca;
  Pem server;

  static TestPki Generate(const std::string& ca_name = "Airlock Test CA",
                          const std::string& san = "DNS:localhost,IP:127.0.0.1") {
    EVP_PKEY* ca_key = EVP_EC_gen("P-256");
    EVP_PKEY* server_key = EVP_EC_gen("P-256");
    if (!ca_key || !server_key) throw std::runtime_error("EC key generation failed");
    X509* ca_cert = detail::MakeCert(ca_key, ca_key, nullptr, ca_name, true, "");
    X509* server_cert =
        detail::MakeCert(server_key, ca_key, ca_cert, "airlock-test-server", false, san);
    TestPki pki;
    pki.ca.cert = detail::ToPem([&](BIO* b) { return PEM_write_bio_X509(b, ca_cert); });
    pki.ca.key = detail::ToPem([&](BIO* b) {
      return PEM_write_bio_PrivateKey(b, ca_key, nullptr, nullptr, 0, nullptr, nullptr);
    });
    pki.server.cert = detail::ToPem([&](BIO* b) { return PEM_write_bio_X509(b, server_cert); });
    pki.server.key = detail::ToPem([&](BIO* b) {
      return PEM_write_bio_PrivateKey(b, server_key, nullptr, nullptr, 0, nullptr, nullptr);
    });
    X509_free(server_cert);
    X509_free(ca_cert);
    EVP_PKEY_free(server_key);
    EVP_PKEY_free(ca_key);
    return pki;
  }
};

// A file with the given content, removed when this goes away.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/airlock-targets-test-XXXXXX";
    int fd = ::mkstemp(name);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    path_ = name;
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------------
// Server

struct ServerRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

// One request on one connection, handed to the test's handler (on the connection's thread).
class Exchange {
 public:
  Exchange(const ServerRequest& request, std::function<bool(std::string_view)> write, int fd)
      : request_(request), write_(std::move(write)), fd_(fd) {}

  const ServerRequest& request() const { return request_; }

  // Raw bytes onto the connection; false when the write failed (the client is gone).
  bool Write(std::string_view bytes) { return write_(bytes); }

  // A complete response with Content-Length.
  bool Respond(int status, std::string_view content_type, std::string_view body) {
    std::string head = "HTTP/1.1 " + std::to_string(status) +
                       " X\r\nContent-Type: " + std::string(content_type) +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    if (!keep_alive) head += "Connection: close\r\n";
    return Write(head + "\r\n" + std::string(body));
  }

  // A chunked response: the head, then Chunk() any number of times, then EndChunks().
  bool StartChunked(int status, std::string_view content_type) {
    std::string head = "HTTP/1.1 " + std::to_string(status) +
                       " X\r\nContent-Type: " + std::string(content_type) +
                       "\r\nTransfer-Encoding: chunked\r\n";
    if (!keep_alive) head += "Connection: close\r\n";
    return Write(head + "\r\n");
  }
  bool Chunk(std::string_view data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return Write(std::string(size) + std::string(data) + "\r\n");
  }
  bool EndChunks() { return Write("0\r\n\r\n"); }

  // Waits until the client closes the connection; true when it did within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN | POLLRDHUP, 0};
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0) return true;
      if (r == 0) return false;
      if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
      char byte;
      ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n <= 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Whether to keep the connection open for another request after the handler returns.
  bool keep_alive = true;

 private:
  const ServerRequest& request_;
  std::function<bool(std::string_view)> write_;
  int fd_;
};

class LoopbackServer {
 public:
  using Handler = std::function<void(Exchange&)>;

  // Serves `handler` on 127.0.0.1, port 0; over TLS with `tls` (certificate chain and key).
  explicit LoopbackServer(Handler handler, std::optional<Pem> tls = std::nullopt)
      : handler_(std::move(handler)), acceptor_(io_) {
    namespace asio = boost::asio;
    if (tls) {
      tls_.emplace(asio::ssl::context::tls_server);
      tls_->use_certificate_chain(asio::buffer(tls->cert));
      tls_->use_private_key(asio::buffer(tls->key), asio::ssl::context::pem);
    }
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~LoopbackServer() { Stop(); }

  void Stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
      threads = std::move(threads_);
    }
    for (auto& t : threads) t.join();
  }

  uint16_t port() const { return port_; }
  std::string Url(const std::string& path, const std::string& host = "127.0.0.1") const {
    return std::string(tls_ ? "https" : "http") + "://" + host + ":" + std::to_string(port_) + path;
  }

  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }
  std::vector<ServerRequest> received() const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  std::string last_sni() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_sni_;
  }
  // Waits until `n` connections have been closed (by either side).
  bool WaitConnectionsClosed(int n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return closed_ >= n; });
  }

 private:
  void AcceptLoop() {
    for (;;) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec || stopped_) return;
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      open_fds_.push_back(socket.native_handle());
      threads_.emplace_back(
          [this, s = std::move(socket)]() mutable { ServeConnection(std::move(s)); });
    }
  }

  template <class Stream>
  void ServeRequests(Stream& stream, int fd) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(stream, buffer, req, ec);
      if (ec) return;
      ++requests_;
      ServerRequest r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(f.value());
      }
      r.body = req.body();
      {
        std::lock_guard<std::mutex> lock(mu_);
        received_.push_back(r);
      }
      Exchange exchange(
          r,
          [&stream](std::string_view bytes) {
            boost::system::error_code wec;
            boost::asio::write(stream, boost::asio::buffer(bytes.data(), bytes.size()), wec);
            return !wec;
          },
          fd);
      handler_(exchange);
      if (!exchange.keep_alive || stopped_) return;
    }
  }

  void ServeConnection(boost::asio::ip::tcp::socket socket) {
    int fd = socket.native_handle();
    if (tls_) {
      boost::asio::ssl::stream<boost::asio::ip::tcp::socket&> stream(socket, *tls_);
      boost::system::error_code ec;
      stream.handshake(boost::asio::ssl::stream_base::server, ec);
      if (!ec) {
        const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
        {
          std::lock_guard<std::mutex> lock(mu_);
          last_sni_ = sni ? sni : "";
        }
        ServeRequests(stream, fd);
      }
    } else {
      ServeRequests(socket, fd);
    }
    boost::system::error_code ignored;
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(open_fds_, fd);
    socket.close(ignored);
    ++closed_;
    cv_.notify_all();
  }

  Handler handler_;
  boost::asio::io_context io_;  // owns the sockets; never run (all I/O here is blocking)
  std::optional<boost::asio::ssl::context> tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopped_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  std::vector<int> open_fds_;
  std::vector<ServerRequest> received_;
  std::string last_sni_;
  int closed_ = 0;
};

// An io_context run by `threads` threads for the duration of a test.
class IoThreads {
 public:
  explicit IoThreads(int threads = 2) : work_(io_.get_executor()) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~IoThreads() { Stop(); }
  void Stop() {
    work_.reset();
    io_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// A port on 127.0.0.1 with nothing listening (bound, then closed).
inline uint16_t UnusedPort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

}  // namespace airlock::gateway::testutil
