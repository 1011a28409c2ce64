// The text fields of a request that are assessed and transformed, with stable addresses.
//
// Every part of a request that can carry sensitive text is a field: message content,
// tool-call names and arguments, and tool names, descriptions and parameter schemas. The
// classifier reads them through ForEachField; transforms rewrite them through MutableField,
// so both always agree on what "the content" is.
#pragma once

#include <compare>
#include <functional>
#include <string>
#include <string_view>

#include "airlock/v1/gateway.pb.h"

namespace airlock::classifier {

struct FieldRef {
  enum class Kind {
    kMessageContent,     // messages[index].content
    kToolCallName,       // messages[index].tool_calls[sub].name
    kToolCallArguments,  // messages[index].tool_calls[sub].arguments
    kToolName,           // tools[index].name
    kToolDescription,    // tools[index].description
    kToolParameters,     // tools[index].parameters
  };
  Kind kind = Kind::kMessageContent;
  int index = 0;
  int sub = 0;  // tool-call index for kToolCall*; 0 for the other kinds

  bool operator==(const FieldRef&) const = default;
  // Request order, the order in which ForEachField visits fields: messages by index (each
  // message's content, then its tool calls by `sub`, name before arguments), then tools by
  // index (name, description, parameters).
  std::strong_ordering operator<=>(const FieldRef& other) const;
};

// "messages[2].content", "messages[1].tool_calls[0].arguments", "tools[0].description", ...
std::string FieldPath(const FieldRef& ref);

// Calls fn for every non-empty text field, in request order. Message `name` and
// `tool_call_id`, sampling parameters and request labels are not content and are not visited.
void ForEachField(const v1::ChatRequest& request,
                  const std::function<void(const FieldRef&, std::string_view)>& fn);

// The field's storage; nullptr when ref does not address a field of request.
std::string* MutableField(v1::ChatRequest* request, const FieldRef& ref);

}  // namespace airlock::classifier
