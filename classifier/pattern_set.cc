#include "classifier/pattern_set.h"

#include <hs.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "re2/re2.h"
#include "re2/set.h"

namespace airlock::classifier {
namespace {

// Budget for the RE2::Set's automata; the DFA falls back to per-rule scans when exhausted.
constexpr int64_t kSetMaxMem = 256 << 20;

RE2::Options RuleOptions(bool case_insensitive, int64_t max_mem) {
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingLatin1);  // bytes, whatever the encoding
  options.set_log_errors(false);
  options.set_case_sensitive(!case_insensitive);
  options.set_max_mem(max_mem);
  return options;
}

// Whether a pattern asks for case folding itself: a flag group such as (?i) or (?si:...).
bool HasCaselessFlag(std::string_view pattern) {
  for (size_t i = pattern.find("(?"); i != std::string_view::npos; i = pattern.find("(?", i + 2)) {
    for (size_t k = i + 2; k < pattern.size() && pattern[k] != ')' && pattern[k] != ':'; ++k) {
      if (pattern[k] == 'i') return true;
    }
  }
  return false;
}

// Whether Hyperscan reads a rule's pattern as RE2 does, so that its prefilter can only ever
// report more than RE2 matches, never less. Both read bytes (RE2 in Latin-1 mode, Hyperscan
// without UTF-8 mode), but Hyperscan folds the case of ASCII letters only where RE2 folds
// Latin-1 letters too, and Hyperscan knows no RE2 Unicode classes. So a pattern with \p, \P
// or \C, and a case-folding pattern with a byte outside ASCII or a \x escape, stay with
// RE2::Set.
bool HyperscanReadsLikeRe2(std::string_view pattern, bool case_insensitive) {
  bool beyond_ascii = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(pattern[i]);
    if (c == 0) return false;  // Hyperscan takes C strings
    if (c >= 0x80) beyond_ascii = true;
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 'p' || e == 'P' || e == 'C' || e == 'Q') return false;
      if (e == 'x') beyond_ascii = true;
    }
  }
  return !beyond_ascii || !(case_insensitive || HasCaselessFlag(pattern));
}

// The pattern as Hyperscan must read it to match at least what RE2 matches. The one escape
// they read differently in byte mode is whitespace: RE2's \s is [\t\n\f\r ] and its \v is
// the byte 0x0B, where Hyperscan's \s adds 0x0B (so its \S misses it) and its \v is every
// vertical space. Those three are spelled out as byte sets, in and out of brackets.
std::string ForHyperscan(std::string_view pattern) {
  static constexpr std::string_view kSpace = R"(\t\n\f\r\x20)";
  static constexpr std::string_view kNotSpace = R"(\x00-\x08\x0b\x0e-\x1f\x21-\xff)";
  static constexpr std::string_view kVerticalTab = R"(\x0b)";
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      const std::string_view set = e == 's'   ? kSpace
                                   : e == 'S' ? kNotSpace
                                   : e == 'v' ? kVerticalTab
                                              : "";
      if (set.empty()) {
        out += c;
        out += e;
      } else {
        if (!in_class) out += '[';
        out += set;
        if (!in_class) out += ']';
      }
      continue;
    }
    out += c;
    if (!in_class && c == '[') {
      in_class = true;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
    } else if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      const size_t close = pattern.find(":]", i + 2);  // [:alpha:] inside a class
      if (close != std::string_view::npos) {
        out.append(pattern.substr(i + 1, close + 1 - i));
        i = close + 1;
      }
    } else if (in_class && c == ']') {
      in_class = false;
    }
  }
  return out;
}

// Whether a pattern holds \A, \z or \Z: anchors to the start or end of the whole text, which
// a text joined after or before another no longer has.
bool AnchoredToTextEdge(const std::string& pattern) {
  for (size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] != '\\') continue;
    const char e = pattern[++i];
    if (e == 'A' || e == 'z' || e == 'Z') return true;
  }
  return false;
}

}  // namespace

struct PatternSetDetector::Compiled {
  // Hyperscan prefilter: which of its rules may match a text, in one pass.
  hs_database_t* database = nullptr;
  hs_scratch_t* prototype = nullptr;  // cloned for each concurrent scan
  std::vector<int> hs_rule;           // Hyperscan id -> rule index
  // Whether a scan of several texts joined by '\n' sees every match each holds (no rule is
  // anchored to the very start or end of the text).
  bool joinable = false;
  std::mutex mu;
  std::vector<hs_scratch_t*> scratch_pool;  // guarded by mu

  // RE2::Set for the rules Hyperscan cannot take; rules with the same case sensitivity share a
  // set (RE2::Set has one option set).
  std::unique_ptr<RE2::Set> sensitive;
  std::unique_ptr<RE2::Set> insensitive;
  std::vector<int> sensitive_rule;    // set index -> rule index
  std::vector<int> insensitive_rule;  // set index -> rule index
  std::vector<std::unique_ptr<RE2>> rules;

