#include "engine/chat_template.h"

#include <cmath>
#include <cstdio>

#include "nlohmann/json.hpp"

namespace airlock::engine {
namespace {

using Json = nlohmann::ordered_json;

// Python's str.strip(): whitespace as str.isspace() sees it.
bool PySpaceAt(const std::string& s, size_t i, size_t* len) {
  const auto c = static_cast<unsigned char>(s[i]);
  *len = 1;
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return true;
  auto is = [&](const char* seq) {
    const size_t n = std::char_traits<char>::length(seq);
    if (s.compare(i, n, seq) == 0) {
      *len = n;
      return true;
    }
    return false;
  };
  if (c == 0xC2) return is("\xC2\x85") || is("\xC2\xA0");
  if (c == 0xE1) return is("\xE1\x9A\x80");
  if (c == 0xE2) {
    for (unsigned char t = 0x80; t <= 0x8A; ++t) {
      const char seq[4] = {'\xE2', '\x80', static_cast<char>(t), 0};
      if (is(seq)) return true;
    }
    return is("\xE2\x80\xA8") || is("\xE2\x80\xA9") || is("\xE2\x80\xAF") || is("\xE2\x81\x9F");
  }
  if (c == 0xE3) return is("\xE3\x80\x80");
  return false;
}

std::string Trim(const std::string& s) {
  size_t b = 0, len = 0;
  while (b < s.size() && PySpaceAt(s, b, &len)) b += len;
  size_t e = s.size();
  while (e > b) {  // step back over whole characters
    size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (!PySpaceAt(s, start, &len) || start + len != e) break;
    e = start;
  }
  return s.substr(b, e - b);
}

// json.dumps(x, ensure_ascii=False): ", " and ": " separators, key order kept.
std::string ToJson(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : v.items()) {
        out += (first ? "" : ", ") + Json(k).dump(-1, ' ', false) + ": " + ToJson(x);
        first = false;
      }
      return out + "}";
    }
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i > 0 ? ", " : "") + ToJson(v[i]);
      return out + "]";
    }
    case Json::value_t::number_float: {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e16) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.1f", d);  // Python: 1.0
        return buf;
      }
      return v.dump();
    }
    default:
      return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

// Jinja's `| string` of a value as Python's str(): strings as they are, True / False / None,
// lists and dicts as their repr.
std::string PyRepr(const Json& v, bool top);
std::string PyStr(const Json& v) { return PyRepr(v, true); }
std::string PyRepr(const Json& v, bool top) {
  switch (v.type()) {
    case Json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (top) return s;
      const char q =
          s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
      std::string out(1, q);
      for (char c : s) {
        if (c == q || c == '\\') out.push_back('\\');
        if (c == '\n') {
          out += "\\n";
          continue;
        }
        out.push_back(c);
      }
      return out + q;
    }
    case Json::value_t::boolean:
      return v.get<bool>() ? "True" : "False";
    case Json::value_t::null:
      return "None";
    case Json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : v.items()) {
        out += (first ? "" : ", ") + PyRepr(Json(k), false) + ": " + PyRepr(x, false);
        first = false;
      }
      return out + "}";
    }
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i > 0 ? ", " : "") + PyRepr(v[i], false);
      return out + "]";
    }
    default:
      return ToJson(v);
  }
}

Json ParseOrNull(const std::string& text) {
  if (text.empty()) return nullptr;
  try {
    return Json::parse(text);
  } catch (const Json::parse_error&) {
    return nullptr;
  }
}

void ExtraKeys(const Json& dict, std::initializer_list<const char*> handled, std::string* out) {
  if (!dict.is_object()) return;
  for (const auto& [k, v] : dict.items()) {
    bool skip = false;
    for (const char* h : handled) skip = skip || k == h;
    if (skip) continue;
    *out +=
        "\n<" + k + ">" + (v.is_object() || v.is_array() ? ToJson(v) : PyStr(v)) + "</" + k + ">";
  }
}

void ToolsBlock(const std::vector<ChatTool>& tools, std::string* out) {
  *out += "# Tools\n\nYou have access to the following functions:\n\n<tools>";
  for (const ChatTool& tool : tools) {
    *out += "\n<function>\n<name>" + tool.name + "</name>";
    if (!tool.description.empty())
      *out += "\n<description>" + Trim(tool.description) + "</description>";
    *out += "\n<parameters>";
    const Json params = ParseOrNull(tool.parameters);
    if (params.is_object() && params.contains("properties") && params["properties"].is_object()) {
      for (const auto& [name, fields] : params["properties"].items()) {
        *out += "\n<parameter>\n<name>" + name + "</name>";
        if (fields.is_object()) {
          if (fields.contains("type")) *out += "\n<type>" + PyStr(fields["type"]) + "</type>";
          if (fields.contains("description")) {
            *out += "\n<description>" + Trim(PyStr(fields["description"])) + "</description>";
          }
          if (fields.contains("enum")) *out += "\n<enum>" + ToJson(fields["enum"]) + "</enum>";
        }
        ExtraKeys(fields, {"name", "type", "description", "enum"}, out);
        *out += "\n</parameter>";
      }
    }
    ExtraKeys(params, {"type", "properties", "required"}, out);
    if (params.is_object() && params.contains("required")) {
      *out += "\n<required>" + ToJson(params["required"]) + "</required>";
    }
    *out += "\n</parameters>";
    *out += "\n</function>";
  }
  *out += "\n</tools>";
  *out +=
      "\n\nIf you choose to call a function ONLY reply in the following format with NO "
      "suffix:\n\n<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>"
      "\nvalue_1\n</parameter>\n<parameter=example_parameter_2>\nThis is the value for the second "
      "parameter\nthat can span\nmultiple lines\n</parameter>\n</function>\n</tool_call>\n\n"
      "<IMPORTANT>\nReminder:\n- Function calls MUST follow the specified format: an inner "
      "<function=...></function> block must be nested within <tool_call></tool_call> XML tags\n- "
      "Required parameters MUST be specified\n- You may provide optional reasoning for your "
      "function call in natural language BEFORE the function call, but NOT after\n- If there is "
      "no function call available, answer the question like normal with your current knowledge "
      "and do not tell the user about function calls\n</IMPORTANT>";
}

