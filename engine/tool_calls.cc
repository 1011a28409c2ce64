#include "engine/tool_calls.h"

#include "nlohmann/json.hpp"

namespace airlock::engine {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

// The length of the longest suffix of text that is a proper prefix of tag.
size_t PartialTagAtEnd(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n) {
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

std::string_view StripOneNewline(std::string_view v) {
  if (!v.empty() && v.front() == '\n') v.remove_prefix(1);
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  return v;
}

std::string_view TrimAscii(std::string_view v) {
  while (!v.empty() &&
         (v.front() == ' ' || v.front() == '\n' || v.front() == '\t' || v.front() == '\r'))
    v.remove_prefix(1);
  while (!v.empty() &&
         (v.back() == ' ' || v.back() == '\n' || v.back() == '\t' || v.back() == '\r'))
    v.remove_suffix(1);
  return v;
}

Json ValueAs(std::string_view raw, const std::string& type) {
  const std::string text(raw);
  if (type == "string") return text;
  // The chat template writes Python's True / False / None (str() of the values), so the model
  // does too.
  if (type == "boolean" && (text == "True" || text == "False")) return text == "True";
  if (type == "null" && text == "None") return nullptr;
  Json parsed;
  try {
    parsed = Json::parse(text);
  } catch (const Json::parse_error&) {
    return text;  // does not parse: keep the text
  }
  if (type.empty()) return parsed.is_string() ? Json(text) : parsed;
  const bool fits =
      (type == "integer" && parsed.is_number_integer()) ||
      (type == "number" && parsed.is_number()) || (type == "boolean" && parsed.is_boolean()) ||
      (type == "null" && parsed.is_null()) || (type == "object" && parsed.is_object()) ||
      (type == "array" && parsed.is_array());
  return fits ? parsed : Json(text);
}

}  // namespace

ToolCallParser::ToolCallParser(const std::vector<ChatTool>& tools) {
  for (const ChatTool& t : tools) {
    try {
      const Json schema = Json::parse(t.parameters.empty() ? "{}" : t.parameters);
      if (!schema.contains("properties") || !schema["properties"].is_object()) continue;
      for (const auto& [name, fields] : schema["properties"].items()) {
        if (fields.is_object() && fields.contains("type") && fields["type"].is_string()) {
          types_[t.name][name] = fields["type"].get<std::string>();
        }
      }
    } catch (const Json::parse_error&) {
      continue;  // a schema that does not parse gives no types
    }
  }
}

ChatToolCall ToolCallParser::ParseCall(std::string_view body) const {
  ChatToolCall call;
  Json args = Json::object();
  const size_t f = body.find("<function=");
  if (f == std::string_view::npos) {
    call.arguments = "{}";
    return call;
  }
  const size_t name_end = body.find('>', f);
  call.name = std::string(TrimAscii(body.substr(
      f + 10, name_end == std::string_view::npos ? std::string_view::npos : name_end - f - 10)));
  auto tool = types_.find(call.name);
  size_t at = name_end == std::string_view::npos ? body.size() : name_end + 1;
  while (true) {
    const size_t p = body.find("<parameter=", at);
    if (p == std::string_view::npos) break;
    const size_t key_end = body.find('>', p);
    if (key_end == std::string_view::npos) break;
    const std::string key(TrimAscii(body.substr(p + 11, key_end - p - 11)));
    size_t value_end = body.find("</parameter>", key_end);
    const size_t next = body.find("<parameter=", key_end);  // an unclosed parameter ends here
    const size_t fn_end = body.find("</function>", key_end);
    value_end = std::min({value_end, next, fn_end, body.size()});
    const std::string_view value =
        StripOneNewline(body.substr(key_end + 1, value_end - key_end - 1));
    std::string type;
    if (tool != types_.end()) {
      if (auto t = tool->second.find(key); t != tool->second.end()) type = t->second;
    }
    args[key] = ValueAs(value, type);
    at = value_end;
  }
  call.arguments = args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return call;
}

std::vector<ToolCallEvent> ToolCallParser::Push(std::string_view text) {
  if (skip_newline_ && !text.empty()) {
    // The newline the template puts after each call is part of the call, not content.
    if (text.front() == '\n') text.remove_prefix(1);
    skip_newline_ = false;
  }
  buffer_.append(text);
  std::vector<ToolCallEvent> out;
  while (true) {
    if (!in_call_) {
      const size_t open = buffer_.find(kOpen);
      const size_t settled =
          open != std::string::npos ? open : buffer_.size() - PartialTagAtEnd(buffer_, kOpen);
      if (settled > 0) {
        out.push_back({ToolCallEvent::Kind::kContent, buffer_.substr(0, settled), {}});
        buffer_.erase(0, settled);
      }
      if (open == std::string::npos) break;
      buffer_.erase(0, kOpen.size());
      in_call_ = true;
    }
    const size_t close = buffer_.find(kClose);
    if (close == std::string::npos) break;
    out.push_back({ToolCallEvent::Kind::kToolCall,
                   {},
                   ParseCall(std::string_view(buffer_).substr(0, close))});
    buffer_.erase(0, close + kClose.size());
    if (buffer_.empty()) {
      skip_newline_ = true;  // it may come with the next piece
    } else if (buffer_.front() == '\n') {
      buffer_.erase(0, 1);
    }
    in_call_ = false;
  }
  return out;
}

std::vector<ToolCallEvent> ToolCallParser::Finish() {
  std::vector<ToolCallEvent> out;
  if (in_call_ && buffer_.find("<function=") != std::string::npos) {
    out.push_back({ToolCallEvent::Kind::kToolCall, {}, ParseCall(buffer_)});
  } else if (!buffer_.empty() || in_call_) {
    out.push_back(
        {ToolCallEvent::Kind::kContent, in_call_ ? std::string(kOpen) + buffer_ : buffer_, {}});
  }
  buffer_.clear();
  in_call_ = false;
  skip_newline_ = false;
  return out;
}

}  // namespace airlock::engine
