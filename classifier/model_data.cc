#include "classifier/model_data.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "classifier/model_stage.h"
#include "classifier/public_data.h"
#include "nlohmann/json.hpp"

namespace airlock::classifier {

// classifier/data/written_prompts.jsonl, compiled in by classifier/CMakeLists.txt.
extern const std::string_view kWrittenPromptsJsonl;

namespace {

// The level a Presidio entity type gives a text (the highest of its entities counts); types
// not listed are confidential.
constexpr std::pair<std::string_view, Level> kPresidioLevels[] = {
    {"CREDIT_CARD", Level::kRestricted},
    {"IBAN_CODE", Level::kRestricted},
    {"US_SSN", Level::kRestricted},
    {"US_DRIVER_LICENSE", Level::kRestricted},
    {"PERSON", Level::kConfidential},
    {"STREET_ADDRESS", Level::kConfidential},
    {"PHONE_NUMBER", Level::kConfidential},
    {"EMAIL_ADDRESS", Level::kConfidential},
    {"IP_ADDRESS", Level::kConfidential},
    {"GPE", Level::kInternal},
    {"ORGANIZATION", Level::kInternal},
    {"TITLE", Level::kInternal},
    {"NRP", Level::kInternal},
    {"DATE_TIME", Level::kInternal},
    {"AGE", Level::kInternal},
    {"ZIP_CODE", Level::kInternal},
    {"DOMAIN_NAME", Level::kInternal},
};

constexpr std::array<const char*, 4> kCategories = {"confidential.business", "pii.health",
                                                    "pii.person", "code.secret"};

Level PresidioLevel(const PresidioText& t) {
  Level level = Level::kPublic;
  for (const PresidioSpan& s : t.spans) {
    Level l = Level::kConfidential;
    for (const auto& [entity, entity_level] : kPresidioLevels) {
      if (entity == s.entity) l = entity_level;
    }
    level = std::max(level, l);
  }
  return level;
}

bool HasPerson(const PresidioText& t) {
  return std::any_of(t.spans.begin(), t.spans.end(),
                     [](const PresidioSpan& s) { return s.entity == "PERSON"; });
}

bool IsWritten(const LabelledText& t) { return t.source.starts_with("written."); }

// One question's texts by class: each text once (the first label given wins).
class SetBuilder {
 public:
  SetBuilder(std::string question, std::vector<std::string> classes) {
    set_.question = std::move(question);
    set_.classes = std::move(classes);
  }

  void Add(std::string_view text, std::string label, std::string source) {
    if (!seen_.emplace(text).second) return;
    by_class_[label].push_back({std::string(text), label, std::move(source)});
  }
  size_t Count(const std::string& label) const {
    auto it = by_class_.find(label);
    return it == by_class_.end() ? 0 : it->second.size();
  }
  // Keeps the written prompts (all of them, even past n), then takes the other sources in
  // turn (by name), each in hash order, up to n: no source crowds out the others.
  void Cap(const std::string& label, size_t n) {
    std::vector<LabelledText>& texts = by_class_[label];
    std::vector<LabelledText> kept;
    std::map<std::string, std::vector<LabelledText>> by_source;
    for (LabelledText& t : texts) {
      (IsWritten(t) ? kept : by_source[t.source]).push_back(std::move(t));
    }
    for (auto& [source, list] : by_source) {
      std::sort(list.begin(), list.end(), [](const LabelledText& a, const LabelledText& b) {
        return std::pair(TextHash(a.text), a.text) < std::pair(TextHash(b.text), b.text);
      });
    }
    for (size_t round = 0; kept.size() < n; ++round) {
      bool any = false;
      for (auto& [source, list] : by_source) {
        if (round >= list.size() || kept.size() >= n) continue;
        kept.push_back(std::move(list[round]));
        any = true;
      }
      if (!any) break;
    }
    texts = std::move(kept);
  }
  LabelledSet Finish() && {
    std::vector<LabelledText> all;
    for (const std::string& c : set_.classes) {
      for (LabelledText& t : by_class_[c]) all.push_back(std::move(t));
    }
    std::sort(all.begin(), all.end(), [](const LabelledText& a, const LabelledText& b) {
      return std::pair(TextHash(a.text), a.text) < std::pair(TextHash(b.text), b.text);
    });
    for (LabelledText& t : all)
      (InTestSplit(t.text) ? set_.test : set_.train).push_back(std::move(t));
    return std::move(set_);
  }

