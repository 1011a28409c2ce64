#include "gateway/cmd/classify_command.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "classifier/classifier.h"
#include "classifier/content.h"
#include "google/protobuf/util/json_util.h"
#include "router/policy.h"
#include "yaml-cpp/yaml.h"

namespace airlock::gateway::cli {
namespace {

using classifier::Assessment;
using classifier::Finding;

// Length of the valid UTF-8 sequence starting at text[i], or 0 when none starts there.
size_t Utf8Length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b = byte(i);
  size_t n = 0;
  uint32_t cp = 0;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
    cp = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    cp = b & 0x0F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    cp = b & 0x07;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

bool AllowedControl(unsigned char c) {
  return c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// OK when text is UTF-8 without NUL or control bytes other than whitespace.
absl::Status CheckText(std::string_view text, std::string_view source) {
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 && !AllowedControl(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(source), ": binary input (control byte 0x", absl::Hex(c, absl::kZeroPad2),
          " at byte ", i, "); give a request as JSON or UTF-8 text"));
    }
    const size_t n = Utf8Length(text, i);
    if (n == 0) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(source),
                                                     ": binary input (not UTF-8 at byte ", i,
                                                     "); give a request as JSON or UTF-8 text"));
    }
    i += n;
  }
  return absl::OkStatus();
}

// Appends text[begin, end) to out as one line: line breaks and tabs as spaces, other control
// bytes and bytes that are not UTF-8 as '?'.
void AppendPrintable(std::string_view text, size_t begin, size_t end, std::string* out) {
  for (size_t i = begin; i < end;) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      out->push_back(AllowedControl(c) ? ' ' : '?');
      ++i;
      continue;
    }
    const size_t n = Utf8Length(text, i);
    if (n == 0 || i + n > end) {
      out->push_back('?');
      ++i;
      continue;
    }
    out->append(text.substr(i, n));
    i += n;
  }
}

// Moves a byte offset back (or forward) to the start of a UTF-8 character.
size_t CharStartBefore(std::string_view text, size_t i) {
  for (int k = 0;
       k < 3 && i > 0 && i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
       ++k) {
    --i;
  }
  return i;
}
size_t CharStartAfter(std::string_view text, size_t i) {
  for (int k = 0; k < 3 && i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
       ++k) {
    ++i;
  }
  return i;
}

// Number of UTF-8 characters (invalid bytes count one each) in text.
size_t CharCount(std::string_view text) {
  size_t count = 0;
  for (size_t i = 0; i < text.size(); ++count) {
    const size_t n = Utf8Length(text, i);
    i += n == 0 ? 1 : n;
  }
  return count;
}

// Byte length of the first `chars` characters of text.
size_t PrefixBytes(std::string_view text, size_t chars) {
  size_t i = 0;
  for (size_t c = 0; c < chars && i < text.size(); ++c) {
    const size_t n = Utf8Length(text, i);
    i += n == 0 ? 1 : n;
  }
  return i;
}

std::string LevelText(classifier::Level level) { return std::string(classifier::LevelName(level)); }

std::string Pad(std::string s, size_t width) {
  // Width in characters, so that multi-byte excerpts line up too.
  const size_t chars = CharCount(s);
  if (chars < width) s.append(width - chars, ' ');
  return s;
}

}  // namespace

absl::StatusOr<std::string> ReadClassifyInput(const std::string& path) {
  std::string bytes;
  if (path.empty() || path == "-") {
    char buffer[1 << 16];
    while (std::cin.read(buffer, sizeof(buffer)) || std::cin.gcount() > 0) {
      bytes.append(buffer, static_cast<size_t>(std::cin.gcount()));
      if (bytes.size() > kMaxClassifyInput) break;
    }
    if (std::cin.bad()) return absl::DataLossError("stdin: read error");
  } else {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a file"));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      const int err = errno;
      return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(err)));
    }
    char buffer[1 << 16];
    while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
      bytes.append(buffer, static_cast<size_t>(in.gcount()));
      if (bytes.size() > kMaxClassifyInput) break;
    }
    if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  }
  return bytes;
}

