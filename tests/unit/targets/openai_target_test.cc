#include "gateway/targets/openai_target.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gateway/targets/factory.h"
#include "tests/unit/targets/loopback_server.h"

namespace airlock::gateway {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using testutil::Exchange;
using testutil::IoThreads;
using testutil::LoopbackServer;

// ---------------------------------------------------------------------------------------------
// Helpers

// Records sink calls, checking that they are serialized and end with exactly one OnDone.
class TestSink : public ChatSink {
 public:
  void OnDelta(const v1::ChatStreamResponse& delta) override {
    EXPECT_EQ(in_call_.fetch_add(1), 0) << "concurrent sink calls";
    {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_FALSE(done_) << "OnDelta after OnDone";
      deltas_.push_back(delta);
    }
    cv_.notify_all();
    in_call_.fetch_sub(1);
  }
  void OnDone(const absl::Status& status) override {
    EXPECT_EQ(in_call_.fetch_add(1), 0) << "concurrent sink calls";
    {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_FALSE(done_) << "OnDone twice";
      done_ = true;
      status_ = status;
    }
    cv_.notify_all();
    in_call_.fetch_sub(1);
  }

  absl::Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, 10s, [&] { return done_; })) << "no OnDone within 10 s";
    return status_;
  }
  bool WaitDeltas(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return deltas_.size() >= n || done_; }) &&
           deltas_.size() >= n;
  }
  std::vector<v1::ChatStreamResponse> deltas() {
    std::lock_guard<std::mutex> lock(mu_);
    return deltas_;
  }
  std::string content() {
    std::string out;
    for (const auto& d : deltas()) out += d.content_delta();
    return out;
  }

 private:
  std::atomic<int> in_call_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::ChatStreamResponse> deltas_;
  bool done_ = false;
  absl::Status status_;
};

json ContentChunk(const std::string& text) {
  return {
      {"id", "chatcmpl-1"},
      {"object", "chat.completion.chunk"},
      {"choices", {{{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}}}}};
}
json FinishChunk(const std::string& reason) {
  return {{"id", "chatcmpl-1"},
          {"object", "chat.completion.chunk"},
          {"choices", {{{"index", 0}, {"delta", json::object()}, {"finish_reason", reason}}}}};
}
json UsageChunk(int prompt, int completion) {
  return {{"id", "chatcmpl-1"},
          {"choices", json::array()},
          {"usage",
           {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion}}}};
}

// Writes `events` as SSE `data:` events (one HTTP chunk each), then [DONE].
void ServeSse(Exchange& ex, const std::vector<json>& events, bool done = true) {
  ex.StartChunked(200, "text/event-stream; charset=utf-8");
  for (const json& e : events) ex.Chunk("data: " + e.dump() + "\n\n");
  if (done) ex.Chunk("data: [DONE]\n\n");
  ex.EndChunks();
}

v1::ChatRequest SimpleRequest() {
  v1::ChatRequest r;
  auto* sys = r.add_messages();
  sys->set_role(v1::Message::SYSTEM);
  sys->set_content("You are terse.");
  auto* user = r.add_messages();
  user->set_role(v1::Message::USER);
  user->set_content("Say hello.");
  return r;
}

TargetConfig Config(const LoopbackServer& server, int retries = 1) {
  TargetConfig c;
  c.name = "super";
  c.kind = "openai";
  c.base_url = server.Url("/v1");
  c.model = "nemotron-super";
  c.api_key = "sk-test";
  c.retries = retries;
  c.connect_timeout = 2000ms;
  c.first_byte_timeout = 5000ms;
  c.idle_timeout = 5000ms;
  return c;
}