  ~Compiled() {
    for (hs_scratch_t* s : scratch_pool) hs_free_scratch(s);
    if (prototype != nullptr) hs_free_scratch(prototype);
    if (database != nullptr) hs_free_database(database);
  }

  hs_scratch_t* TakeScratch() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!scratch_pool.empty()) {
        hs_scratch_t* s = scratch_pool.back();
        scratch_pool.pop_back();
        return s;
      }
    }
    hs_scratch_t* s = nullptr;
    return hs_clone_scratch(prototype, &s) == HS_SUCCESS ? s : nullptr;
  }
  void ReturnScratch(hs_scratch_t* s) {
    std::lock_guard<std::mutex> lock(mu);
    scratch_pool.push_back(s);
  }

  // One pass of the Hyperscan prefilter over text, with a scratch from the pool. Anything but
  // HS_SUCCESS or HS_SCAN_TERMINATED (on_match returned non-zero) means the pass did not run
  // to its end: no scratch could be had, or the text is longer than Hyperscan takes.
  hs_error_t Prefilter(std::string_view text, match_event_handler on_match, void* context) {
    if (text.size() > UINT32_MAX) return HS_INVALID;  // Hyperscan takes unsigned int lengths
    hs_scratch_t* scratch = TakeScratch();
    if (scratch == nullptr) return HS_NOMEM;
    const hs_error_t result = hs_scan(database, text.data(), static_cast<unsigned>(text.size()), 0,
                                      scratch, on_match, context);
    ReturnScratch(scratch);
    return result;
  }

  // Compiles the candidates (rule indices) into one Hyperscan database in prefilter mode (a
  // superset of each pattern's matches, which is all a prefilter needs). A pattern Hyperscan
  // refuses is dropped from the candidates (it goes to RE2::Set) and the rest compiled again.
  void CompileHyperscan(const std::vector<PatternRule>& rules, std::vector<int> candidates);
};

absl::StatusOr<std::unique_ptr<PatternSetDetector>> PatternSetDetector::Create(
    std::string name, std::vector<PatternRule> rules) {
  auto compiled = std::make_unique<Compiled>();
  std::vector<int> hs_candidates;
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
    compiled->rules.push_back(std::move(re));
    if (!r.prefilter.empty() && !HyperscanReadsLikeRe2(r.prefilter, r.case_insensitive)) {
      return absl::InvalidArgumentError(absl::StrCat(
          who, ": its prefilter must be a pattern Hyperscan reads as RE2 does: ", r.prefilter));
    }
    if (!r.prefilter.empty() || HyperscanReadsLikeRe2(r.pattern, r.case_insensitive)) {
      hs_candidates.push_back(static_cast<int>(i));
    }
  }
  compiled->CompileHyperscan(rules, std::move(hs_candidates));

  std::vector<bool> in_hyperscan(rules.size(), false);
  for (int r : compiled->hs_rule) in_hyperscan[static_cast<size_t>(r)] = true;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (in_hyperscan[i]) continue;
    const PatternRule& r = rules[i];
    auto& set = r.case_insensitive ? compiled->insensitive : compiled->sensitive;
    if (set == nullptr) {
      set =
          std::make_unique<RE2::Set>(RuleOptions(r.case_insensitive, kSetMaxMem), RE2::UNANCHORED);
    }
    std::string error;
    if (set->Add(r.pattern, &error) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("rule '", r.name, "' (", r.category, "): ", error));
    }
    (r.case_insensitive ? compiled->insensitive_rule : compiled->sensitive_rule)
        .push_back(static_cast<int>(i));
  }
  for (RE2::Set* set : {compiled->sensitive.get(), compiled->insensitive.get()}) {
    if (set != nullptr && !set->Compile()) {
      return absl::InvalidArgumentError(absl::StrCat("detector '", name, "': its ", rules.size(),
                                                     " patterns exceed RE2's memory budget"));
    }
  }
  return std::unique_ptr<PatternSetDetector>(
      new PatternSetDetector(std::move(name), std::move(rules), std::move(compiled)));
}

