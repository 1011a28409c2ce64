#include "classifier/chat_prompt.h"

namespace airlock::classifier {
namespace {

std::string RoleName(v1::Message::Role r) {
  switch (r) {
    case v1::Message::SYSTEM:
      return "system";
    case v1::Message::ASSISTANT:
      return "assistant";
    case v1::Message::TOOL:
      return "tool";
    default:
      return "user";
  }
}

std::string Render(const ChatPrompt& prompt, bool generation) {
  engine::ChatOptions options;
  options.enable_thinking = false;
  options.add_generation_prompt = generation;
  return engine::RenderNemotron3Chat(prompt.messages, prompt.tools, options);
}

}  // namespace

ChatPrompt ChatPromptOf(const v1::ChatRequest& request) {
  ChatPrompt p;
  for (const v1::Message& m : request.messages()) {
    engine::ChatMessage msg{RoleName(m.role()), m.content(), "", {}};
    for (const v1::ToolCall& c : m.tool_calls())
      msg.tool_calls.push_back({c.name(), c.arguments()});
    p.messages.push_back(std::move(msg));
  }
  for (const v1::Tool& t : request.tools()) {
    p.tools.push_back({t.name(), t.description(), t.parameters()});
  }
  return p;
}

std::string RenderConversation(const ChatPrompt& prompt) { return Render(prompt, false); }
std::string RenderForGeneration(const ChatPrompt& prompt) { return Render(prompt, true); }

}  // namespace airlock::classifier
