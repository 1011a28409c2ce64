// AnswerRestorer (gateway/pipeline.h): pseudonyms restored in streamed answers, content and
// tool calls alike, with placeholders split across deltas, and mangled ones counted. MergeDelta:
// merged deltas assemble into the same answer.
#include <string>
#include <vector>

#include "gateway/pipeline.h"
#include "gtest/gtest.h"

namespace airlock::gateway {
namespace {

router::PseudonymMap Map() {
  router::PseudonymMap map;
  map.PlaceholderFor("EMAIL", "bob@example.org");    // <EMAIL_1>
  map.PlaceholderFor("EMAIL", "alice@example.com");  // <EMAIL_2>
  return map;
}

v1::ChatStreamResponse Content(const std::string& text) {
  v1::ChatStreamResponse d;
  d.set_content_delta(text);
  return d;
}

v1::ChatStreamResponse Call(uint32_t index, const std::string& name, const std::string& args) {
  v1::ChatStreamResponse d;
  auto* call = d.add_tool_calls();
  call->set_index(index);
  if (!name.empty()) {
    call->set_id("call_" + std::to_string(index));
    call->set_name(name);
  }
  call->set_arguments(args);
  return d;
}

// Merges the restored deltas the way the unary path does.
v1::ChatResponse Restored(AnswerRestorer& restorer, const std::vector<v1::ChatStreamResponse>& in) {
  v1::ChatResponse answer;
  for (const auto& d : in) AppendDelta(restorer.Push(d), &answer);
  AppendDelta(restorer.Finish(), &answer);
  return answer;
}

TEST(AnswerRestorer, RestoresContentAndToolCallsSplitAcrossDeltas) {
  const router::PseudonymMap map = Map();
  AnswerRestorer restorer(&map);
  const v1::ChatResponse answer = Restored(
      restorer, {Content("Sending to <EMA"), Content("IL_1> now"),
                 Call(0, "send_mail", "{\"to\":\"<EMAIL"), Call(1, "notify", "{\"cc\":\"<"),
                 Call(0, "", "_2>\",\"cc\":\"<EMAIL_1>\"}"), Call(1, "", "EMAIL_1>\"}")});
  EXPECT_EQ(answer.content(), "Sending to bob@example.org now");
  ASSERT_EQ(answer.tool_calls_size(), 2);
  EXPECT_EQ(answer.tool_calls(0).name(), "send_mail");
  EXPECT_EQ(answer.tool_calls(0).arguments(),
            "{\"to\":\"alice@example.com\",\"cc\":\"bob@example.org\"}");
  EXPECT_EQ(answer.tool_calls(1).arguments(), "{\"cc\":\"bob@example.org\"}");
  EXPECT_EQ(restorer.mangled(), 0u);
}

TEST(AnswerRestorer, CountsMangledPlaceholdersAndLeavesThemAsTheyAre) {
  const router::PseudonymMap map = Map();
  AnswerRestorer restorer(&map);
  const v1::ChatResponse answer = Restored(
      restorer, {Content("Dear <EMAIL "), Content("1>, and <EMAIL_2>"),
                 Call(0, "lookup_<email_1>", "{\"q\":\"[EMAIL_2]\"}"), Content(" EMAIL_1")});
  EXPECT_EQ(answer.content(), "Dear <EMAIL 1>, and alice@example.com EMAIL_1");
  EXPECT_EQ(answer.tool_calls(0).name(), "lookup_<email_1>");
  EXPECT_EQ(answer.tool_calls(0).arguments(), "{\"q\":\"[EMAIL_2]\"}");
  EXPECT_EQ(restorer.mangled(), 4u);  // "<EMAIL 1>", "EMAIL_1", "<email_1>", "[EMAIL_2]"
}

TEST(AnswerRestorer, EmptyMapPassesDeltasThrough) {
  const router::PseudonymMap empty;
  AnswerRestorer restorer(&empty);
  const v1::ChatStreamResponse d = Call(0, "f", "<EMAIL_1>");
  EXPECT_EQ(restorer.Push(d).SerializeAsString(), d.SerializeAsString());
  EXPECT_EQ(restorer.Finish().SerializeAsString(), v1::ChatStreamResponse().SerializeAsString());
  EXPECT_EQ(restorer.mangled(), 0u);
}

// A stream whose pending deltas were merged (as a slow reader's stream is) assembles into the
// same answer as the stream sent delta by delta, whichever neighbours were merged.
TEST(MergeDelta, MergedStreamsAssembleIntoTheSameAnswer) {
  v1::ChatStreamResponse first = Content("Hel");
  first.mutable_route()->set_target("frontier");
  v1::ChatStreamResponse last = Content("!");
  last.set_finish_reason("tool_calls");
  last.mutable_usage()->set_completion_tokens(9);
  const std::vector<v1::ChatStreamResponse> stream = {first,
                                                      Content("lo"),
                                                      Call(0, "get", "{\"a\""),
                                                      Call(0, "", ":1}"),
                                                      Content(" you"),
                                                      Call(1, "put", "{}"),
                                                      Content(""),
                                                      last};
  v1::ChatResponse want;
  for (const auto& d : stream) AppendDelta(d, &want);
  // Every way of merging runs of neighbours: bit i set means delta i+1 merges into the message
  // before it.
  const size_t n = stream.size();
  for (uint32_t mask = 0; mask < (1u << (n - 1)); ++mask) {
    std::vector<v1::ChatStreamResponse> sent = {stream[0]};
    for (size_t i = 1; i < n; ++i) {
      if (!((mask >> (i - 1)) & 1) || !MergeDelta(&sent.back(), stream[i])) {
        sent.push_back(stream[i]);
      }
    }
    v1::ChatResponse got;
    for (const auto& d : sent) AppendDelta(d, &got);
    ASSERT_EQ(got.SerializeAsString(), want.SerializeAsString()) << "mask " << mask;
    EXPECT_TRUE(sent.front().has_route());
    EXPECT_EQ(sent.back().finish_reason(), "tool_calls");
    for (size_t i = 0; i + 1 < sent.size(); ++i) EXPECT_TRUE(sent[i].finish_reason().empty());
  }
}

TEST(MergeDelta, KeepsTheRouteFirstAndNothingAfterTheLast) {
  v1::ChatStreamResponse with_route = Content("a");
  with_route.mutable_route()->set_target("t");
  v1::ChatStreamResponse into = Content("x");
  EXPECT_FALSE(MergeDelta(&into, with_route));
  EXPECT_EQ(into.content_delta(), "x");
  v1::ChatStreamResponse ended = Content("y");
  ended.set_finish_reason("stop");
  EXPECT_FALSE(MergeDelta(&ended, Content("z")));
  EXPECT_EQ(ended.content_delta(), "y");
  v1::ChatStreamResponse with_usage;
  with_usage.mutable_usage()->set_prompt_tokens(1);
  EXPECT_FALSE(MergeDelta(&with_usage, Content("z")));
  EXPECT_TRUE(MergeDelta(&into, ended));
  EXPECT_EQ(into.content_delta(), "xy");
  EXPECT_EQ(into.finish_reason(), "stop");
}

}  // namespace
}  // namespace airlock::gateway