void PatternSetDetector::Compiled::CompileHyperscan(const std::vector<PatternRule>& rules,
                                                    std::vector<int> candidates) {
  while (!candidates.empty()) {
    std::vector<std::string> rewritten;
    std::vector<const char*> patterns;
    std::vector<unsigned> flags, ids;
    for (size_t k = 0; k < candidates.size(); ++k) {
      const PatternRule& r = rules[static_cast<size_t>(candidates[k])];
      rewritten.push_back(ForHyperscan(r.prefilter.empty() ? r.pattern : r.prefilter));
    }
    for (size_t k = 0; k < candidates.size(); ++k) {
      const PatternRule& r = rules[static_cast<size_t>(candidates[k])];
      patterns.push_back(rewritten[k].c_str());
      // Multi-line: ^ and $ also match at a '\n', a superset of RE2's default reading that
      // lets RuleOut join texts.
      flags.push_back(HS_FLAG_PREFILTER | HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY |
                      HS_FLAG_MULTILINE | (r.case_insensitive ? HS_FLAG_CASELESS : 0u));
      ids.push_back(static_cast<unsigned>(k));
    }
    hs_database_t* db = nullptr;
    hs_compile_error_t* error = nullptr;
    if (hs_compile_multi(patterns.data(), flags.data(), ids.data(),
                         static_cast<unsigned>(patterns.size()), HS_MODE_BLOCK, nullptr, &db,
                         &error) == HS_SUCCESS) {
      hs_scratch_t* scratch = nullptr;
      if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) {
        hs_free_database(db);
        return;  // every rule goes to RE2::Set
      }
      database = db;
      prototype = scratch;
      hs_rule = std::move(candidates);
      joinable = std::none_of(rewritten.begin(), rewritten.end(), AnchoredToTextEdge);
      return;
    }
    const int bad = error != nullptr ? error->expression : -1;
    hs_free_compile_error(error);
    if (bad < 0 || static_cast<size_t>(bad) >= candidates.size()) return;  // not one pattern
    candidates.erase(candidates.begin() + bad);
  }
}

PatternSetDetector::PatternSetDetector(std::string name, std::vector<PatternRule> rules,
                                       std::unique_ptr<Compiled> compiled)
    : name_(std::move(name)), rules_(std::move(rules)), compiled_(std::move(compiled)) {}

PatternSetDetector::~PatternSetDetector() = default;

size_t PatternSetDetector::prefiltered() const { return compiled_->hs_rule.size(); }

void PatternSetDetector::Scan(std::string_view text, std::vector<Match>* out) const {
  std::vector<int> to_scan;  // rule indices that may match
  if (compiled_->database != nullptr) {
    struct Context {
      const std::vector<int>* hs_rule;
      std::vector<int>* to_scan;
    } context{&compiled_->hs_rule, &to_scan};
    auto on_match = [](unsigned id, unsigned long long, unsigned long long, unsigned,
                       void* ctx) -> int {
      auto* c = static_cast<Context*>(ctx);
      c->to_scan->push_back((*c->hs_rule)[id]);
      return 0;
    };
    // A longer text than Hyperscan takes, or no scratch: every rule, never a silent skip.
    if (compiled_->Prefilter(text, on_match, &context) != HS_SUCCESS) {
      to_scan = compiled_->hs_rule;
    }
  }
  const re2::StringPiece input(text.data(), text.size());
  std::vector<int> hits;
  for (const auto& [set, rule_of] :
       {std::pair{compiled_->sensitive.get(), &compiled_->sensitive_rule},
        std::pair{compiled_->insensitive.get(), &compiled_->insensitive_rule}}) {
    if (set == nullptr) continue;
    hits.clear();
    RE2::Set::ErrorInfo info;
    if (set->Match(input, &hits, &info)) {
      for (int h : hits) to_scan.push_back((*rule_of)[static_cast<size_t>(h)]);
    } else if (info.kind != RE2::Set::kNoError) {  // DFA out of memory
      to_scan.insert(to_scan.end(), rule_of->begin(), rule_of->end());
    }
  }
  // Deterministic order: rule order.
  std::sort(to_scan.begin(), to_scan.end());
  for (int r : to_scan) ScanRule(static_cast<size_t>(r), text, out);
}

void PatternSetDetector::RuleOut(const JoinedTexts& texts, std::span<bool> may_match) const {
  if (texts.size() < 2) return;  // Scan's own pass is the same pass
  if (compiled_->database == nullptr || !compiled_->joinable || compiled_->sensitive != nullptr ||
      compiled_->insensitive != nullptr) {
    return;
  }
  // Hyperscan reports matches in the order of their ends; the first is all this needs.
  unsigned long long first_end = texts.joined().size() + 1;  // none
  auto stop_at_first = [](unsigned, unsigned long long, unsigned long long to, unsigned,
                          void* ctx) -> int {
    *static_cast<unsigned long long*>(ctx) = to;
    return 1;
  };
  const hs_error_t result = compiled_->Prefilter(texts.joined(), stop_at_first, &first_end);
  if (result != HS_SUCCESS && result != HS_SCAN_TERMINATED) return;  // no shortcut
  // A match that a text holds on its own ends within it, or at its end: texts that end before
  // the first match's end hold none. (The rules may hold more matches after it, but the
  // prefilter reports each rule once, so it cannot say which texts those are in.)
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts.begin(i) + texts.text(i).size() < first_end) may_match[i] = false;
  }
}

void PatternSetDetector::ScanEveryRule(std::string_view text, std::vector<Match>* out) const {
  for (size_t r = 0; r < rules_.size(); ++r) ScanRule(r, text, out);
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