namespace {

// Every scalar under a `route` key and every scalar of a `fallbacks` sequence, anywhere in
// the document: the target names a policy refers to.
void CollectTargetNames(const YAML::Node& node, std::set<std::string>* out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
      if (key == "route" && kv.second.IsScalar()) out->insert(kv.second.Scalar());
      if (key == "fallbacks" && kv.second.IsSequence()) {
        for (const auto& item : kv.second) {
          if (item.IsScalar()) out->insert(item.Scalar());
        }
      }
      CollectTargetNames(kv.second, out);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) CollectTargetNames(item, out);
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<const router::Policy>> LoadPolicyAnyTargets(
    const std::string& path) {
  std::set<std::string> targets;
  try {
    CollectTargetNames(YAML::LoadFile(path), &targets);
  } catch (const std::exception&) {
    // Unreadable or not YAML: LoadPolicy says so precisely below.
  }
  return router::LoadPolicy(path, targets);
}

absl::StatusOr<std::shared_ptr<const classifier::Classifier>> LoadPolicyClassifier(
    const std::string& path) {
  auto policy = LoadPolicyAnyTargets(path);
  if (!policy.ok()) return policy.status();
  if ((*policy)->classifier == nullptr) {
    return absl::InternalError(absl::StrCat(path, ": the policy has no classifier"));
  }
  return (*policy)->classifier;
}

absl::StatusOr<v1::ChatRequest> ParseClassifyInput(std::string_view bytes,
                                                   std::string_view source) {
  const std::string where(source);
  if (bytes.size() > kMaxClassifyInput) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": input larger than ", kMaxClassifyInput >> 20, " MiB"));
  }
  const size_t first = bytes.find_first_not_of(" \t\n\v\f\r");
  if (first == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": empty input; give a request as JSON or text"));
  }
  if (absl::Status text = CheckText(bytes, source); !text.ok()) return text;

  v1::ChatRequest request;
  if (bytes[first] == '{') {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    options.case_insensitive_enum_parsing = true;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(bytes.data(), bytes.size()), &request, options);
    if (!status.ok()) {
      // protobuf's message may span lines (it draws a caret under the input): keep one line.
      std::string reason(status.message());
      for (char& c : reason) {
        if (c == '\n' || c == '\r') c = ' ';
      }
      while (!reason.empty() && (reason.back() == ' ' || reason.back() == '^')) reason.pop_back();
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": invalid JSON for a ChatRequest: ", reason));
    }
    return request;
  }
  v1::Message* message = request.add_messages();
  message->set_role(v1::Message::USER);
  message->set_content(std::string(bytes));
  return request;
}

std::string MaskedExcerpt(const v1::ChatRequest& request, const Assessment& assessment,
                          size_t index) {
  if (index >= assessment.findings.size()) return "";
  const Finding& f = assessment.findings[index];
  std::optional<std::string_view> field;
  classifier::ForEachField(request, [&](const classifier::FieldRef& ref, std::string_view text) {
    if (ref == f.field) field = text;
  });
  if (!field.has_value() || f.begin > f.end || f.end > field->size()) return "";
  const std::string_view text = *field;

  const size_t from =
      CharStartBefore(text, f.begin > kExcerptContext ? f.begin - kExcerptContext : 0);
  const size_t to = CharStartAfter(text, std::min(text.size(), f.end + kExcerptContext));
  std::string out;
  if (from > 0) out += "...";
  size_t i = from;
  // Every finding of the same field inside [from, to), in order.
  for (const Finding& g : assessment.findings) {
    if (!(g.field == f.field) || g.end <= i || g.begin >= to) continue;
    AppendPrintable(text, i, std::max(g.begin, i), &out);
    if (&g == &f) {
      const std::string_view value = text.substr(f.begin, f.end - f.begin);
      const size_t chars = CharCount(value);
      const size_t keep = chars >= 8 ? 2 : (chars >= 4 ? 1 : 0);
      AppendPrintable(value, 0, PrefixBytes(value, keep), &out);
    }
    out += "***";
    i = std::min(g.end, to);
  }
  AppendPrintable(text, i, to, &out);
  if (to < text.size()) {
    out += "...";
  } else {
    while (!out.empty() && out.back() == ' ') out.pop_back();
  }
  return out;
}

