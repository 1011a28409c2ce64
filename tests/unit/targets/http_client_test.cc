#include "gateway/targets/http_client.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/unit/targets/loopback_server.h"

namespace airlock::gateway {
namespace {

using namespace std::chrono_literals;
using testutil::Exchange;
using testutil::IoThreads;
using testutil::LoopbackServer;
using testutil::TempFile;
using testutil::TestPki;

// Records what a call reports; Wait() blocks until on_done.
class Recorder {
 public:
  HttpHandlers Handlers() {
    HttpHandlers h;
    h.on_head = [this](const HttpResponseHead& head) {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_FALSE(head_.has_value()) << "on_head twice";
      EXPECT_FALSE(done_) << "on_head after on_done";
      head_ = head;
    };
    h.on_body = [this](std::string_view bytes) {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_TRUE(head_.has_value()) << "on_body before on_head";
      EXPECT_FALSE(done_) << "on_body after on_done";
      body_.append(bytes);
      ++chunks_;
      cv_.notify_all();
    };
    h.on_done = [this](const HttpResult& result) {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_FALSE(done_) << "on_done twice";
      done_ = true;
      result_ = result;
      cv_.notify_all();
    };
    return h;
  }

  HttpResult Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, 10s, [&] { return done_; })) << "no on_done within 10 s";
    return result_;
  }
  // Waits until at least `n` body bytes arrived.
  bool WaitBody(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return body_.size() >= n || done_; }) && body_.size() >= n;
  }
  std::string body() {
    std::lock_guard<std::mutex> lock(mu_);
    return body_;
  }
  std::optional<HttpResponseHead> head() {
    std::lock_guard<std::mutex> lock(mu_);
    return head_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<HttpResponseHead> head_;
  std::string body_;
  int chunks_ = 0;
  bool done_ = false;
  HttpResult result_;
};

