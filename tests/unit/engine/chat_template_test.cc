// The Nemotron 3 chat template in C++ renders, byte for byte, what the official Jinja template
// renders (tests/data/engine/chat_goldens.json, from tests/reference/chat_goldens.py): system
// block always, tools block, thinking on and off, history reasoning stripped or kept, tool calls
// with every kind of argument value, consecutive tool responses, odd whitespace.
#include "engine/chat_template.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace airlock::engine {
namespace {

TEST(ChatTemplate, RendersWhatTheOfficialTemplateRenders) {
  const auto path = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() /
                    "data" / "engine" / "chat_goldens.json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  const nlohmann::json goldens = nlohmann::json::parse(in);
  ASSERT_GE(goldens["cases"].size(), 8u);
  for (const auto& c : goldens["cases"]) {
    std::vector<ChatMessage> messages;
    for (const auto& m : c["messages"]) {
      ChatMessage msg;
      msg.role = m["role"];
      msg.content = m["content"];
      msg.reasoning_content = m.value("reasoning_content", "");
      for (const auto& call : m.value("tool_calls", nlohmann::json::array())) {
        msg.tool_calls.push_back({call["name"], call["arguments"]});
      }
      messages.push_back(std::move(msg));
    }
    std::vector<ChatTool> tools;
    for (const auto& t : c["tools"])
      tools.push_back({t["name"], t["description"], t["parameters"]});
    ChatOptions o;
    o.enable_thinking = c["options"]["enable_thinking"];
    o.truncate_history_thinking = c["options"]["truncate_history_thinking"];
    o.add_generation_prompt = c["options"]["add_generation_prompt"];
    EXPECT_EQ(RenderNemotron3Chat(messages, tools, o), c["expected"].get<std::string>())
        << c["name"];
  }
}

TEST(ChatTemplate, ArgumentsThatAreNotAnObjectRenderNoParameters) {
  const std::string out = RenderNemotron3Chat(
      {{"user", "go", "", {}}, {"assistant", "", "", {{"run", "not json"}}}}, {},
      ChatOptions{.enable_thinking = true,
                  .truncate_history_thinking = true,
                  .add_generation_prompt = false});
  EXPECT_EQ(out,
            "<|im_start|>system\n<|im_end|>\n<|im_start|>user\ngo<|im_end|>\n"
            "<|im_start|>assistant\n<think></think>\n<tool_call>\n<function=run>\n</function>\n"
            "</tool_call>\n<|im_end|>\n");
}

}  // namespace
}  // namespace airlock::engine
