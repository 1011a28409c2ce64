// ToolCallParser: content and tool calls come out the same whether the text arrives at once or
// a character at a time; values take the schema's types; what the chat template writes for a
// call parses back to the same call.
#include "engine/tool_calls.h"

#include <string>

#include "gtest/gtest.h"

namespace airlock::engine {
namespace {

const std::vector<ChatTool> kTools = {
    {"get_weather", "weather",
     R"({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
         "zip": {"type": "string"}, "metric": {"type": "boolean"}}})"}};

const std::string kOutput =
    "Let me check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nZürich\n</parameter>\n"
    "<parameter=days>\n2\n</parameter>\n<parameter=zip>\n8001\n</parameter>\n<parameter=metric>\n"
    "true\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=get_weather>\n"
    "<parameter=city>\nBern\n</parameter>\n</function>\n</tool_call>\nDone <b>.";

struct Collected {
  std::string content;
  std::vector<ChatToolCall> calls;
  bool content_never_holds_a_tag_start = true;
};

Collected Collect(ToolCallParser& p, const std::vector<std::string>& pieces) {
  Collected c;
  auto take = [&](const std::vector<ToolCallEvent>& events) {
    for (const ToolCallEvent& e : events) {
      if (e.kind == ToolCallEvent::Kind::kContent) {
        if (e.content.find("<tool") != std::string::npos) c.content_never_holds_a_tag_start = false;
        c.content += e.content;
      } else {
        c.calls.push_back(e.call);
      }
    }
  };
  for (const std::string& piece : pieces) take(p.Push(piece));
  take(p.Finish());
  return c;
}

TEST(ToolCallParser, SameResultAtOnceOrCharacterByCharacter) {
  ToolCallParser at_once(kTools), by_char(kTools);
  const Collected a = Collect(at_once, {kOutput});
  std::vector<std::string> chars;
  for (char ch : kOutput) chars.emplace_back(1, ch);
  const Collected b = Collect(by_char, chars);
  for (const Collected* c : {&a, &b}) {
    EXPECT_EQ(c->content, "Let me check.\nDone <b>.");
    ASSERT_EQ(c->calls.size(), 2u);
    EXPECT_EQ(c->calls[0].name, "get_weather");
    // Schema types: days an integer, zip a string although it looks like a number.
    EXPECT_EQ(c->calls[0].arguments, R"({"city":"Zürich","days":2,"zip":"8001","metric":true})");
    EXPECT_EQ(c->calls[1].arguments, R"({"city":"Bern"})");
    EXPECT_TRUE(c->content_never_holds_a_tag_start);
  }
}

TEST(ToolCallParser, WithoutASchemaValuesAreTakenByTheirLook) {
  ToolCallParser p;
  const Collected c = Collect(
      p, {"<tool_call>\n<function=f>\n<parameter=a>\ntrue\n</parameter>\n<parameter=b>\n[1, 2]\n"
          "</parameter>\n<parameter=c>\nhello world\n</parameter>\n<parameter=d>\n\"q\"\n"
          "</parameter>\n<parameter=e>\nline one\nline two\n</parameter>\n</function>\n"
          "</tool_call>"});
  ASSERT_EQ(c.calls.size(), 1u);
  EXPECT_EQ(c.calls[0].arguments,
            R"({"a":true,"b":[1,2],"c":"hello world","d":"\"q\"","e":"line one\nline two"})");
  EXPECT_EQ(c.content, "");
}

TEST(ToolCallParser, UnclosedCallsAndStrayTagsAtTheEnd) {
  ToolCallParser unclosed;
  const Collected a = Collect(unclosed, {"ok <tool_call>\n<function=f>\n<parameter=x>\n5"});
  EXPECT_EQ(a.content, "ok ");
  ASSERT_EQ(a.calls.size(), 1u);
  EXPECT_EQ(a.calls[0].name, "f");
  EXPECT_EQ(a.calls[0].arguments, R"({"x":5})");
  ToolCallParser stray;
  const Collected b = Collect(stray, {"a < b <tool"});
  EXPECT_EQ(b.content, "a < b <tool");
  EXPECT_TRUE(b.calls.empty());
  ToolCallParser empty_call;
  const Collected c = Collect(empty_call, {"x <tool_call>nothing"});
  EXPECT_EQ(c.content, "x <tool_call>nothing");
}

TEST(ToolCallParser, WhatTheTemplateWritesParsesBack) {
  const ChatToolCall call{"get_weather", R"({"city":"Zürich","days":3,"metric":false})"};
  std::string rendered = RenderNemotron3Chat({{"user", "q", "", {}}, {"assistant", "", "", {call}}},
                                             kTools, ChatOptions{.add_generation_prompt = false});
  // The assistant turn's text, as the model would have generated it.
  const size_t from = rendered.rfind("<|im_start|>assistant\n") + 22;
  const std::string generated = rendered.substr(from, rendered.rfind("<|im_end|>") - from);
  ToolCallParser p(kTools);
  const Collected c = Collect(p, {generated});
  EXPECT_EQ(c.content, "<think></think>\n");
  ASSERT_EQ(c.calls.size(), 1u);
  EXPECT_EQ(c.calls[0].name, call.name);
  EXPECT_EQ(c.calls[0].arguments, call.arguments);
}

}  // namespace
}  // namespace airlock::engine