std::unique_ptr<Target> Make(const TargetConfig& config, boost::asio::io_context& io,
                             std::vector<std::string> allowlist = {"127.0.0.1"}) {
  auto t = MakeTarget(config, allowlist, io);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// Request body

TEST(BuildChatCompletionsBodyTest, FullRequest) {
  v1::ChatRequest r = SimpleRequest();
  auto* assistant = r.add_messages();
  assistant->set_role(v1::Message::ASSISTANT);
  auto* tc = assistant->add_tool_calls();
  tc->set_id("call_1");
  tc->set_name("get_weather");
  tc->set_arguments("{\"city\":\"Paris\"}");
  auto* tool = r.add_messages();
  tool->set_role(v1::Message::TOOL);
  tool->set_tool_call_id("call_1");
  tool->set_content("sunny");
  tool->set_name("get_weather");
  auto* t1 = r.add_tools();
  t1->set_name("get_weather");
  t1->set_description("Weather for a city");
  t1->set_parameters(R"({"type":"object","properties":{"city":{"type":"string"}}})");
  auto* t2 = r.add_tools();
  t2->set_name("now");
  r.mutable_sampling()->set_max_tokens(64);
  r.mutable_sampling()->set_temperature(0.7f);
  r.mutable_sampling()->set_top_p(0.9f);
  r.mutable_sampling()->add_stop("END");
  r.mutable_sampling()->set_seed(42);

  auto body = BuildChatCompletionsBody(r, "nemotron-super", /*stream=*/true);
  ASSERT_TRUE(body.ok()) << body.status();
  json j = json::parse(*body);
  EXPECT_EQ(j["model"], "nemotron-super");
  EXPECT_EQ(j["stream"], true);
  EXPECT_EQ(j["stream_options"], json({{"include_usage", true}}));
  ASSERT_EQ(j["messages"].size(), 4u);
  EXPECT_EQ(j["messages"][0], json({{"role", "system"}, {"content", "You are terse."}}));
  EXPECT_EQ(j["messages"][1], json({{"role", "user"}, {"content", "Say hello."}}));
  EXPECT_EQ(j["messages"][2]["role"], "assistant");
  EXPECT_TRUE(j["messages"][2]["content"].is_null());
  EXPECT_EQ(j["messages"][2]["tool_calls"], json::parse(R"([{"id":"call_1","type":"function",
                "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}])"));
  EXPECT_EQ(j["messages"][3], json({{"role", "tool"},
                                    {"content", "sunny"},
                                    {"tool_call_id", "call_1"},
                                    {"name", "get_weather"}}));
  ASSERT_EQ(j["tools"].size(), 2u);
  EXPECT_EQ(j["tools"][0], json::parse(R"({"type":"function","function":{
      "name":"get_weather","description":"Weather for a city",
      "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}})"));
  EXPECT_EQ(j["tools"][1], json::parse(R"({"type":"function","function":{
      "name":"now","parameters":{"type":"object","properties":{}}}})"));
  EXPECT_EQ(j["max_tokens"], 64);
  EXPECT_EQ(j["temperature"].get<double>(), 0.7);  // not 0.699999988079071
  EXPECT_EQ(j["top_p"].get<double>(), 0.9);
  EXPECT_EQ(j["stop"], json({"END"}));
  EXPECT_EQ(j["seed"], 42);
}

TEST(BuildChatCompletionsBodyTest, WithoutStreamAsksForAWholeCompletion) {
  auto body = BuildChatCompletionsBody(SimpleRequest(), "m", /*stream=*/false);
  ASSERT_TRUE(body.ok()) << body.status();
  json j = json::parse(*body);
  EXPECT_EQ(j["stream"], false);
  EXPECT_FALSE(j.contains("stream_options"));
}

TEST(BuildChatCompletionsBodyTest, UnsetSamplingIsLeftOut) {
  auto body = BuildChatCompletionsBody(SimpleRequest(), "m", /*stream=*/true);
  ASSERT_TRUE(body.ok()) << body.status();
  json j = json::parse(*body);
  for (const char* key : {"max_tokens", "temperature", "top_p", "stop", "seed", "tools"}) {
    EXPECT_FALSE(j.contains(key)) << key;
  }
  {
    v1::ChatRequest r = SimpleRequest();
    r.mutable_sampling()->set_temperature(0.0f);  // set, even though zero
    json k = json::parse(*BuildChatCompletionsBody(r, "m", /*stream=*/true));
    EXPECT_EQ(k["temperature"], 0.0);
  }
}

