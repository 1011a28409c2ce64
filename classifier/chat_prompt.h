// The request as the Nemotron 3 chat the local model reads (engine/chat_template.h). The local
// target generates from this rendering and the model stage (classifier/model_stage.h) scores
// it, so a classification's prefill is the start of the generation's prompt and can be reused.
#pragma once

#include <string>
#include <vector>

#include "airlock/v1/gateway.pb.h"
#include "engine/chat_template.h"

namespace airlock::classifier {

struct ChatPrompt {
  std::vector<engine::ChatMessage> messages;
  std::vector<engine::ChatTool> tools;
};

// Messages (role, content, tool calls) and tools; an unset role counts as user.
ChatPrompt ChatPromptOf(const v1::ChatRequest& request);
// The conversation: the system block (with the tools) and every message, no generation prompt.
std::string RenderConversation(const ChatPrompt& prompt);
// The conversation and then the generation prompt with thinking off (the answer is the
// content): "<|im_start|>assistant\n<think></think>".
std::string RenderForGeneration(const ChatPrompt& prompt);

}  // namespace airlock::classifier
