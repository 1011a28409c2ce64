// ToolCallParser: splits a Nemotron 3 generation into answer text and tool calls as it streams.
//
// The model calls tools in the format its chat template teaches (engine/chat_template.h):
//   <tool_call>\n<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>\n...</function>\n</tool_call>
// Push takes each new piece of text and returns what is settled: content as soon as it cannot
// be the start of "<tool_call>", and each tool call once its "</tool_call>" has arrived, with
// its arguments as a JSON object in parameter order. Parameter values become JSON by the tool's
// schema when the parameter's type is known (string stays a string; integer, number, boolean,
// null, object and array are parsed, and kept as a string when they do not parse), otherwise
// by their look (a value that parses as JSON other than a bare string is taken as such). With
// a boolean or null type, Python's True / False / None (which the template writes for earlier
// calls) are read too. The newline after each "</tool_call>" belongs to the call.
// Finish ends the text: an unclosed tool call that names a function is parsed as far as it goes;
// anything else left over is content.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat_template.h"

namespace airlock::engine {

struct ToolCallEvent {
  enum class Kind { kContent, kToolCall } kind = Kind::kContent;
  std::string content;  // kContent
  ChatToolCall call;    // kToolCall: name and arguments (a JSON object's text)
};

class ToolCallParser {
 public:
  // tools: the request's tools, for their parameter types (may be empty).
  explicit ToolCallParser(const std::vector<ChatTool>& tools = {});

  std::vector<ToolCallEvent> Push(std::string_view text);
  std::vector<ToolCallEvent> Finish();

 private:
  ChatToolCall ParseCall(std::string_view body) const;

  std::map<std::string, std::map<std::string, std::string>> types_;  // tool -> param -> type
  std::string buffer_;                                               // text not yet settled
  bool in_call_ = false;
  bool skip_newline_ = false;  // a call just closed: a newline right after it is the call's
};

}  // namespace airlock::engine