TEST(BuildChatCompletionsBodyTest, InvalidInputsNameTheField) {
  v1::ChatRequest r = SimpleRequest();
  r.mutable_messages(1)->set_role(v1::Message::ROLE_UNSPECIFIED);
  auto body = BuildChatCompletionsBody(r, "m", /*stream=*/true);
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(body.status(), "messages[1].role")) << body.status();

  r = SimpleRequest();
  r.add_tools()->set_name("a");
  r.add_tools()->set_parameters("{not json");
  body = BuildChatCompletionsBody(r, "m", /*stream=*/true);
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(body.status(), "tools[1].parameters")) << body.status();

  r = SimpleRequest();
  r.add_tools()->set_parameters("[1,2]");
  body = BuildChatCompletionsBody(r, "m", /*stream=*/true);
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(body.status(), "must be a JSON object")) << body.status();
}

// ---------------------------------------------------------------------------------------------
// Error mapping

TEST(UpstreamErrorTest, HttpStatusToCode) {
  using C = absl::StatusCode;
  const std::map<int, C> expected = {
      {400, C::kInvalidArgument},  {413, C::kInvalidArgument},  {422, C::kInvalidArgument},
      {401, C::kInternal},         {403, C::kInternal},         {404, C::kNotFound},
      {408, C::kDeadlineExceeded}, {504, C::kDeadlineExceeded}, {429, C::kResourceExhausted},
      {500, C::kUnavailable},      {502, C::kUnavailable},      {503, C::kUnavailable},
      {599, C::kUnavailable},      {501, C::kUnimplemented},    {405, C::kUnknown},
      {409, C::kUnknown},          {302, C::kUnknown},          {100, C::kUnknown},
  };
  for (const auto& [status, code] : expected) {
    EXPECT_EQ(UpstreamHttpStatusToCode(status), code) << "HTTP " << status;
  }
}

TEST(UpstreamErrorTest, MessageFromTheBody) {
  EXPECT_EQ(UpstreamErrorMessage(R"({"error":{"message":"Rate limit reached","type":"x"}})"),
            "Rate limit reached");
  EXPECT_EQ(UpstreamErrorMessage(R"({"error":"model overloaded"})"), "model overloaded");
  EXPECT_EQ(UpstreamErrorMessage(
                R"({"object":"error","message":"The model `x` does not exist.","code":404})"),
            "The model `x` does not exist.");
  EXPECT_EQ(UpstreamErrorMessage(R"({"detail":"Not Found"})"), "Not Found");
  EXPECT_EQ(UpstreamErrorMessage("  upstream exploded\n"), "upstream exploded");
  EXPECT_EQ(UpstreamErrorMessage(""), "");
  EXPECT_EQ(UpstreamErrorMessage(std::string(5000, 'x')).size(), 512u);
}

TEST(UpstreamErrorTest, StatusNamesTargetCodeAndMessage) {
  absl::Status s = UpstreamHttpError("super", 429, R"({"error":{"message":"slow down"}})");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "target 'super': upstream answered HTTP 429 Too Many Requests: slow down");
  s = UpstreamHttpError("super", 401, "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(), "target 'super': upstream answered HTTP 401 Unauthorized");
}

TEST(BackoffTest, DoublesFromFiftyMillisecondsAndIsCapped) {
  EXPECT_EQ(OpenAiTarget::Backoff(0), 50ms);
  EXPECT_EQ(OpenAiTarget::Backoff(1), 100ms);
  EXPECT_EQ(OpenAiTarget::Backoff(2), 200ms);
  EXPECT_EQ(OpenAiTarget::Backoff(4), 800ms);
  EXPECT_EQ(OpenAiTarget::Backoff(5), 1000ms);
  EXPECT_EQ(OpenAiTarget::Backoff(50), 1000ms);
}

// ---------------------------------------------------------------------------------------------
// Chunk decoding

TEST(ChatChunkDecoderTest, ContentFinishAndUsage) {
  ChatChunkDecoder d;
  std::vector<v1::ChatStreamResponse> out;
  json role = {{"choices", {{{"index", 0}, {"delta", {{"role", "assistant"}}}}}}};
  ASSERT_TRUE(d.Decode(role.dump(), &out).ok());
  EXPECT_TRUE(out.empty());  // nothing to pass on
  ASSERT_TRUE(d.Decode(ContentChunk("Hi").dump(), &out).ok());
  ASSERT_TRUE(d.Decode(FinishChunk("stop").dump(), &out).ok());
  ASSERT_TRUE(d.Decode(UsageChunk(12, 3).dump(), &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].content_delta(), "Hi");
  EXPECT_TRUE(d.HasFinal());
  v1::ChatStreamResponse last = d.Final();
  EXPECT_EQ(last.finish_reason(), "stop");
  EXPECT_EQ(last.usage().prompt_tokens(), 12u);
  EXPECT_EQ(last.usage().completion_tokens(), 3u);
}

