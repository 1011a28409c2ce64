#include "classifier/classifier.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "classifier/category.h"
#include "classifier/difficulty.h"
#include "classifier/pattern_set.h"
#include "classifier/pii_rules.h"
#include "classifier/secret_rules.h"
#include "classifier/term_detector.h"

namespace airlock::classifier {

std::vector<size_t> ResolveOverlaps(const std::vector<Match>& matches) {
  std::vector<size_t> order(matches.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // Longest first, then earliest, then category name, then position in `matches`.
  std::sort(order.begin(), order.end(), [&matches](size_t x, size_t y) {
    const Match& a = matches[x];
    const Match& b = matches[y];
    if (a.level != b.level) return a.level > b.level;
    const size_t la = a.end - a.begin;
    const size_t lb = b.end - b.begin;
    if (la != lb) return la > lb;
    if (a.confidence != b.confidence) return a.confidence > b.confidence;
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.category != b.category) return a.category < b.category;
    return x < y;
  });
  std::map<size_t, size_t> taken;  // begin -> end of the accepted spans, which never overlap
  std::vector<size_t> kept;
  for (size_t i : order) {
    const Match& m = matches[i];
    if (m.begin >= m.end) continue;
    auto next = taken.lower_bound(m.begin);  // first accepted span starting at or after begin
    if (next != taken.end() && next->first < m.end) continue;
    if (next != taken.begin() && std::prev(next)->second > m.begin) continue;
    taken.emplace(m.begin, m.end);
    kept.push_back(i);
  }
  std::sort(kept.begin(), kept.end(),
            [&matches](size_t x, size_t y) { return matches[x].begin < matches[y].begin; });
  return kept;
}

float LengthDifficulty(uint32_t estimated_tokens) {
  const double scaled = std::log1p(static_cast<double>(estimated_tokens)) /
                        std::log1p(static_cast<double>(kLengthSaturationTokens));
  return static_cast<float>(std::min(1.0, scaled));
}

Classifier::Classifier(std::vector<std::unique_ptr<Detector>> detectors,
                       std::vector<LevelOverride> level_overrides)
    : detectors_(std::move(detectors)), overrides_(std::move(level_overrides)) {}

namespace {

// A detector shared by several classifiers.
class SharedDetector final : public Detector {
 public:
  explicit SharedDetector(std::shared_ptr<const Detector> detector)
      : detector_(std::move(detector)) {}
  std::string_view name() const override { return detector_->name(); }
  void Scan(std::string_view text, std::vector<Match>* out) const override {
    detector_->Scan(text, out);
  }
  void RuleOut(const JoinedTexts& texts, std::span<bool> may_match) const override {
    detector_->RuleOut(texts, may_match);
  }

