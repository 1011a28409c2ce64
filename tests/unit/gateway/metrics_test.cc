// Prometheus metrics: exposition format, label escaping, cumulative histogram buckets,
// concurrent updates, and the HTTP endpoint over loopback.
#include "gateway/metrics.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace airlock::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(MetricsTest, EmptyRenderHasEveryFamily) {
  Metrics m;
  std::string text = m.Render();
  for (const char* family :
       {"airlock_requests_total", "airlock_upstream_errors_total", "airlock_stage_seconds",
        "airlock_request_seconds", "airlock_in_flight"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# HELP ") + family + " ")) << family;
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + family + " ")) << family;
  }
  EXPECT_THAT(text, HasSubstr("# TYPE airlock_requests_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE airlock_stage_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE airlock_in_flight gauge\n"));
  EXPECT_THAT(text, HasSubstr("airlock_request_seconds_count 0\n"));
  EXPECT_THAT(text, HasSubstr("airlock_in_flight 0\n"));
  EXPECT_EQ(text.back(), '\n');
}

TEST(MetricsTest, CountersAndGauge) {
  Metrics m;
  m.RequestDone("frontier", "default", "ok");
  m.RequestDone("frontier", "default", "ok");
  m.RequestDone("onprem", "confidential", "error");
  m.RequestDone("", "", "unauthenticated");
  m.UpstreamError("onprem", "UNAVAILABLE");
  m.InFlightAdd(3);
  m.InFlightAdd(-1);
  std::string text = m.Render();
  EXPECT_THAT(
      text, HasSubstr("airlock_requests_total{target=\"frontier\",rule=\"default\",outcome=\"ok\"} "
                      "2\n"));
  EXPECT_THAT(text, HasSubstr("airlock_requests_total{target=\"onprem\",rule=\"confidential\","
                              "outcome=\"error\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("airlock_requests_total{target=\"\",rule=\"\",outcome="
                              "\"unauthenticated\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("airlock_upstream_errors_total{target=\"onprem\",code="
                              "\"UNAVAILABLE\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("airlock_in_flight 2\n"));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Metrics m;
  m.RequestDone("a\"b", "back\\slash", "new\nline");
  std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("airlock_requests_total{target=\"a\\\"b\",rule=\"back\\\\slash\","
                              "outcome=\"new\\nline\"} 1\n"));
  // Every line is a comment or a sample: no raw newline leaked from a label.
  for (const std::string& line : Lines(text)) {
    EXPECT_TRUE(line.rfind("# ", 0) == 0 || line.rfind("airlock_", 0) == 0) << line;
  }
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Metrics m;
  m.ObserveStage("assess", 0.00003);  // below the first bucket
  m.ObserveStage("assess", 0.00005);  // exactly on a bound: le is inclusive
  m.ObserveStage("assess", 0.002);
  m.ObserveStage("assess", 0.3);
  m.ObserveStage("assess", 120);  // beyond the last bound
  m.ObserveStage("decide", 0.001);
  std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("airlock_stage_seconds_bucket{stage=\"assess\",le=\"0.00005\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("airlock_stage_seconds_bucket{stage=\"assess\",le=\"0.001\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("airlock_stage_seconds_bucket{stage=\"assess\",le=\"0.0025\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("airlock_stage_seconds_bucket{stage=\"assess\",le=\"0.5\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("airlock_stage_seconds_bucket{stage=\"assess\",le=\"60\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("airlock_stage_seconds_bucket{stage=\"assess\",le=\"+Inf\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("airlock_stage_seconds_count{stage=\"assess\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("airlock_stage_seconds_sum{stage=\"assess\"} 120.30208"));
  EXPECT_THAT(text, HasSubstr("airlock_stage_seconds_count{stage=\"decide\"} 1\n"));

  // Within each series the bucket counts never decrease and end at _count.
  uint64_t previous = 0;
  int buckets = 0;
  for (const std::string& line : Lines(text)) {
    if (line.rfind("airlock_stage_seconds_bucket{stage=\"assess\"", 0) != 0) continue;
    uint64_t v = std::stoull(line.substr(line.rfind(' ') + 1));
    EXPECT_GE(v, previous) << line;
    previous = v;
    ++buckets;
  }
  EXPECT_EQ(buckets, static_cast<int>(Metrics::kBuckets.size()) + 1);
  EXPECT_EQ(previous, 5u);

  m.ObserveRequest(0.004);
  text = m.Render();
  EXPECT_THAT(text, HasSubstr("airlock_request_seconds_bucket{le=\"0.0025\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("airlock_request_seconds_bucket{le=\"0.005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("airlock_request_seconds_sum 0.004\n"));
  EXPECT_THAT(text, HasSubstr("airlock_request_seconds_count 1\n"));
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  Metrics m;
  constexpr int kThreads = 8, kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kPerThread; ++i) {
        m.RequestDone("target" + std::to_string(i % 3), "rule", t % 2 ? "ok" : "error");
        m.ObserveStage(i % 2 ? "assess" : "dispatch", 0.001);
        m.InFlightAdd(1);
        m.InFlightAdd(-1);
        if (i % 100 == 0) (void)m.Render();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::string text = m.Render();
  uint64_t total = 0;
  for (const std::string& line : Lines(text)) {
    if (line.rfind("airlock_requests_total{", 0) == 0) {
      total += std::stoull(line.substr(line.rfind(' ') + 1));
    }
  }
  EXPECT_EQ(total, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_THAT(text, HasSubstr("airlock_stage_seconds_count{stage=\"assess\"} " +
                              std::to_string(kThreads * kPerThread / 2) + "\n"));
  EXPECT_THAT(text, HasSubstr("airlock_in_flight 0\n"));
}

// A blocking HTTP/1.1 exchange over loopback; returns the raw response.
std::string HttpRequest(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, 0);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) response.append(buf, n);
  ::close(fd);
  return response;
}

TEST(MetricsServerTest, ServesMetricsOverLoopback) {
  Metrics m;
  m.RequestDone("frontier", "default", "ok");
  MetricsServer server(&m);
  absl::StatusOr<int> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  ASSERT_GT(*port, 0);

  std::string r =
      HttpRequest(*port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(
      r, HasSubstr("airlock_requests_total{target=\"frontier\",rule=\"default\",outcome=\"ok\"} "
                   "1\n"));
  // The body is exactly Render() (nothing changed in between).
  EXPECT_EQ(r.substr(r.find("\r\n\r\n") + 4), m.Render());

  r = HttpRequest(*port, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 404 Not Found\r\n"));
  r = HttpRequest(*port, "GET / HTTP/1.0\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.0 404 Not Found\r\n"));
  r = HttpRequest(*port,
                  "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                  "Connection: close\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  // Keep-alive: two requests on one connection, then close.
  r = HttpRequest(*port,
                  "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  size_t first = r.find("HTTP/1.1 200 OK");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(r.find("HTTP/1.1 200 OK", first + 1), std::string::npos);

  server.Stop();
  EXPECT_EQ(HttpRequest(*port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), "connect failed");
  server.Stop();  // idempotent
}

TEST(MetricsServerTest, StartErrors) {
  Metrics m;
  MetricsServer a(&m);
  absl::StatusOr<int> port = a.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  MetricsServer b(&m);
  absl::StatusOr<int> taken = b.Start("127.0.0.1:" + std::to_string(*port));
  EXPECT_FALSE(taken.ok());
  EXPECT_THAT(std::string(taken.status().message()), HasSubstr("bind"));
  MetricsServer c(&m);
  EXPECT_FALSE(c.Start("no-port").ok());
  MetricsServer d(&m);
  EXPECT_FALSE(d.Start("256.1.1.1:80").ok());
  // Destructors stop what was started.
}

}  // namespace
}  // namespace airlock::gateway
