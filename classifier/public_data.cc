#include "classifier/public_data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace airlock::classifier {
namespace {

constexpr const char* kWeak = "mistralai/Mixtral-8x7B-Instruct-v0.1";
constexpr const char* kStrong = "gpt-4-1106-preview";

// RFC 4180 CSV: comma-separated fields, double-quoted fields may hold commas, newlines and
// doubled quotes; records end with LF or CRLF outside quotes.
absl::StatusOr<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text,
                                                               const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
      rows.push_back(std::move(row));
      row.clear();
    } else {
      field.push_back(c);
      field_started = true;
    }
  }
  if (quoted) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", line, ": unterminated quoted field at the end of the file"));
  }
  if (field_started || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<std::vector<JsonlLine>> ReadJsonl(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseJsonl(*text, path);
}

// The string field `key` of a JSONL line, or an error naming the line.
absl::StatusOr<std::string> StringField(const JsonlLine& line, const char* key) {
  auto it = line.second.find(key);
  if (it == line.second.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(line.first, ": expected a string '", key, "'"));
  }
  return it->get<std::string>();
}

absl::StatusOr<std::set<std::string>> Contaminated(const std::string& path) {
  auto lines = ReadJsonl(path);
  if (!lines.ok()) return lines.status();
  std::set<std::string> prompts;
  for (const auto& line : *lines) {
    auto prompt = StringField(line, "eval_prompt");
    if (!prompt.ok()) return prompt.status();
    prompts.insert(*std::move(prompt));
  }
  return prompts;
}

absl::Status AddCsv(const std::string& path, const std::set<std::string>& contaminated,
                    RouteLlmSet* set) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto rows = ParseCsv(*text, path);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": empty file"));
  const std::vector<std::string>& header = rows->front();
  auto column = [&](std::string_view name) -> int {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int prompt = column("prompt"), weak = column(kWeak), strong = column(kStrong);
  if (prompt < 0 || weak < 0 || strong < 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":1: expected columns prompt, ", kWeak,
                                                   ", ", kStrong, " in the header"));
  }
  const size_t need = static_cast<size_t>(std::max({prompt, weak, strong}));
  for (size_t r = 1; r < rows->size(); ++r) {
    std::vector<std::string>& row = (*rows)[r];
    if (row.size() <= need) {
      if (row.size() == 1 && row[0].empty()) continue;  // blank line
      return absl::InvalidArgumentError(absl::StrCat(path, ": record ", r, " has ", row.size(),
                                                     " fields (expected ", header.size(), ")"));
    }
    if (contaminated.count(row[static_cast<size_t>(prompt)]) != 0) {
      ++set->contaminated;
      continue;
    }
    set->prompts.push_back({std::move(row[static_cast<size_t>(prompt)]),
                            row[static_cast<size_t>(weak)] == "True",
                            row[static_cast<size_t>(strong)] == "True"});
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<JsonlLine>> ParseJsonl(std::string_view text, std::string_view name) {
  std::vector<JsonlLine> lines;
  std::istringstream in{std::string(text)};
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = absl::StrCat(std::string(name), ":", n);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
    }
    lines.emplace_back(where, std::move(j));
  }
  return lines;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": cannot read"));
  return bytes.str();
}

absl::StatusOr<std::vector<PresidioText>> LoadPresidio(const std::string& data_dir) {
  const std::string path = absl::StrCat(data_dir, "/", kPresidioFile);
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  const nlohmann::json data = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (data.is_discarded() || !data.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON array"));
  }
  std::vector<PresidioText> texts;
  texts.reserve(data.size());
  for (size_t d = 0; d < data.size(); ++d) {
    const nlohmann::json& doc = data[d];
    const std::string where = absl::StrCat(path, ": entry ", d);
    if (!doc.is_object() || !doc.contains("full_text") || !doc["full_text"].is_string() ||
        !doc.contains("spans") || !doc["spans"].is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": needs a string 'full_text' and an array 'spans'"));
    }
    PresidioText t{doc["full_text"].get<std::string>(), {}};
    for (const nlohmann::json& s : doc["spans"]) {
      if (!s.is_object() || !s.contains("entity_type") || !s["entity_type"].is_string() ||
          !s.contains("start_position") || !s["start_position"].is_number_unsigned() ||
          !s.contains("end_position") || !s["end_position"].is_number_unsigned()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": a span needs 'entity_type', 'start_position' and 'end_position'"));
      }
      t.spans.push_back({s["entity_type"].get<std::string>(), s["start_position"].get<size_t>(),
                         s["end_position"].get<size_t>()});
    }
    texts.push_back(std::move(t));
  }
  return texts;
}

absl::StatusOr<std::vector<RouteLlmSet>> LoadRouteLlm(const std::string& data_dir) {
  namespace fs = std::filesystem;
  const std::string dir = data_dir + "/difficulty/routellm";
  std::vector<RouteLlmSet> sets(2);
  RouteLlmSet &gsm = sets[0], &mmlu = sets[1];
  gsm.name = "GSM8K";
  mmlu.name = "MMLU";

  auto gsm_contaminated = Contaminated(dir + "/gsm8k_contaminated_prompts.jsonl");
  if (!gsm_contaminated.ok()) return gsm_contaminated.status();
  if (auto s = AddCsv(dir + "/gsm8k_responses.csv", *gsm_contaminated, &gsm); !s.ok()) return s;

  auto mmlu_contaminated = Contaminated(dir + "/mmlu_contaminated_prompts.jsonl");
  if (!mmlu_contaminated.ok()) return mmlu_contaminated.status();
  std::vector<std::string> subjects;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir + "/mmlu", ec)) {
    if (entry.path().extension() == ".csv") subjects.push_back(entry.path().string());
  }
  if (ec) return absl::NotFoundError(absl::StrCat(dir, "/mmlu: ", ec.message()));
  if (subjects.empty()) return absl::NotFoundError(absl::StrCat(dir, "/mmlu: no CSV files"));
  std::sort(subjects.begin(), subjects.end());
  for (const std::string& path : subjects) {
    if (auto s = AddCsv(path, *mmlu_contaminated, &mmlu); !s.ok()) return s;
  }
  return sets;
}

absl::StatusOr<std::vector<std::string>> LoadArenaHard(const std::string& data_dir) {
  std::vector<std::string> prompts;
  for (const char* file : {"arena_hard_v0.1_question.jsonl", "arena_hard_v2.0_question.jsonl"}) {
    auto lines = ReadJsonl(absl::StrCat(data_dir, "/difficulty/arena-hard/", file));
    if (!lines.ok()) return lines.status();
    for (const auto& line : *lines) {
      auto prompt = StringField(line, "prompt");
      if (!prompt.ok()) return prompt.status();
      prompts.push_back(*std::move(prompt));
    }
  }
  return prompts;
}

}  // namespace airlock::classifier
