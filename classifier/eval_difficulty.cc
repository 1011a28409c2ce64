// EvalDifficulty: how well Assessment.difficulty tells hard prompts from easy ones, on the
// RouteLLM evaluation data (difficulty/routellm: GSM8K and the 57 MMLU subjects, each prompt
// with whether a weak model, Mixtral-8x7B, and a strong one, GPT-4, answered it correctly).
//
// Labels: "hard" when the strong model is right and the weak one wrong (the prompts worth
// routing to the strong model), "easy" when the weak model is right; prompts both got wrong are
// left out, and so are the prompts listed in *_contaminated_prompts.jsonl (matched by their
// exact text). Each prompt is assessed as the content of one user message.
// Figure: AUROC = P(score of a random hard prompt > score of a random easy one), ties counting
// one half (Mann-Whitney U with average ranks). 0.5 is chance. Reported for the combined score
// and for each signal on its own, per data set and pooled.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "classifier/difficulty.h"
#include "classifier/eval.h"
#include "nlohmann/json.hpp"

namespace airlock::classifier {
namespace {

constexpr const char* kWeak = "mistralai/Mixtral-8x7B-Instruct-v0.1";
constexpr const char* kStrong = "gpt-4-1106-preview";

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": cannot read"));
  return bytes.str();
}

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

struct Sample {
  bool hard = false;
  std::map<std::string, float> scores;  // "difficulty" and each signal
};

struct Set {
  std::string name;
  std::vector<Sample> samples;
  int contaminated = 0;
  int neither = 0;  // both models wrong: no label
};

absl::StatusOr<std::set<std::string>> Contaminated(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::set<std::string> prompts;
  std::istringstream in(*text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      prompts.insert(j.at("eval_prompt").get<std::string>());
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": ", e.what()));
    }
  }
  return prompts;
}

absl::Status AddCsv(const Classifier& classifier, const std::string& path,
                    const std::set<std::string>& contaminated, Set* set) {
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
    const std::vector<std::string>& row = (*rows)[r];
    if (row.size() <= need) {
      if (row.size() == 1 && row[0].empty()) continue;  // blank line
      return absl::InvalidArgumentError(absl::StrCat(path, ": record ", r, " has ", row.size(),
                                                     " fields (expected ", header.size(), ")"));
    }
    if (contaminated.count(row[static_cast<size_t>(prompt)]) != 0) {
      ++set->contaminated;
      continue;
    }
    const bool weak_right = row[static_cast<size_t>(weak)] == "True";
    const bool strong_right = row[static_cast<size_t>(strong)] == "True";
    if (!weak_right && !strong_right) {
      ++set->neither;
      continue;
    }
    v1::ChatRequest request;
    auto* m = request.add_messages();
    m->set_role(v1::Message::USER);
    m->set_content(row[static_cast<size_t>(prompt)]);
    const Assessment a = classifier.Assess(request);
    Sample s;
    s.hard = !weak_right;
    s.scores = a.difficulty_signals;
    s.scores["difficulty"] = a.difficulty;
    set->samples.push_back(std::move(s));
  }
  return absl::OkStatus();
}

double Auroc(const std::vector<Sample>& samples, const std::string& key) {
  std::vector<std::pair<float, bool>> v;
  v.reserve(samples.size());
  for (const Sample& s : samples) {
    auto it = s.scores.find(key);
    v.emplace_back(it == s.scores.end() ? 0.0f : it->second, s.hard);
  }
  return classifier::Auroc(std::move(v));
}

std::string Fixed(double v, int digits = 3) { return absl::StrFormat("%.*f", digits, v); }

}  // namespace

absl::StatusOr<EvalReport> EvalDifficulty(const Classifier& classifier,
                                          const std::string& data_dir) {
  namespace fs = std::filesystem;
  const std::string dir = data_dir + "/difficulty/routellm";
  Set gsm{"GSM8K"}, mmlu{"MMLU"};

  auto gsm_contaminated = Contaminated(dir + "/gsm8k_contaminated_prompts.jsonl");
  if (!gsm_contaminated.ok()) return gsm_contaminated.status();
  if (auto s = AddCsv(classifier, dir + "/gsm8k_responses.csv", *gsm_contaminated, &gsm); !s.ok()) {
    return s;
  }

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
    if (auto s = AddCsv(classifier, path, *mmlu_contaminated, &mmlu); !s.ok()) return s;
  }

  Set pooled{"GSM8K + MMLU"};
  pooled.samples = gsm.samples;
  pooled.samples.insert(pooled.samples.end(), mmlu.samples.begin(), mmlu.samples.end());
  pooled.contaminated = gsm.contaminated + mmlu.contaminated;
  pooled.neither = gsm.neither + mmlu.neither;
  const Set* sets[] = {&gsm, &mmlu, &pooled};

  EvalReport report;
  EvalTable summary;
  summary.title = "Difficulty: AUROC of Assessment.difficulty, hard vs easy (RouteLLM)";
  summary.header = {"data set", "easy", "hard", "unlabelled", "contaminated", "AUROC"};
  for (const Set* s : sets) {
    const auto hard =
        std::count_if(s->samples.begin(), s->samples.end(), [](const Sample& x) { return x.hard; });
    summary.rows.push_back({s->name, std::to_string(s->samples.size() - hard), std::to_string(hard),
                            std::to_string(s->neither), std::to_string(s->contaminated),
                            Fixed(Auroc(s->samples, "difficulty"))});
  }
  summary.notes = {
      "hard = strong model (GPT-4) right and weak model (Mixtral-8x7B) wrong; easy = weak "
      "right; unlabelled = both wrong (left out); contaminated prompts left out.",
      "AUROC 0.5 is chance; the score uses request features only (no model)."};
  report.tables.push_back(std::move(summary));

  EvalTable signals;
  signals.title = "Difficulty: AUROC of each signal on its own";
  signals.header = {"signal", "weight"};
  for (const Set* s : sets) signals.header.push_back(s->name);
  signals.header.push_back("fires (pooled)");
  for (const DifficultyWeight& w : kDifficultyWeights) {
    std::vector<std::string> row = {w.signal, Fixed(w.weight, 2)};
    for (const Set* s : sets) row.push_back(Fixed(Auroc(s->samples, w.signal)));
    const auto fired =
        std::count_if(pooled.samples.begin(), pooled.samples.end(), [&](const Sample& x) {
          auto it = x.scores.find(w.signal);
          return it != x.scores.end() && it->second > 0;
        });
    row.push_back(
        absl::StrCat(Fixed(100.0 * static_cast<double>(fired) /
                               static_cast<double>(std::max<size_t>(1, pooled.samples.size())),
                           1),
                     "%"));
    signals.rows.push_back(std::move(row));
  }
  signals.notes = {
      "A signal that never fires on these prompts (tools, turns, languages for "
      "single-turn English questions) scores 0.5."};
  report.tables.push_back(std::move(signals));

  report.goals.push_back(GoalCheck{"difficulty AUROC GSM8K + MMLU (better than chance)",
                                   Auroc(pooled.samples, "difficulty"), 0.5, true});
  return report;
}

}  // namespace airlock::classifier