std::string AfterLast(const std::string& s, const std::string& sep) {
  const size_t at = s.rfind(sep);
  return at == std::string::npos ? s : s.substr(at + sep.size());
}
std::string BeforeFirst(const std::string& s, const std::string& sep) {
  const size_t at = s.find(sep);
  return at == std::string::npos ? s : s.substr(0, at);
}
bool Has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

std::string RenderNemotron3Chat(const std::vector<ChatMessage>& messages,
                                const std::vector<ChatTool>& tools, const ChatOptions& options) {
  std::string out;
  size_t first = 0;
  std::string system;
  if (!messages.empty() && messages[0].role == "system") {
    system = messages[0].content;
    first = 1;
  }
  const std::vector<ChatMessage> loop(messages.begin() + static_cast<std::ptrdiff_t>(first),
                                      messages.end());
  long last_user = -1;
  for (size_t i = 0; i < loop.size(); ++i) {
    if (loop[i].role == "user") last_user = static_cast<long>(i);
  }
  out += "<|im_start|>system\n" + system;
  if (!tools.empty()) {
    if (!system.empty()) out += "\n\n";
    ToolsBlock(tools, &out);
  }
  out += "<|im_end|>\n";

  for (size_t i = 0; i < loop.size(); ++i) {
    const ChatMessage& m = loop[i];
    const bool history = options.truncate_history_thinking && static_cast<long>(i) < last_user;
    if (m.role == "assistant") {
      std::string content;
      if (!Trim(m.reasoning_content).empty()) {
        content = "<think>\n" + m.reasoning_content + "\n</think>\n" + m.content;
      } else {
        content = m.content;
        if (!Has(content, "<think>") && !Has(content, "</think>"))
          content = "<think></think>" + content;
      }
      if (!m.tool_calls.empty()) {
        out += "<|im_start|>assistant\n";
        if (!Trim(content).empty()) {
          if (!history) {
            out += Trim(content) + "\n";
          } else {
            std::string c = content;
            if (Has(c, "</think>")) {
              c = AfterLast(c, "</think>");
            } else if (Has(c, "<think>")) {
              c = BeforeFirst(c, "<think>");
            }
            c = "<think></think>" + Trim(c);
            out += c + "\n";
          }
        } else {
          out += "<think></think>";
        }
        for (const ChatToolCall& call : m.tool_calls) {
          out += "<tool_call>\n<function=" + call.name + ">\n";
          const Json args = ParseOrNull(call.arguments);
          if (args.is_object()) {
            for (const auto& [k, v] : args.items()) {
              out += "<parameter=" + k + ">\n" +
                     (v.is_object() || v.is_array() ? ToJson(v) : PyStr(v)) + "\n</parameter>\n";
            }
          }
          out += "</function>\n</tool_call>\n";
        }
        out += "<|im_end|>\n";
      } else if (!history) {
        out += "<|im_start|>assistant\n" + Trim(content) + "<|im_end|>\n";
      } else {
        std::string c = content;
        if (Has(c, "<think>") && Has(c, "</think>"))
          c = "<think></think>" + AfterLast(c, "</think>");
        c = Trim(c);
        out += c.empty() ? "<|im_start|>assistant\n<|im_end|>\n"
                         : "<|im_start|>assistant\n" + c + "<|im_end|>\n";
      }
    } else if (m.role == "user" || m.role == "system") {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    } else if (m.role == "tool") {
      if (i > 0 && loop[i - 1].role != "tool") out += "<|im_start|>user\n";
      out += "<tool_response>\n" + m.content + "\n</tool_response>\n";
      if (i + 1 == loop.size() || loop[i + 1].role != "tool") out += "<|im_end|>\n";
    } else {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    }
  }
  if (options.add_generation_prompt) {
    out += options.enable_thinking ? "<|im_start|>assistant\n<think>\n"
                                   : "<|im_start|>assistant\n<think></think>";
  }
  return out;
}

}  // namespace airlock::engine
