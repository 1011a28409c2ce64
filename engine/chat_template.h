// The Nemotron 3 chat template (NVIDIA-Nemotron-3-Nano-30B-A3B's `chat_template`, a ChatML
// variant), written in C++ so that the engine renders prompts without a Jinja interpreter.
//
// It renders what the official Jinja template renders under transformers (trim_blocks,
// lstrip_blocks; `tojson` as json.dumps with ensure_ascii=False), byte for byte; the unit tests
// hold it to goldens rendered from the official template (tests/reference/chat_goldens.py):
//   - a system block always: "<|im_start|>system\n" + the first message when it is a system
//     message ("" otherwise) + the tools block when there are tools + "<|im_end|>\n";
//   - the tools block: "# Tools ... <tools>" with each tool's name, description, parameters
//     (each property's name, type, description, enum and other keys, then `required`), and the
//     tool-call format instructions;
//   - user and later system messages: "<|im_start|>ROLE\n" + content + "<|im_end|>\n";
//   - assistant messages: reasoning as "<think>\n...\n</think>\n" before the content, or
//     "<think></think>" when there is none; before the last user message (history) the
//     reasoning is dropped (truncate_history_thinking); tool calls as
//     "<tool_call>\n<function=NAME>\n<parameter=K>\nV\n</parameter>\n</function>\n</tool_call>\n";
//   - tool results: "<tool_response>\n" + content + "\n</tool_response>\n", consecutive ones in
//     one user turn;
//   - the generation prompt: "<|im_start|>assistant\n<think>\n" with thinking on (the default),
//     "<|im_start|>assistant\n<think></think>" with it off.
// Tool-call arguments and tool parameters are JSON text; their key order is kept. Arguments that
// are not a JSON object render no parameters. An empty description counts as none.
#pragma once

#include <string>
#include <vector>

namespace airlock::engine {

struct ChatToolCall {
  std::string name;
  std::string arguments;  // JSON object text
};

struct ChatMessage {
  std::string role;  // system, user, assistant, tool
  std::string content;
  std::string reasoning_content;         // assistant only
  std::vector<ChatToolCall> tool_calls;  // assistant only
};

struct ChatTool {
  std::string name;
  std::string description;
  std::string parameters;  // JSON schema text; empty: none
};

struct ChatOptions {
  bool enable_thinking = true;
  bool truncate_history_thinking = true;
  bool add_generation_prompt = true;
};

std::string RenderNemotron3Chat(const std::vector<ChatMessage>& messages,
                                const std::vector<ChatTool>& tools, const ChatOptions& options);

}  // namespace airlock::engine