 private:
  std::shared_ptr<const Detector> detector_;
};

// The built-in PII and secret rules, compiled once per process and shared by every classifier
// (their prefilter takes a good part of a second to compile; a policy reload should not).
std::shared_ptr<const Detector> BuiltInPatterns() {
  static const std::shared_ptr<const Detector> patterns = [] {
    std::vector<PatternRule> rules = PiiPatternRules();
    std::vector<PatternRule> secrets = SecretPatternRules();
    rules.insert(rules.end(), std::make_move_iterator(secrets.begin()),
                 std::make_move_iterator(secrets.end()));
    auto created = PatternSetDetector::Create("patterns", std::move(rules));
    if (!created.ok()) {
      std::fprintf(stderr, "airlock: the built-in detectors do not compile: %s\n",
                   std::string(created.status().message()).c_str());
      std::abort();
    }
    return std::shared_ptr<const Detector>(std::move(*created));
  }();
  return patterns;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Classifier>> Classifier::Create(const ClassifierOptions& options) {
  for (const LevelOverride& o : options.level_overrides) {
    if (absl::Status valid = ValidateCategoryGlob(o.category_glob); !valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("level override '", o.category_glob, "': ", valid.message()));
    }
  }
  std::vector<std::unique_ptr<Detector>> detectors;
  detectors.push_back(std::make_unique<SharedDetector>(BuiltInPatterns()));
  if (!options.custom_patterns.empty()) {
    auto patterns = PatternSetDetector::Create("custom_patterns", options.custom_patterns);
    if (!patterns.ok()) return patterns.status();
    detectors.push_back(std::move(*patterns));
  }
  const TermDetector* terms = nullptr;
  size_t terms_index = 0;
  if (!options.term_lists.empty()) {
    auto created = TermDetector::Create("terms", options.term_lists, DifficultyWordLists());
    if (!created.ok()) return created.status();
    terms = created->get();
    terms_index = detectors.size();
    detectors.push_back(std::move(*created));
  }
  for (auto& d : PiiContextDetectors()) detectors.push_back(std::move(d));
  for (const auto& [glob, threshold] : options.model.categories) {
    if (absl::Status valid = ValidateCategoryGlob(glob); !valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model threshold '", glob, "': ", valid.message()));
    }
  }
  auto classifier = std::make_unique<Classifier>(std::move(detectors), options.level_overrides);
  classifier->model_ = options.model;
  classifier->terms_ = terms;
  classifier->terms_index_ = terms_index;
  return classifier;
}

std::unique_ptr<Classifier> Classifier::CreateDefault() {
  auto created = Create({});
  if (!created.ok()) {
    std::fprintf(stderr, "airlock: the built-in detectors do not compile: %s\n",
                 std::string(created.status().message()).c_str());
    std::abort();
  }
  return std::move(*created);
}

namespace {

// The value of the entry whose glob matches `category` most specifically: exact categories
// outrank every glob; among globs, more literal characters win; ties go to the later entry.
// `fallback` when none matches.
template <typename Entry, typename GlobOf, typename ValueOf, typename Value>
Value MostSpecific(const std::vector<Entry>& entries, std::string_view category, Value fallback,
                   GlobOf glob_of, ValueOf value_of) {
  int best = -1;
  for (const Entry& e : entries) {
    const std::string& glob = glob_of(e);
    if (!CategoryGlobMatches(glob, category)) continue;
    const bool exact = glob.find('*') == std::string::npos;
    const int rank = (exact ? 1 << 20 : 0) + CategoryGlobSpecificity(glob);
    if (rank >= best) {
      best = rank;
      fallback = value_of(e);
    }
  }
  return fallback;
}

}  // namespace

Level Classifier::EffectiveLevel(std::string_view category, Level level) const {
  return MostSpecific(
      overrides_, category, level,
      [](const LevelOverride& o) -> const std::string& { return o.category_glob; },
      [](const LevelOverride& o) { return o.level; });
}

float ModelThresholds::CategoryThreshold(std::string_view category) const {
  using Entry = std::pair<std::string, float>;
  return MostSpecific(
      categories, category, 0.5f, [](const Entry& e) -> const std::string& { return e.first; },
      [](const Entry& e) { return e.second; });
}

Assessment Classifier::Assess(const v1::ChatRequest& request) const {
  Assessment a;
  uint64_t total_bytes = 0;
  // Kept inline: at a few KiB a request's fixed costs (allocations among them) are a good
  // part of its assessment.
  absl::InlinedVector<FieldRef, 16> fields;
  absl::InlinedVector<std::string_view, 16> texts;
  ForEachField(request, [&](const FieldRef& field, std::string_view text) {
    fields.push_back(field);
    texts.push_back(text);
    total_bytes += text.size();
  });
  // Each detector first looks at all fields at once, so that most skip most fields.
  const size_t nf = fields.size();
  absl::InlinedVector<bool, 64> may_match(detectors_.size() * nf, true);  // [d * nf + f]
  // The difficulty words, when the custom terms' pass found them: each hit's word list.
  std::optional<absl::InlinedVector<uint32_t, 32>> word_hits;
  if (nf >= 2) {
    const JoinedTexts joined(texts);
    for (size_t d = 0; d < detectors_.size(); ++d) {
      const std::span<bool> may(may_match.data() + d * nf, nf);
      if (terms_ == nullptr || d != terms_index_) {
        detectors_[d]->RuleOut(joined, may);
        continue;
      }
      std::vector<TermDetector::Hit> side;
      terms_->RuleOutAndFindSide(joined, may, &side);
      // Only the hits in the messages the difficulty signals read count.
      const bool has_user = HasUserMessage(request);
      word_hits.emplace();
      for (const TermDetector::Hit& h : side) {
        const FieldRef& field = fields[joined.TextAt(h.begin)];
        if (field.kind != FieldRef::Kind::kMessageContent ||
            !ReadForDifficulty(request.messages(field.index), has_user)) {
          continue;
        }
        word_hits->push_back(h.list - static_cast<uint32_t>(terms_->lists()));
      }
    }
  }
  std::vector<Match> matches;
  std::vector<size_t> owner;  // matches[k] came from detectors_[owner[k]]
  for (size_t f = 0; f < fields.size(); ++f) {
    const FieldRef& field = fields[f];
    const std::string_view text = texts[f];
    matches.clear();
    owner.clear();
    for (size_t d = 0; d < detectors_.size(); ++d) {
      if (!may_match[d * nf + f]) continue;
      detectors_[d]->Scan(text, &matches);
      owner.resize(matches.size(), d);
    }
    if (!overrides_.empty()) {  // overlaps are resolved on the levels that will be reported
      for (Match& m : matches) m.level = EffectiveLevel(m.category, m.level);
    }
    for (size_t k : ResolveOverlaps(matches)) {
      Match& m = matches[k];
      if (m.end > text.size()) continue;  // a span outside the text is a detector bug
      a.level = std::max(a.level, m.level);
      std::string detector =
          m.detector.empty() ? std::string(detectors_[owner[k]]->name()) : std::move(m.detector);
      a.findings.push_back(Finding{std::move(m.category), m.level, field, m.begin, m.end,
                                   std::move(detector), m.confidence});
    }
  }
  const uint64_t tokens = (total_bytes + 3) / 4;
  a.estimated_tokens =
      static_cast<uint32_t>(std::min<uint64_t>(tokens, std::numeric_limits<uint32_t>::max()));
  a.difficulty_signals = word_hits ? DifficultySignals(request, a.estimated_tokens, *word_hits)
                                   : DifficultySignals(request, a.estimated_tokens);
  a.difficulty = CombineDifficulty(a.difficulty_signals);
  return a;
}

}  // namespace airlock::classifier
