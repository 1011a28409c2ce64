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
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "classifier/difficulty.h"
#include "classifier/eval.h"
#include "classifier/public_data.h"

namespace airlock::classifier {
namespace {

struct Sample {
  bool hard = false;
  Signals scores;  // "difficulty" and each signal
};

struct Set {
  std::string name;
  std::vector<Sample> samples;
  int contaminated = 0;
  int neither = 0;  // both models wrong: no label
};

// Each prompt with a label, assessed as the content of one user message.
void Assess(const Classifier& classifier, const RouteLlmSet& data, Set* set) {
  set->contaminated = data.contaminated;
  for (const RouteLlmPrompt& p : data.prompts) {
    if (!p.weak_right && !p.strong_right) {
      ++set->neither;
      continue;
    }
    v1::ChatRequest request;
    auto* m = request.add_messages();
    m->set_role(v1::Message::USER);
    m->set_content(p.prompt);
    const Assessment a = classifier.Assess(request);
    Sample s;
    s.hard = !p.weak_right;
    s.scores = a.difficulty_signals;
    s.scores["difficulty"] = a.difficulty;
    set->samples.push_back(std::move(s));
  }
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
  auto data = LoadRouteLlm(data_dir);
  if (!data.ok()) return data.status();
  Set gsm{"GSM8K"}, mmlu{"MMLU"};
  Assess(classifier, (*data)[0], &gsm);
  Assess(classifier, (*data)[1], &mmlu);

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