std::unique_ptr<HttpClient> MakeClient(boost::asio::io_context& io,
                                       std::vector<std::string> allowlist = {"127.0.0.1"},
                                       std::string ca_file = "") {
  HttpClientOptions options;
  options.egress_allowlist = std::move(allowlist);
  options.ca_file = std::move(ca_file);
  auto client = HttpClient::Create(io, std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

HttpRequest Get(const std::string& url) {
  HttpRequest r;
  r.url = url;
  return r;
}

HttpResult Fetch(HttpClient& client, HttpRequest request, Recorder& recorder,
                 HttpCallOptions options = {}) {
  client.Send(std::move(request), options, recorder.Handlers());
  return recorder.Wait();
}

// ---------------------------------------------------------------------------------------------
// URLs and the allowlist

TEST(ParseUrlTest, SplitsAbsoluteUrls) {
  auto u = ParseUrl("http://127.0.0.1:8000/v1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8000);
  EXPECT_EQ(u->target, "/v1");
  EXPECT_EQ(u->Authority(), "127.0.0.1:8000");

  u = ParseUrl("HTTPS://API.Example.com");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->tls());
  EXPECT_EQ(u->host, "api.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->Authority(), "api.example.com");
  EXPECT_EQ(u->HostPort(), "api.example.com:443");

  u = ParseUrl("http://[::1]:9000/a?b=c");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->target, "/a?b=c");
  EXPECT_EQ(u->HostPort(), "[::1]:9000");

  u = ParseUrl("http://h?x=1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->target, "/?x=1");
}

TEST(ParseUrlTest, RejectsWhatCannotBeUsed) {
  struct Case {
    const char* url;
    const char* says;
  } cases[] = {
      {"ftp://host/x", "scheme must be http or https"},
      {"host:80/v1", "expected http://"},
      {"http:///v1", "host is missing"},
      {"http://host:0/", "port '0'"},
      {"http://host:70000/", "port '70000'"},
      {"http://host:8x/", "port '8x'"},
      {"http://host:/", "port ''"},
      {"http://user:pw@host/", "user info"},
      {"http://host/a#frag", "fragment"},
      {"http://ho st/", "spaces"},
      {"http://[::1/", "unterminated"},
      {"http://ho$t/", "contains '$'"},
  };
  for (const Case& c : cases) {
    auto u = ParseUrl(c.url);
    ASSERT_FALSE(u.ok()) << c.url;
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument) << c.url;
    EXPECT_NE(u.status().message().find(c.says), absl::string_view::npos)
        << c.url << ": " << u.status();
  }
}

TEST(HostAllowedTest, ExactNamesIpsAndWildcards) {
  std::vector<std::string> list = {"vllm.internal", "127.0.0.1", "[::1]", "*.corp.example",
                                   "API.OpenAI.com"};
  EXPECT_TRUE(HostAllowed(list, "vllm.internal"));
  EXPECT_TRUE(HostAllowed(list, "VLLM.internal"));
  EXPECT_TRUE(HostAllowed(list, "127.0.0.1"));
  EXPECT_TRUE(HostAllowed(list, "::1"));
  EXPECT_TRUE(HostAllowed(list, "a.corp.example"));
  EXPECT_TRUE(HostAllowed(list, "a.b.corp.example"));
  EXPECT_TRUE(HostAllowed(list, "api.openai.com"));
  EXPECT_FALSE(HostAllowed(list, "corp.example"));
  EXPECT_FALSE(HostAllowed(list, "evilcorp.example"));
  EXPECT_FALSE(HostAllowed(list, "vllm.internal.evil.com"));
  EXPECT_FALSE(HostAllowed(list, "127.0.0.2"));
  EXPECT_FALSE(HostAllowed(list, "localhost"));
  EXPECT_FALSE(HostAllowed({}, "127.0.0.1"));
  EXPECT_FALSE(HostAllowed(list, ""));
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP

TEST(HttpClientTest, PostsAndReadsAResponse) {
  LoopbackServer server([](Exchange& ex) {
    ex.Respond(201, "application/json", "{\"echo\":\"" + ex.request().body + "\"}");
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  HttpRequest req;
  req.method = "POST";
  req.url = server.Url("/v1/things?x=1");
  req.headers = {{"Content-Type", "text/plain"}, {"X-Test", "yes"}};
  req.body = "hello";
  Recorder rec;
  HttpResult r = Fetch(*client, req, rec);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.stage, HttpStage::kDone);
  ASSERT_TRUE(rec.head());
  EXPECT_EQ(rec.head()->status, 201);
  EXPECT_EQ(rec.head()->Get("content-type"), "application/json");
  EXPECT_EQ(rec.body(), "{\"echo\":\"hello\"}");

  auto got = server.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/v1/things?x=1");
  EXPECT_EQ(got[0].headers["host"], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(got[0].headers["x-test"], "yes");
  EXPECT_EQ(got[0].headers["content-length"], "5");
  EXPECT_EQ(got[0].body, "hello");
}

TEST(HttpClientTest, ErrorStatusIsAResponseNotAnError) {
  LoopbackServer server([](Exchange& ex) { ex.Respond(503, "text/plain", "busy"); });
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/")), rec);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(rec.head()->status, 503);
  EXPECT_EQ(rec.body(), "busy");
}

TEST(HttpClientTest, StreamsAChunkedBodyPieceByPiece) {
  std::mutex mu;
  std::condition_variable cv;
  bool client_saw_first = false;
  LoopbackServer server([&](Exchange& ex) {
    ex.StartChunked(200, "text/event-stream");
    ex.Chunk("data: one\n\n");
    {  // the second chunk is only sent once the first has reached the client
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, 10s, [&] { return client_saw_first; });
    }
    ex.Chunk("data: two\n\n");
    ex.EndChunks();
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder rec;
  client->Send(Get(server.Url("/stream")), {}, rec.Handlers());
  ASSERT_TRUE(rec.WaitBody(11));
  EXPECT_EQ(rec.body(), "data: one\n\n");  // delivered before the response was complete
  {
    std::lock_guard<std::mutex> lock(mu);
    client_saw_first = true;
  }
  cv.notify_all();
  HttpResult r = rec.Wait();
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(rec.body(), "data: one\n\ndata: two\n\n");
}

TEST(HttpClientTest, BodyUntilCloseWithoutLength) {
  LoopbackServer server([](Exchange& ex) {
    ex.Write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it");
    ex.keep_alive = false;
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/")), rec);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(rec.body(), "all of it");
  EXPECT_EQ(client->IdleConnections(), 0u);
}

TEST(HttpClientTest, KeepAliveReusesTheConnection) {
  LoopbackServer server([](Exchange& ex) { ex.Respond(200, "text/plain", ex.request().target); });
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder first;
  ASSERT_TRUE(Fetch(*client, Get(server.Url("/one")), first).status.ok());
  EXPECT_EQ(client->IdleConnections(), 1u);
  Recorder second;
  ASSERT_TRUE(Fetch(*client, Get(server.Url("/two")), second).status.ok());
  EXPECT_EQ(first.body(), "/one");
  EXPECT_EQ(second.body(), "/two");
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClientTest, ChunkedResponsesAlsoKeepTheConnection) {
  LoopbackServer server([](Exchange& ex) {
    ex.StartChunked(200, "text/plain");
    ex.Chunk("a");
    ex.Chunk("b");
    ex.EndChunks();
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  for (int i = 0; i < 3; ++i) {
    Recorder rec;
    ASSERT_TRUE(Fetch(*client, Get(server.Url("/")), rec).status.ok());
    EXPECT_EQ(rec.body(), "ab");
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClientTest, ConnectionCloseIsNotPooled) {
  LoopbackServer server([](Exchange& ex) {
    ex.keep_alive = false;
    ex.Respond(200, "text/plain", "x");
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder a, b;
  ASSERT_TRUE(Fetch(*client, Get(server.Url("/")), a).status.ok());
  EXPECT_EQ(client->IdleConnections(), 0u);
  ASSERT_TRUE(Fetch(*client, Get(server.Url("/")), b).status.ok());
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClientTest, PooledConnectionClosedByTheServerIsReplaced) {
  // The server answers with keep-alive but closes the connection right after.
  LoopbackServer server([](Exchange& ex) {
    ex.Respond(200, "text/plain", "x");
    ex.keep_alive = false;
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder a;
  ASSERT_TRUE(Fetch(*client, Get(server.Url("/")), a).status.ok());
  ASSERT_TRUE(server.WaitConnectionsClosed(1, 10s));
  Recorder b;
  HttpResult r = Fetch(*client, Get(server.Url("/")), b);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(b.body(), "x");
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClientTest, ConcurrentRequestsUseSeparateConnections) {
  LoopbackServer server([](Exchange& ex) { ex.Respond(200, "text/plain", ex.request().target); });
  IoThreads io(2);
  auto client = MakeClient(io.io());
  constexpr int kCalls = 8;
  std::vector<std::unique_ptr<Recorder>> recs;
  for (int i = 0; i < kCalls; ++i) {
    recs.push_back(std::make_unique<Recorder>());
    client->Send(Get(server.Url("/" + std::to_string(i))), {}, recs.back()->Handlers());
  }
  for (int i = 0; i < kCalls; ++i) {
    HttpResult r = recs[i]->Wait();
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(recs[i]->body(), "/" + std::to_string(i));
  }
  EXPECT_EQ(server.requests(), kCalls);
  EXPECT_LE(client->IdleConnections(), static_cast<size_t>(kCalls));
}

// ---------------------------------------------------------------------------------------------
// Egress allowlist

TEST(HttpClientTest, HostNotOnTheAllowlistIsRefusedWithoutConnecting) {
  LoopbackServer server([](Exchange& ex) { ex.Respond(200, "text/plain", "x"); });
  IoThreads io;
  auto client = MakeClient(io.io(), {"vllm.internal"});
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/")), rec);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kPermissionDenied) << r.status;
  EXPECT_EQ(r.stage, HttpStage::kAllowlist);
  EXPECT_NE(r.status.message().find("'127.0.0.1'"), absl::string_view::npos) << r.status;
  EXPECT_NE(r.status.message().find("allowlist"), absl::string_view::npos) << r.status;
  EXPECT_FALSE(rec.head());
  EXPECT_EQ(server.connections(), 0);

  // A name that does not resolve is refused the same way: no lookup happens.
  Recorder rec2;
  r = Fetch(*client, Get("http://no-such-host.invalid/"), rec2);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kPermissionDenied) << r.status;
}

TEST(HttpClientTest, EmptyAllowlistRefusesEverything) {
  LoopbackServer server([](Exchange& ex) { ex.Respond(200, "text/plain", "x"); });
  IoThreads io;
  auto client = MakeClient(io.io(), {});
  Recorder rec;
  EXPECT_EQ(Fetch(*client, Get(server.Url("/")), rec).status.code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(server.connections(), 0);
}

TEST(HttpClientTest, BadUrlIsInvalidArgument) {
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder rec;
  EXPECT_EQ(Fetch(*client, Get("gopher://127.0.0.1/"), rec).status.code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Failures, timeouts, deadline, cancellation

TEST(HttpClientTest, ConnectionRefusedIsAConnectError) {
  IoThreads io;
  auto client = MakeClient(io.io());
  uint16_t port = testutil::UnusedPort();
  Recorder rec;
  HttpResult r = Fetch(*client, Get("http://127.0.0.1:" + std::to_string(port) + "/"), rec);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_TRUE(r.ConnectFailed());
  EXPECT_NE(r.status.message().find("127.0.0.1:" + std::to_string(port)), absl::string_view::npos)
      << r.status;
}

TEST(HttpClientTest, FirstByteTimeout) {
  LoopbackServer server([](Exchange& ex) { ex.WaitClosed(10s); });
  IoThreads io;
  auto client = MakeClient(io.io());
  HttpCallOptions opts;
  opts.first_byte_timeout = 100ms;
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/")), rec, opts);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_EQ(r.stage, HttpStage::kAwaitHead);
  EXPECT_FALSE(r.ConnectFailed());
  EXPECT_NE(r.status.message().find("first-byte timeout"), absl::string_view::npos) << r.status;
  EXPECT_TRUE(server.WaitConnectionsClosed(1, 10s));
}

TEST(HttpClientTest, IdleTimeoutBetweenBodyReads) {
  LoopbackServer server([](Exchange& ex) {
    ex.StartChunked(200, "text/plain");
    ex.Chunk("first");
    ex.WaitClosed(10s);
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  HttpCallOptions opts;
  opts.idle_timeout = 100ms;
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/")), rec, opts);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_EQ(r.stage, HttpStage::kReadBody);
  EXPECT_NE(r.status.message().find("idle timeout"), absl::string_view::npos) << r.status;
  EXPECT_EQ(rec.body(), "first");
  EXPECT_TRUE(server.WaitConnectionsClosed(1, 10s));
}

TEST(HttpClientTest, DeadlineClosesTheConnection) {
  std::atomic<bool> saw_close{false};
  LoopbackServer server([&](Exchange& ex) {
    ex.StartChunked(200, "text/plain");
    ex.Chunk("partial");
    saw_close = ex.WaitClosed(10s);
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  HttpCallOptions opts;
  opts.deadline = Clock::now() + 200ms;
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/")), rec, opts);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDeadlineExceeded) << r.status;
  ASSERT_TRUE(server.WaitConnectionsClosed(1, 10s));
  EXPECT_TRUE(saw_close);
}

TEST(HttpClientTest, PastDeadlineFailsWithoutConnecting) {
  LoopbackServer server([](Exchange& ex) { ex.Respond(200, "text/plain", "x"); });
  IoThreads io;
  auto client = MakeClient(io.io());
  HttpCallOptions opts;
  opts.deadline = Clock::now() - 1ms;
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/")), rec, opts);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDeadlineExceeded) << r.status;
}

TEST(HttpClientTest, CancelMidStreamClosesTheConnection) {
  std::atomic<bool> saw_close{false};
  LoopbackServer server([&](Exchange& ex) {
    ex.StartChunked(200, "text/plain");
    ex.Chunk("partial");
    saw_close = ex.WaitClosed(10s);
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder rec;
  auto call = client->Send(Get(server.Url("/")), {}, rec.Handlers());
  ASSERT_TRUE(rec.WaitBody(7));
  call->Cancel();
  call->Cancel();  // twice is harmless
  HttpResult r = rec.Wait();
  EXPECT_EQ(r.status.code(), absl::StatusCode::kCancelled) << r.status;
  ASSERT_TRUE(server.WaitConnectionsClosed(1, 10s));
  EXPECT_TRUE(saw_close);
  EXPECT_EQ(client->IdleConnections(), 0u);
}

TEST(HttpClientTest, CancelFromInsideAHandler) {
  LoopbackServer server([&](Exchange& ex) {
    ex.StartChunked(200, "text/plain");
    ex.Chunk("partial");
    ex.WaitClosed(10s);
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder rec;
  std::shared_ptr<HttpCall> call;
  std::mutex mu;
  HttpHandlers h = rec.Handlers();
  auto on_body = h.on_body;
  h.on_body = [&, on_body](std::string_view bytes) {
    on_body(bytes);
    std::lock_guard<std::mutex> lock(mu);
    call->Cancel();
  };
  {
    std::lock_guard<std::mutex> lock(mu);
    call = client->Send(Get(server.Url("/")), {}, std::move(h));
  }
  HttpResult r = rec.Wait();
  EXPECT_EQ(r.status.code(), absl::StatusCode::kCancelled) << r.status;
  EXPECT_TRUE(server.WaitConnectionsClosed(1, 10s));
}

TEST(HttpClientTest, ServerClosingMidBodyIsUnavailable) {
  LoopbackServer server([](Exchange& ex) {
    ex.Write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a bit");
    ex.keep_alive = false;
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/")), rec);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_EQ(r.stage, HttpStage::kReadBody);
  EXPECT_NE(r.status.message().find("closed the connection"), absl::string_view::npos) << r.status;
}

TEST(HttpClientTest, MalformedResponseIsInternal) {
  LoopbackServer server([](Exchange& ex) {
    ex.Write("NOT HTTP AT ALL\r\n\r\n");
    ex.keep_alive = false;
  });
  IoThreads io;
  auto client = MakeClient(io.io());
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/")), rec);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInternal) << r.status;
  EXPECT_NE(r.status.message().find("malformed HTTP response"), absl::string_view::npos)
      << r.status;
}

// ---------------------------------------------------------------------------------------------
// TLS

class HttpClientTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki(TestPki::Generate());
    other_ = new TestPki(TestPki::Generate("Some Other CA"));
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete other_;
  }
  static TestPki* pki_;
  static TestPki* other_;
};
TestPki* HttpClientTlsTest::pki_ = nullptr;
TestPki* HttpClientTlsTest::other_ = nullptr;

TEST_F(HttpClientTlsTest, VerifiesAgainstTheConfiguredCaAndSendsSni) {
  LoopbackServer server([](Exchange& ex) { ex.Respond(200, "text/plain", "secure"); },
                        pki_->server);
  TempFile ca(pki_->ca.cert);
  IoThreads io;
  auto client = MakeClient(io.io(), {"localhost", "127.0.0.1"}, ca.path());
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/", "localhost")), rec);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(rec.body(), "secure");
  EXPECT_EQ(server.last_sni(), "localhost");

  // By IP address: verified against the certificate's IP SAN; no SNI for an IP literal.
  Recorder rec2;
  r = Fetch(*client, Get(server.Url("/")), rec2);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(rec2.body(), "secure");
}

TEST_F(HttpClientTlsTest, KeepAliveOverTls) {
  LoopbackServer server([](Exchange& ex) { ex.Respond(200, "text/plain", "x"); }, pki_->server);
  TempFile ca(pki_->ca.cert);
  IoThreads io;
  auto client = MakeClient(io.io(), {"127.0.0.1"}, ca.path());
  for (int i = 0; i < 3; ++i) {
    Recorder rec;
    ASSERT_TRUE(Fetch(*client, Get(server.Url("/")), rec).status.ok());
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(HttpClientTlsTest, AnotherCaFailsWithAClearMessage) {
  LoopbackServer server([](Exchange& ex) { ex.Respond(200, "text/plain", "secure"); },
                        pki_->server);
  TempFile wrong_ca(other_->ca.cert);
  IoThreads io;
  auto client = MakeClient(io.io(), {"localhost"}, wrong_ca.path());
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/", "localhost")), rec);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_EQ(r.stage, HttpStage::kTlsHandshake);
  EXPECT_FALSE(r.ConnectFailed());
  std::string message(r.status.message());
  EXPECT_NE(message.find("TLS handshake with localhost:" + std::to_string(server.port())),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("certificate verify failed"), std::string::npos) << message;
  EXPECT_NE(message.find("unable to get local issuer certificate"), std::string::npos) << message;
  EXPECT_FALSE(rec.head());
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTlsTest, HostnameMismatchFails) {
  TestPki only_localhost = TestPki::Generate("Name CA", "DNS:localhost");
  LoopbackServer server([](Exchange& ex) { ex.Respond(200, "text/plain", "x"); },
                        only_localhost.server);
  TempFile ca(only_localhost.ca.cert);
  IoThreads io;
  auto client = MakeClient(io.io(), {"127.0.0.1"}, ca.path());
  Recorder rec;
  HttpResult r = Fetch(*client, Get(server.Url("/")), rec);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_NE(r.status.message().find("certificate verify failed"), absl::string_view::npos)
      << r.status;
  EXPECT_NE(r.status.message().find("mismatch"), absl::string_view::npos) << r.status;
}

TEST_F(HttpClientTlsTest, PlainHttpServerBehindHttpsUrlFails) {
  LoopbackServer server([](Exchange& ex) { ex.Respond(200, "text/plain", "x"); });
  TempFile ca(pki_->ca.cert);
  IoThreads io;
  auto client = MakeClient(io.io(), {"127.0.0.1"}, ca.path());
  Recorder rec;
  HttpResult r =
      Fetch(*client, Get("https://127.0.0.1:" + std::to_string(server.port()) + "/"), rec);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable) << r.status;
  EXPECT_EQ(r.stage, HttpStage::kTlsHandshake);
}

TEST(HttpClientCreateTest, MissingOrBadCaFileIsAnError) {
  boost::asio::io_context io;
  HttpClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  auto client = HttpClient::Create(io, options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(client.status().message().find("/nonexistent/ca.pem"), absl::string_view::npos);

  TempFile junk("not a certificate");
  options.ca_file = junk.path();
  client = HttpClient::Create(io, options);
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find(junk.path()), absl::string_view::npos)
      << client.status();
}

}  // namespace
}  // namespace airlock::gateway
