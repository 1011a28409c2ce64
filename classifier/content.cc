#include "classifier/content.h"

#include <string>
#include <tuple>

namespace airlock::classifier {
namespace {

// Request order: messages (each message's content, then its tool calls' names and arguments),
// then tools (name, description, parameters).
auto OrderKey(const FieldRef& r) {
  const bool is_tool = r.kind == FieldRef::Kind::kToolName ||
                       r.kind == FieldRef::Kind::kToolDescription ||
                       r.kind == FieldRef::Kind::kToolParameters;
  const bool in_tool_call =
      r.kind == FieldRef::Kind::kToolCallName || r.kind == FieldRef::Kind::kToolCallArguments;
  // Message content precedes every tool call of its message; `sub` only orders tool calls,
  // but it is kept last so that the order stays consistent with ==.
  return std::make_tuple(is_tool ? 1 : 0, r.index, in_tool_call ? 1 : 0, in_tool_call ? r.sub : 0,
                         static_cast<int>(r.kind), r.sub);
}

}  // namespace

std::strong_ordering FieldRef::operator<=>(const FieldRef& other) const {
  return OrderKey(*this) <=> OrderKey(other);
}

std::string FieldPath(const FieldRef& ref) {
  const std::string i = std::to_string(ref.index);
  const std::string j = std::to_string(ref.sub);
  switch (ref.kind) {
    case FieldRef::Kind::kMessageContent:
      return "messages[" + i + "].content";
    case FieldRef::Kind::kToolCallName:
      return "messages[" + i + "].tool_calls[" + j + "].name";
    case FieldRef::Kind::kToolCallArguments:
      return "messages[" + i + "].tool_calls[" + j + "].arguments";
    case FieldRef::Kind::kToolName:
      return "tools[" + i + "].name";
    case FieldRef::Kind::kToolDescription:
      return "tools[" + i + "].description";
    case FieldRef::Kind::kToolParameters:
      return "tools[" + i + "].parameters";
  }
  return "unknown";
}

void ForEachField(const v1::ChatRequest& request,
                  const std::function<void(const FieldRef&, std::string_view)>& fn) {
  auto visit = [&fn](FieldRef::Kind kind, int index, int sub, const std::string& text) {
    if (!text.empty()) fn(FieldRef{kind, index, sub}, text);
  };
  for (int i = 0; i < request.messages_size(); ++i) {
    const v1::Message& m = request.messages(i);
    visit(FieldRef::Kind::kMessageContent, i, 0, m.content());
    for (int j = 0; j < m.tool_calls_size(); ++j) {
      visit(FieldRef::Kind::kToolCallName, i, j, m.tool_calls(j).name());
      visit(FieldRef::Kind::kToolCallArguments, i, j, m.tool_calls(j).arguments());
    }
  }
  for (int i = 0; i < request.tools_size(); ++i) {
    const v1::Tool& t = request.tools(i);
    visit(FieldRef::Kind::kToolName, i, 0, t.name());
    visit(FieldRef::Kind::kToolDescription, i, 0, t.description());
    visit(FieldRef::Kind::kToolParameters, i, 0, t.parameters());
  }
}

std::string* MutableField(v1::ChatRequest* request, const FieldRef& ref) {
  if (request == nullptr || ref.index < 0 || ref.sub < 0) return nullptr;
  switch (ref.kind) {
    case FieldRef::Kind::kMessageContent:
    case FieldRef::Kind::kToolCallName:
    case FieldRef::Kind::kToolCallArguments: {
      if (ref.index >= request->messages_size()) return nullptr;
      v1::Message* m = request->mutable_messages(ref.index);
      if (ref.kind == FieldRef::Kind::kMessageContent) {
        return ref.sub == 0 ? m->mutable_content() : nullptr;
      }
      if (ref.sub >= m->tool_calls_size()) return nullptr;
      v1::ToolCall* call = m->mutable_tool_calls(ref.sub);
      return ref.kind == FieldRef::Kind::kToolCallName ? call->mutable_name()
                                                       : call->mutable_arguments();
    }
    case FieldRef::Kind::kToolName:
    case FieldRef::Kind::kToolDescription:
    case FieldRef::Kind::kToolParameters: {
      if (ref.index >= request->tools_size() || ref.sub != 0) return nullptr;
      v1::Tool* t = request->mutable_tools(ref.index);
      if (ref.kind == FieldRef::Kind::kToolName) return t->mutable_name();
      if (ref.kind == FieldRef::Kind::kToolDescription) return t->mutable_description();
      return t->mutable_parameters();
    }
  }
  return nullptr;
}

}  // namespace airlock::classifier