std::string FormatAssessmentReport(const v1::ChatRequest& request, const Assessment& assessment) {
  const std::vector<std::string> header = {"LEVEL",      "CATEGORY", "DETECTOR",
                                           "CONFIDENCE", "LOCATION", "EXCERPT"};
  std::vector<std::vector<std::string>> rows;
  for (size_t k = 0; k < assessment.findings.size(); ++k) {
    const Finding& f = assessment.findings[k];
    char confidence[16];
    std::snprintf(confidence, sizeof(confidence), "%.2f", static_cast<double>(f.confidence));
    rows.push_back({LevelText(f.level), f.category, f.detector, confidence,
                    absl::StrCat(classifier::FieldPath(f.field), " [", f.begin, ",", f.end, ")"),
                    MaskedExcerpt(request, assessment, k)});
  }
  std::string out;
  if (rows.empty()) {
    out += "no findings\n";
  } else {
    std::vector<size_t> width(header.size());
    for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
    for (const auto& row : rows) {
      for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], CharCount(row[c]));
    }
    const auto line = [&](const std::vector<std::string>& cells) {
      std::string l;
      for (size_t c = 0; c < cells.size(); ++c) {
        l += c + 1 == cells.size() ? cells[c] : Pad(cells[c], width[c] + 2);
      }
      out += l + "\n";
    };
    line(header);
    for (const auto& row : rows) line(row);
  }
  char difficulty[32];
  std::snprintf(difficulty, sizeof(difficulty), "%.3f", static_cast<double>(assessment.difficulty));
  out += absl::StrCat(
      "\nlevel: ", LevelText(assessment.level), "\nfindings: ", assessment.findings.size(),
      "\nestimated tokens: ", assessment.estimated_tokens, "\ndifficulty: ", difficulty, "\n");
  size_t name_width = 0;
  for (const auto& [name, value] : assessment.difficulty_signals) {
    name_width = std::max(name_width, name.size());
  }
  for (const auto& [name, value] : assessment.difficulty_signals) {
    char v[32];
    std::snprintf(v, sizeof(v), "%.3f", static_cast<double>(value));
    out += absl::StrCat("  ", Pad(name, name_width + 2), v, "\n");
  }
  return out;
}

std::string AssessmentJson(const Assessment& assessment) {
  v1::Assessment proto;
  classifier::ToProto(assessment, &proto);
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(proto, &out, options);
  if (out.empty() || out.back() != '\n') out.push_back('\n');
  return out;
}

void AddClassifyCommand(CLI::App& app, int* exit_code) {
  struct Args {
    std::string file = "-";
    bool json = false;
    std::string policy;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "classify", "assess a request (JSON ChatRequest or plain text) and print its findings");
  cmd->add_option("file", args->file, "request file; '-' or absent: stdin");
  cmd->add_flag("--json", args->json, "print the assessment as JSON (v1.Assessment)");
  cmd->add_option("--policy", args->policy,
                  "assess with this policy's detectors and levels (default: built-in only)");
  cmd->callback([args, exit_code] {
    const std::string source = args->file == "-" ? "stdin" : args->file;
    auto bytes = ReadClassifyInput(args->file);
    if (!bytes.ok()) {
      std::fprintf(stderr, "airlock classify: %s\n", std::string(bytes.status().message()).c_str());
      *exit_code = 2;
      return;
    }
    auto request = ParseClassifyInput(*bytes, source);
    if (!request.ok()) {
      std::fprintf(stderr, "airlock classify: %s\n",
                   std::string(request.status().message()).c_str());
      *exit_code = 2;
      return;
    }
    std::shared_ptr<const classifier::Classifier> classifier;
    if (args->policy.empty()) {
      classifier = classifier::Classifier::CreateDefault();
    } else {
      auto loaded = LoadPolicyClassifier(args->policy);
      if (!loaded.ok()) {
        std::fprintf(stderr, "airlock classify: %s\n",
                     std::string(loaded.status().message()).c_str());
        *exit_code = 2;
        return;
      }
      classifier = *std::move(loaded);
    }
    const Assessment assessment = classifier->Assess(*request);
    const std::string out =
        args->json ? AssessmentJson(assessment) : FormatAssessmentReport(*request, assessment);
    std::fwrite(out.data(), 1, out.size(), stdout);
    *exit_code = std::fflush(stdout) == 0 ? 0 : 1;
  });
}

}  // namespace airlock::gateway::cli