TEST(ChatChunkDecoderTest, MalformedAndErrorEvents) {
  ChatChunkDecoder d;
  std::vector<v1::ChatStreamResponse> out;
  absl::Status s = d.Decode("{\"choices\": [", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(Contains(s, "malformed JSON")) << s;
  s = d.Decode("[1]", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  s = d.Decode(R"({"error":{"message":"out of memory"}})", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(Contains(s, "out of memory")) << s;
  // Unexpected shapes are tolerated: null content, a non-array choices, other choices.
  EXPECT_TRUE(d.Decode(R"({"choices":[{"index":0,"delta":{"content":null}}]})", &out).ok());
  EXPECT_TRUE(d.Decode(R"({"choices":{}})", &out).ok());
  EXPECT_TRUE(d.Decode(R"({"choices":[{"index":1,"delta":{"content":"other"}}]})", &out).ok());
  EXPECT_TRUE(out.empty());
}

// ---------------------------------------------------------------------------------------------
// Factory

TEST(MakeTargetTest, ValidatesKindAndBaseUrl) {
  boost::asio::io_context io;
  TargetConfig c;
  c.name = "t";
  c.kind = "openai";
  c.base_url = "http://127.0.0.1:8000/v1";
  c.model = "m";
  EXPECT_TRUE(MakeTarget(c, {}, io).ok());

  struct Case {
    std::function<void(TargetConfig&)> change;
    absl::StatusCode code;
    const char* says;
  } cases[] = {
      // kind local loads the model folder named by `model` (here "m", which does not exist).
      {[](TargetConfig& t) { t.kind = "local"; }, absl::StatusCode::kNotFound,
       "target 't': m/config.json: cannot open model config"},
      {[](TargetConfig& t) { t.kind = "anthropic"; }, absl::StatusCode::kInvalidArgument,
       "kind: 'anthropic'"},
      {[](TargetConfig& t) { t.kind = ""; }, absl::StatusCode::kInvalidArgument, "kind: required"},
      {[](TargetConfig& t) { t.base_url = "ftp://h/v1"; }, absl::StatusCode::kInvalidArgument,
       "base_url: URL 'ftp://h/v1': the scheme must be http or https"},
      {[](TargetConfig& t) { t.base_url = "http:///v1"; }, absl::StatusCode::kInvalidArgument,
       "base_url: URL 'http:///v1': the host is missing"},
      {[](TargetConfig& t) { t.base_url = "http://h:99999/v1"; },
       absl::StatusCode::kInvalidArgument, "port '99999'"},
      {[](TargetConfig& t) { t.base_url = "http://h/v1?x=1"; }, absl::StatusCode::kInvalidArgument,
       "base_url: 'http://h/v1?x=1' has a query"},
      {[](TargetConfig& t) { t.base_url = ""; }, absl::StatusCode::kInvalidArgument, "base_url:"},
      {[](TargetConfig& t) { t.model = ""; }, absl::StatusCode::kInvalidArgument,
       "model: required"},
      {[](TargetConfig& t) { t.ca_file = "/x.pem"; }, absl::StatusCode::kInvalidArgument,
       "ca_file: set, but base_url"},
      {[](TargetConfig& t) { t.idle_timeout = 0ms; }, absl::StatusCode::kInvalidArgument,
       "timeouts: idle_ms must be positive"},
      {[](TargetConfig& t) { t.retries = -1; }, absl::StatusCode::kInvalidArgument, "retries:"},
      {[](TargetConfig& t) {
         t.base_url = "https://h/v1";
         t.ca_file = "/nonexistent/ca.pem";
       },
       absl::StatusCode::kInvalidArgument, "ca_file: cannot read CA file '/nonexistent/ca.pem'"},
  };
  for (const Case& k : cases) {
    TargetConfig t = c;
    k.change(t);
    auto made = MakeTarget(t, {}, io);
    ASSERT_FALSE(made.ok()) << k.says;
    EXPECT_EQ(made.status().code(), k.code) << made.status();
    EXPECT_TRUE(Contains(made.status(), k.says)) << made.status();
  }
}

// ---------------------------------------------------------------------------------------------
// Against a loopback upstream

TEST(OpenAiTargetTest, StreamsContentFinishReasonAndUsage) {
  LoopbackServer server([](Exchange& ex) {
    ServeSse(ex, {json{{"choices", {{{"index", 0}, {"delta", {{"role", "assistant"}}}}}}},
                  ContentChunk("Hel"), ContentChunk("lo!"), FinishChunk("stop"), UsageChunk(9, 2)});
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  ASSERT_TRUE(target);
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  ASSERT_TRUE(s.ok()) << s;
  auto deltas = sink->deltas();
  ASSERT_EQ(deltas.size(), 3u);
  EXPECT_EQ(deltas[0].content_delta(), "Hel");
  EXPECT_EQ(deltas[1].content_delta(), "lo!");
  EXPECT_EQ(deltas[2].content_delta(), "");
  EXPECT_EQ(deltas[2].finish_reason(), "stop");
  EXPECT_EQ(deltas[2].usage().prompt_tokens(), 9u);
  EXPECT_EQ(deltas[2].usage().completion_tokens(), 2u);
  for (const auto& d : deltas) EXPECT_FALSE(d.has_route());

  auto got = server.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/v1/chat/completions");
  EXPECT_EQ(got[0].headers["authorization"], "Bearer sk-test");
  EXPECT_EQ(got[0].headers["content-type"], "application/json");
  json body = json::parse(got[0].body);
  EXPECT_EQ(body["model"], "nemotron-super");
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["messages"][1]["content"], "Say hello.");
}

TEST(OpenAiTargetTest, EventsSplitAcrossHttpChunks) {
  LoopbackServer server([](Exchange& ex) {
    std::string all;
    for (const json& e : {ContentChunk("a"), ContentChunk("b"), FinishChunk("length")}) {
      all += "data: " + e.dump() + "\r\n\r\n";
    }
    all += ": comment\n\ndata: [DONE]\n\n";
    ex.StartChunked(200, "text/event-stream");
    for (size_t i = 0; i < all.size(); i += 7) ex.Chunk(all.substr(i, 7));
    ex.EndChunks();
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  ASSERT_TRUE(sink->Wait().ok());
  EXPECT_EQ(sink->content(), "ab");
  EXPECT_EQ(sink->deltas().back().finish_reason(), "length");
  EXPECT_FALSE(sink->deltas().back().has_usage());
}

TEST(OpenAiTargetTest, ToolCallDeltasAssembleAcrossChunks) {
  auto tool_chunk = [](json calls) {
    return json{{"choices", {{{"index", 0}, {"delta", {{"tool_calls", calls}}}}}}};
  };
  LoopbackServer server([&](Exchange& ex) {
    ServeSse(ex,
             {tool_chunk(json::parse(R"([{"index":0,"id":"call_1","type":"function",
                    "function":{"name":"get_weather","arguments":""}}])")),
              tool_chunk(json::parse(R"([{"index":0,"function":{"arguments":"{\"ci"}}])")),
              // Some servers repeat id and name on later fragments; they must not be passed twice.
              tool_chunk(json::parse(R"([{"index":0,"id":"call_1","type":"function",
                    "function":{"name":"get_weather","arguments":"ty\":\"Paris\"}"}},
                   {"index":1,"id":"call_2","type":"function",
                    "function":{"name":"now","arguments":"{}"}}])")),
              FinishChunk("tool_calls"), UsageChunk(20, 10)});
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  v1::ChatRequest req = SimpleRequest();
  req.add_tools()->set_name("get_weather");
  req.add_tools()->set_name("now");
  auto sink = std::make_shared<TestSink>();
  target->Start(req, Clock::now() + 10s, /*stream=*/true, sink);
  ASSERT_TRUE(sink->Wait().ok());

  struct Call {
    std::string id, name, arguments;
    int id_fragments = 0, name_fragments = 0;
  };
  std::map<uint32_t, Call> calls;
  auto deltas = sink->deltas();
  for (const auto& d : deltas) {
    for (const auto& f : d.tool_calls()) {
      Call& c = calls[f.index()];
      if (!f.id().empty()) {
        c.id = f.id();
        ++c.id_fragments;
      }
      if (!f.name().empty()) {
        c.name = f.name();
        ++c.name_fragments;
      }
      c.arguments += f.arguments();
    }
  }
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].id, "call_1");
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(calls[0].arguments, "{\"city\":\"Paris\"}");
  EXPECT_EQ(calls[0].id_fragments, 1);
  EXPECT_EQ(calls[0].name_fragments, 1);
  EXPECT_EQ(calls[1].id, "call_2");
  EXPECT_EQ(calls[1].name, "now");
  EXPECT_EQ(calls[1].arguments, "{}");
  EXPECT_EQ(deltas.back().finish_reason(), "tool_calls");
  EXPECT_EQ(deltas.back().usage().prompt_tokens(), 20u);
  json sent = json::parse(server.received()[0].body);
  EXPECT_EQ(sent["tools"][0]["function"]["name"], "get_weather");
}

TEST(OpenAiTargetTest, UnaryCallAsksForAndAcceptsAWholeCompletion) {
  LoopbackServer server([](Exchange& ex) {
    ex.Respond(200, "application/json", R"({"id":"x","object":"chat.completion","choices":[
        {"index":0,"message":{"role":"assistant","content":"whole answer","tool_calls":[
          {"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
         "finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2}})");
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/false, sink);
  ASSERT_TRUE(sink->Wait().ok());
  auto deltas = sink->deltas();
  ASSERT_EQ(deltas.size(), 2u);
  EXPECT_EQ(deltas[0].content_delta(), "whole answer");
  ASSERT_EQ(deltas[0].tool_calls_size(), 1);
  EXPECT_EQ(deltas[0].tool_calls(0).name(), "f");
  EXPECT_EQ(deltas[1].finish_reason(), "stop");
  EXPECT_EQ(deltas[1].usage().completion_tokens(), 2u);
  // A unary call (stream=false) asks for a whole completion.
  ASSERT_EQ(server.received().size(), 1u);
  EXPECT_EQ(json::parse(server.received()[0].body)["stream"], false);
}

TEST(OpenAiTargetTest, ServerErrorThenSuccessIsRetriedOnce) {
  std::atomic<int> n{0};
  LoopbackServer server([&](Exchange& ex) {
    if (n++ == 0) {
      ex.Respond(500, "application/json", R"({"error":{"message":"engine restarting"}})");
    } else {
      ServeSse(ex, {ContentChunk("recovered"), FinishChunk("stop")});
    }
  });
  IoThreads io;
  auto target = Make(Config(server, /*retries=*/1), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(sink->content(), "recovered");
  EXPECT_EQ(server.requests(), 2);
  auto got = server.received();
  EXPECT_EQ(got[0].body, got[1].body);
}

TEST(OpenAiTargetTest, RetriesAreBoundedAndTheLastErrorIsReported) {
  LoopbackServer server([&](Exchange& ex) {
    ex.Respond(503, "application/json", R"({"error":{"message":"no capacity"}})");
  });
  IoThreads io;
  auto target = Make(Config(server, /*retries=*/2), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(Contains(s, "target 'super'")) << s;
  EXPECT_TRUE(Contains(s, "HTTP 503")) << s;
  EXPECT_TRUE(Contains(s, "no capacity")) << s;
  EXPECT_TRUE(Contains(s, "after 3 attempts")) << s;
  EXPECT_EQ(server.requests(), 3);
  EXPECT_TRUE(sink->deltas().empty());
}

TEST(OpenAiTargetTest, RateLimitIsRetriedThenResourceExhausted) {
  LoopbackServer server([&](Exchange& ex) {
    ex.Respond(429, "application/json", R"({"error":{"message":"slow down"}})");
  });
  IoThreads io;
  auto target = Make(Config(server, /*retries=*/1), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_TRUE(Contains(s, "slow down")) << s;
  EXPECT_EQ(server.requests(), 2);
}

TEST(OpenAiTargetTest, ClientErrorsAreNotRetried) {
  LoopbackServer server([&](Exchange& ex) {
    ex.Respond(400, "application/json",
               R"({"error":{"message":"max_tokens is too large","type":"invalid_request_error"}})");
  });
  IoThreads io;
  auto target = Make(Config(server, /*retries=*/3), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message(),
            "target 'super': upstream answered HTTP 400 Bad Request: max_tokens is too large");
  EXPECT_EQ(server.requests(), 1);
}

TEST(OpenAiTargetTest, ConnectErrorsAreRetried) {
  IoThreads io;
  TargetConfig c;
  c.name = "down";
  c.kind = "openai";
  c.base_url = "http://127.0.0.1:" + std::to_string(testutil::UnusedPort()) + "/v1";
  c.model = "m";
  c.retries = 2;
  auto target = Make(c, io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(Contains(s, "target 'down': cannot connect to 127.0.0.1:")) << s;
  EXPECT_TRUE(Contains(s, "after 3 attempts")) << s;
}

TEST(OpenAiTargetTest, NothingIsRetriedOnceSomethingWasStreamed) {
  LoopbackServer server([&](Exchange& ex) {
    ex.StartChunked(200, "text/event-stream");
    ex.Chunk("data: " + ContentChunk("partial").dump() + "\n\n");
    ex.keep_alive = false;  // and the connection drops without the last chunk
  });
  IoThreads io;
  auto target = Make(Config(server, /*retries=*/3), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(Contains(s, "target 'super'")) << s;
  EXPECT_EQ(sink->content(), "partial");
  EXPECT_EQ(server.requests(), 1);
}

TEST(OpenAiTargetTest, StreamEndingWithoutDoneOrFinishIsAnError) {
  LoopbackServer server([&](Exchange& ex) { ServeSse(ex, {ContentChunk("cut")}, false); });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(Contains(s, "ended before [DONE]")) << s;
}

TEST(OpenAiTargetTest, StreamEndingWithFinishButWithoutDoneIsAccepted) {
  LoopbackServer server([&](Exchange& ex) {
    ServeSse(ex, {ContentChunk("ok"), FinishChunk("stop")}, false);
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  ASSERT_TRUE(sink->Wait().ok());
  EXPECT_EQ(sink->content(), "ok");
  EXPECT_EQ(sink->deltas().back().finish_reason(), "stop");
}

TEST(OpenAiTargetTest, MalformedJsonNamesTheTarget) {
  LoopbackServer server([&](Exchange& ex) {
    ex.StartChunked(200, "text/event-stream");
    ex.Chunk("data: " + ContentChunk("fine").dump() + "\n\n");
    ex.Chunk("data: {\"choices\": [oops\n\n");
    ex.WaitClosed(10s);
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_TRUE(Contains(s, "target 'super': the upstream sent malformed JSON")) << s;
  EXPECT_EQ(sink->content(), "fine");
  EXPECT_TRUE(server.WaitConnectionsClosed(1, 10s));  // the connection is not kept
}

TEST(OpenAiTargetTest, ErrorEventInTheStream) {
  LoopbackServer server([&](Exchange& ex) {
    ServeSse(ex, {ContentChunk("a"), json{{"error", {{"message", "CUDA out of memory"}}}}});
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_TRUE(Contains(s, "CUDA out of memory")) << s;
}

TEST(OpenAiTargetTest, CancelMidStreamClosesTheUpstreamConnection) {
  std::atomic<bool> saw_close{false};
  LoopbackServer server([&](Exchange& ex) {
    ex.StartChunked(200, "text/event-stream");
    ex.Chunk("data: " + ContentChunk("first").dump() + "\n\n");
    saw_close = ex.WaitClosed(10s);  // the stream would go on for 10 s
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  auto sink = std::make_shared<TestSink>();
  auto call = target->Start(SimpleRequest(), Clock::now() + 30s, /*stream=*/true, sink);
  ASSERT_TRUE(sink->WaitDeltas(1));
  call->Cancel();
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_TRUE(Contains(s, "target 'super'")) << s;
  ASSERT_TRUE(server.WaitConnectionsClosed(1, 10s));
  EXPECT_TRUE(saw_close);
  call->Cancel();  // after the end: harmless
}

TEST(OpenAiTargetTest, CancelBeforeAnythingHappens) {
  LoopbackServer server([&](Exchange& ex) { ex.WaitClosed(10s); });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  auto sink = std::make_shared<TestSink>();
  auto call = target->Start(SimpleRequest(), Clock::now() + 30s, /*stream=*/true, sink);
  call->Cancel();
  EXPECT_EQ(sink->Wait().code(), absl::StatusCode::kCancelled);
}

TEST(OpenAiTargetTest, DeadlineExceededClosesTheUpstreamConnection) {
  std::atomic<bool> saw_close{false};
  LoopbackServer server([&](Exchange& ex) {
    ex.StartChunked(200, "text/event-stream");
    ex.Chunk("data: " + ContentChunk("slow").dump() + "\n\n");
    saw_close = ex.WaitClosed(10s);
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 300ms, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_TRUE(Contains(s, "target 'super'")) << s;
  ASSERT_TRUE(server.WaitConnectionsClosed(1, 10s));
  EXPECT_TRUE(saw_close);
}

TEST(OpenAiTargetTest, DeadlineBeforeTheFirstByte) {
  LoopbackServer server([&](Exchange& ex) { ex.WaitClosed(10s); });
  IoThreads io;
  auto target = Make(Config(server, /*retries=*/3), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 200ms, /*stream=*/true, sink);
  EXPECT_EQ(sink->Wait().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(server.requests(), 1);
  EXPECT_TRUE(server.WaitConnectionsClosed(1, 10s));
}

TEST(OpenAiTargetTest, HostNotOnTheAllowlistIsRefusedWithoutConnecting) {
  LoopbackServer server([&](Exchange& ex) { ServeSse(ex, {ContentChunk("x")}); });
  IoThreads io;
  auto target = Make(Config(server, /*retries=*/3), io.io(), {"vllm.internal"});
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(Contains(s, "target 'super': egress to '127.0.0.1' refused")) << s;
  EXPECT_EQ(server.connections(), 0);
}

TEST(OpenAiTargetTest, InvalidRequestFailsWithoutConnecting) {
  LoopbackServer server([&](Exchange& ex) { ServeSse(ex, {ContentChunk("x")}); });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  v1::ChatRequest req = SimpleRequest();
  req.add_tools()->set_parameters("nope");
  auto sink = std::make_shared<TestSink>();
  target->Start(req, Clock::now() + 10s, /*stream=*/true, sink);
  absl::Status s = sink->Wait();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "target 'super': tools[0].parameters")) << s;
  EXPECT_EQ(server.connections(), 0);
}

TEST(OpenAiTargetTest, SequentialCallsReuseOneConnection) {
  LoopbackServer server([&](Exchange& ex) {
    ServeSse(ex, {ContentChunk("x"), FinishChunk("stop")});
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  for (int i = 0; i < 3; ++i) {
    auto sink = std::make_shared<TestSink>();
    target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
    ASSERT_TRUE(sink->Wait().ok());
  }
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(server.connections(), 1);
}

TEST(OpenAiTargetTest, ManyConcurrentCalls) {
  LoopbackServer server([&](Exchange& ex) {
    json body = json::parse(ex.request().body);
    ServeSse(
        ex, {ContentChunk(body["messages"][1]["content"].get<std::string>()), FinishChunk("stop")});
  });
  IoThreads io(2);
  auto target = Make(Config(server), io.io());
  std::vector<std::shared_ptr<TestSink>> sinks;
  for (int i = 0; i < 16; ++i) {
    v1::ChatRequest req = SimpleRequest();
    req.mutable_messages(1)->set_content("n" + std::to_string(i));
    sinks.push_back(std::make_shared<TestSink>());
    target->Start(req, Clock::now() + 10s, /*stream=*/true, sinks.back());
  }
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(sinks[i]->Wait().ok());
    EXPECT_EQ(sinks[i]->content(), "n" + std::to_string(i));
  }
}

TEST(OpenAiTargetTest, TargetMayBeDestroyedWhileACallIsInFlight) {
  LoopbackServer server([&](Exchange& ex) {
    ServeSse(ex, {ContentChunk("still here"), FinishChunk("stop")});
  });
  IoThreads io;
  auto target = Make(Config(server), io.io());
  auto sink = std::make_shared<TestSink>();
  target->Start(SimpleRequest(), Clock::now() + 10s, /*stream=*/true, sink);
  target.reset();
  ASSERT_TRUE(sink->Wait().ok());
  EXPECT_EQ(sink->content(), "still here");
}

}  // namespace
}  // namespace airlock::gateway
