#include "classifier/pattern_set.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "re2/re2.h"
#include "re2/set.h"

namespace airlock::classifier {
namespace {

// Budget for the set's automata; the DFA falls back to per-rule scans when exhausted.
constexpr int64_t kSetMaxMem = 256 << 20;

RE2::Options RuleOptions(bool case_insensitive, int64_t max_mem) {
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingLatin1);  // bytes, whatever the encoding
  options.set_log_errors(false);
  options.set_case_sensitive(!case_insensitive);
  options.set_max_mem(max_mem);
  return options;
}

}  // namespace

struct PatternSetDetector::Compiled {
  // Rules with the same case sensitivity share a set; RE2::Set has one option set.
  std::unique_ptr<RE2::Set> sensitive;
  std::unique_ptr<RE2::Set> insensitive;
  std::vector<int> sensitive_rule;    // set index -> rule index
  std::vector<int> insensitive_rule;  // set index -> rule index
  std::vector<std::unique_ptr<RE2>> rules;
};

absl::StatusOr<std::unique_ptr<PatternSetDetector>> PatternSetDetector::Create(
    std::string name, std::vector<PatternRule> rules) {
  auto compiled = std::make_unique<Compiled>();
  compiled->sensitive = std::make_unique<RE2::Set>(RuleOptions(false, kSetMaxMem), RE2::UNANCHORED);
  compiled->insensitive =
      std::make_unique<RE2::Set>(RuleOptions(true, kSetMaxMem), RE2::UNANCHORED);
  for (size_t i = 0; i < rules.size(); ++i) {
    const PatternRule& r = rules[i];
    const std::string who = absl::StrCat("rule '", r.name, "' (", r.category, ")");
    if (r.name.empty() || r.category.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pattern rule ", i, " needs a name and a category"));
    }
    auto re = std::make_unique<RE2>(r.pattern, RuleOptions(r.case_insensitive, 8 << 20));
    if (!re->ok()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", re->error()));
    }
    std::string error;
    RE2::Set& set = r.case_insensitive ? *compiled->insensitive : *compiled->sensitive;
    if (set.Add(r.pattern, &error) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", error));
    }
    (r.case_insensitive ? compiled->insensitive_rule : compiled->sensitive_rule)
        .push_back(static_cast<int>(i));
    compiled->rules.push_back(std::move(re));
  }
  if (!compiled->sensitive->Compile() || !compiled->insensitive->Compile()) {
    return absl::InvalidArgumentError(absl::StrCat("detector '", name, "': its ", rules.size(),
                                                   " patterns exceed RE2's memory budget"));
  }
  return std::unique_ptr<PatternSetDetector>(
      new PatternSetDetector(std::move(name), std::move(rules), std::move(compiled)));
}

PatternSetDetector::PatternSetDetector(std::string name, std::vector<PatternRule> rules,
                                       std::unique_ptr<Compiled> compiled)
    : name_(std::move(name)), rules_(std::move(rules)), compiled_(std::move(compiled)) {}

PatternSetDetector::~PatternSetDetector() = default;

void PatternSetDetector::Scan(std::string_view text, std::vector<Match>* out) const {
  const re2::StringPiece input(text.data(), text.size());
  std::vector<int> hits;
  auto scan_set = [&](const RE2::Set& set, const std::vector<int>& rule_of) {
    if (rule_of.empty()) return;
    hits.clear();
    RE2::Set::ErrorInfo info;
    if (set.Match(input, &hits, &info)) {
      for (int h : hits) ScanRule(static_cast<size_t>(rule_of[static_cast<size_t>(h)]), text, out);
    } else if (info.kind != RE2::Set::kNoError) {
      for (int r : rule_of) ScanRule(static_cast<size_t>(r), text, out);  // DFA out of memory
    }
  };
  // Deterministic order: case-sensitive rules first, each set's hits in rule order.
  scan_set(*compiled_->sensitive, compiled_->sensitive_rule);
  scan_set(*compiled_->insensitive, compiled_->insensitive_rule);
}

void PatternSetDetector::ScanRule(size_t index, std::string_view text,
                                  std::vector<Match>* out) const {
  const PatternRule& rule = rules_[index];
  const RE2& re = *compiled_->rules[index];
  const re2::StringPiece input(text.data(), text.size());
  const int ngroups = re.NumberOfCapturingGroups() > 0 ? 2 : 1;
  re2::StringPiece groups[2];
  size_t pos = 0;
  size_t last_end = 0;  // candidates of one rule never overlap
  while (pos <= text.size() &&
         re.Match(input, pos, text.size(), RE2::UNANCHORED, groups, ngroups)) {
    const size_t match_begin = static_cast<size_t>(groups[0].data() - text.data());
    const size_t match_end = match_begin + groups[0].size();
    pos = match_end > match_begin ? match_end : match_begin + 1;
    const re2::StringPiece& span = groups[ngroups - 1];
    if (span.data() == nullptr) continue;  // group 1 did not take part in the match
    Candidate c;
    c.begin = static_cast<size_t>(span.data() - text.data());
    c.end = c.begin + span.size();
    c.confidence = rule.confidence;
    if (rule.validate && !rule.validate(text, &c)) continue;
    if (c.begin >= c.end || c.end > text.size() || c.begin < last_end) continue;
    last_end = c.end;
    out->push_back(Match{rule.category, rule.level, c.begin, c.end, c.confidence, rule.name});
  }
}

}  // namespace airlock::classifier