 private:
  LabelledSet set_;
  std::set<std::string, std::less<>> seen_;
  std::map<std::string, std::vector<LabelledText>> by_class_;
};

std::string WrittenSource(const WrittenPrompt& p) {
  return absl::StrCat("written.", p.id.substr(0, p.id.find('-')));
}

std::string SourceOf(const RouteLlmSet& s) { return s.name == "GSM8K" ? "gsm8k" : "mmlu"; }

}  // namespace

uint64_t TextHash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

bool InTestSplit(std::string_view text) { return TextHash(text) % 5 == 0; }

absl::StatusOr<std::vector<WrittenPrompt>> WrittenPrompts() {
  auto lines = ParseJsonl(kWrittenPromptsJsonl, "written_prompts.jsonl");
  if (!lines.ok()) return lines.status();
  std::vector<WrittenPrompt> prompts;
  for (const auto& [where, j] : *lines) {
    WrittenPrompt p;
    std::optional<Level> level;
    if (j.contains("id") && j["id"].is_string() && j.contains("text") && j["text"].is_string() &&
        j.contains("level") && j["level"].is_string() && j.contains("categories") &&
        j["categories"].is_array()) {
      p.id = j["id"];
      p.text = j["text"];
      level = ParseLevel(j["level"].get<std::string>());
      for (const nlohmann::json& c : j["categories"]) {
        if (c.is_string()) p.categories.push_back(c);
      }
    }
    if (!level || p.categories.size() != j["categories"].size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where,
                       ": expected {\"id\", \"text\", \"level\" (a level name), "
                       "\"categories\" (a list of strings)}"));
    }
    p.level = *level;
    prompts.push_back(std::move(p));
  }
  return prompts;
}

absl::StatusOr<std::vector<LabelledSet>> BuildModelData(const std::string& data_dir,
                                                        const ModelDataOptions& options) {
  auto written = WrittenPrompts();
  if (!written.ok()) return written.status();
  auto presidio = LoadPresidio(data_dir);
  if (!presidio.ok()) return presidio.status();
  auto routellm = LoadRouteLlm(data_dir);
  if (!routellm.ok()) return routellm.status();
  auto arena = LoadArenaHard(data_dir);
  if (!arena.ok()) return arena.status();
  const size_t cap = options.max_per_class;
  std::vector<LabelledSet> sets;

  SetBuilder level("level", DefaultClasses("level"));
  for (const WrittenPrompt& p : *written) {
    level.Add(p.text, std::string(LevelName(p.level)), WrittenSource(p));
  }
  for (const PresidioText& t : *presidio) {
    level.Add(t.text, std::string(LevelName(PresidioLevel(t))), "presidio");
  }
  for (const RouteLlmSet& s : *routellm) {
    for (const RouteLlmPrompt& p : s.prompts) level.Add(p.prompt, "public", SourceOf(s));
  }
  for (const std::string& p : *arena) level.Add(p, "public", "arena-hard");
  for (const std::string& c : DefaultClasses("level")) level.Cap(c, cap);
  sets.push_back(std::move(level).Finish());

  SetBuilder difficulty("difficulty", DefaultClasses("difficulty"));
  for (const RouteLlmSet& s : *routellm) {
    for (const RouteLlmPrompt& p : s.prompts) {
      if (p.weak_right) {
        difficulty.Add(p.prompt, "easy", SourceOf(s));
      } else if (p.strong_right) {
        difficulty.Add(p.prompt, "hard", SourceOf(s));
      }
    }
  }
  for (const std::string& p : *arena) difficulty.Add(p, "hard", "arena-hard");
  difficulty.Cap("hard", cap);
  difficulty.Cap("easy", std::min(cap, difficulty.Count("hard")));
  sets.push_back(std::move(difficulty).Finish());

  for (const char* category : kCategories) {
    SetBuilder set(category, DefaultClasses(category));
    for (const WrittenPrompt& p : *written) {
      const bool yes =
          std::find(p.categories.begin(), p.categories.end(), category) != p.categories.end();
      set.Add(p.text, yes ? "yes" : "no", WrittenSource(p));
    }
    if (std::string_view(category) == "pii.person") {
      for (const PresidioText& t : *presidio) {
        set.Add(t.text, HasPerson(t) ? "yes" : "no", "presidio");
      }
    }
    for (const RouteLlmSet& s : *routellm) {
      for (const RouteLlmPrompt& p : s.prompts) set.Add(p.prompt, "no", SourceOf(s));
    }
    for (const std::string& p : *arena) set.Add(p, "no", "arena-hard");
    set.Cap("yes", cap);
    set.Cap("no", std::min(cap, 2 * set.Count("yes")));
    sets.push_back(std::move(set).Finish());
  }
  return sets;
}

absl::Status WriteModelData(const std::vector<LabelledSet>& sets, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create: ", ec.message()));
  for (const LabelledSet& set : sets) {
    for (const auto& [split, texts] : {std::pair{"train", &set.train}, {"test", &set.test}}) {
      const std::string path =
          (fs::path(dir) / absl::StrCat(set.question, ".", split, ".jsonl")).string();
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      for (const LabelledText& t : *texts) {
        const nlohmann::ordered_json j = {
            {"text", t.text}, {"label", t.label}, {"source", t.source}};
        out << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
      }
      out.flush();
      if (!out) return absl::InternalError(absl::StrCat(path, ": cannot write"));
    }
  }
  return absl::OkStatus();
}

}  // namespace airlock::classifier
