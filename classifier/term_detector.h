// TermDetector: dictionaries of terms (project code names, customer names, host names, ...)
// found in one pass over the text with an Aho-Corasick automaton.
//
// Each TermList gives a category, a level and its terms. The detector compiles every list into
// at most two byte-level automata (one for case-sensitive lists, one for the others) and scans
// each text once per automaton: one table step per byte, so the scan is linear in the text's
// length (plus, at positions where terms end, a walk over the terms that are suffixes of one
// another there: a property of the dictionary, bounded by its longest such chain).
//
// Matching rules:
//   - Bytes. Terms and text are compared as bytes; invalid UTF-8 in the text is scanned like
//     any other bytes, never rejected or skipped. Spans are byte offsets.
//   - Case. A list with case_sensitive = false folds ASCII letters only (A-Z = a-z). Bytes of
//     non-ASCII characters are compared exactly, so "Ärger" does not match "ärger" (both are
//     valid UTF-8 but their first letters differ in their bytes).
//   - Word boundaries (word_boundary = true, the default). A term matches only where it is not
//     glued to a word character on either side: where the term's first character is a word
//     character, the character before the match must not be one, and likewise at the end.
//     A term whose edge is not a word character ("C++", "#apollo") needs nothing on that side.
//     Word characters are ASCII letters and digits (so "Apollo_v2" and "Apollo-2" contain
//     "Apollo"; "Apollo2" and "xApollo" do not), and non-ASCII characters (decoded from UTF-8)
//     except: the Latin-1 punctuation and symbols U+0080-U+00BF (but ª µ º), × and ÷; general
//     punctuation, symbols, arrows, math and box drawing U+2000-U+2BFF and U+2E00-U+2E7F;
//     CJK punctuation, kana and ideographs (U+3000-U+30FF, U+3400-U+4DBF, U+4E00-U+9FFF,
//     U+F900-U+FAFF, U+20000-U+3FFFF), Thai, Lao, Myanmar and Khmer (scripts written without
//     spaces between words, so a term is found next to them), full-width punctuation, private
//     use characters and emoji (U+1F000-U+1FAFF). A byte that does not start or end a valid
//     UTF-8 sequence at the edge is not a word character.
//   - Whitespace is matched exactly: "Project Nightingale" needs one space (0x20) between the
//     words.
//   - Overlaps. Of all matches, leftmost-longest non-overlapping ones are kept: the match that
//     starts first wins, the longest of those starting at the same byte; then the scan goes on
//     after it. When the same span is a term of several lists, the higher level wins, then the
//     earlier list.
//
// Thread-safety: Scan is const and safe to call concurrently.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/detector.h"

namespace airlock::classifier {

struct TermList {
  std::string category;  // "custom.project"
  Level level = Level::kConfidential;
  std::vector<std::string> terms;  // non-empty, each non-empty; duplicates are harmless
  bool case_sensitive = false;
  bool word_boundary = true;
  std::string name;  // reported as Match::detector; empty means the detector's name()
};

class TermDetector : public Detector {
 public:
  // Compiles the lists. INVALID_ARGUMENT, naming the list (by index and category) and the
  // term, for a list without a category, a list without terms, an empty term, or a dictionary
  // whose automaton would exceed kMaxStates.
  //
  // Side lists are found in the same pass but kept apart from the lists: Scan and RuleOut
  // never report them, and Find resolves overlaps among them alone, so that they change
  // nothing about the lists' matches. (The classifier finds the difficulty signals' words in
  // its custom terms' pass this way, instead of reading the text a second time.)
  static absl::StatusOr<std::unique_ptr<TermDetector>> Create(
      std::string name, std::vector<TermList> lists, std::vector<TermList> side_lists = {});
  // A limit on the total number of distinct term prefixes (about the total bytes of terms).
  static constexpr size_t kMaxStates = size_t{1} << 24;

  ~TermDetector() override;

  std::string_view name() const override { return name_; }
  // Appends the kept matches in order of begin, with confidence 1 and Match::detector set to
  // the list's name.
  void Scan(std::string_view text, std::vector<Match>* out) const override;
  // One Find over all texts joined (JoinedTexts): rules out every text that no kept hit
  // overlaps. A term that a text holds on its own is a candidate in the join as well ('\n'
  // is a non-word byte, as the edge of a text is), and when an overlapping hit wins over it,
  // that hit overlaps the text too. One long text also walks in more pieces side by side.
  void RuleOut(const JoinedTexts& texts, std::span<bool> may_match) const override;

  // The same matches as Scan, without building Matches: the list index (into the lists given
  // to Create, then the side lists: lists() + k for side list k) and the span of each, in
  // order of begin. Replaces *hits.
  struct Hit {
    size_t begin = 0, end = 0;
    uint32_t list = 0;
  };
  void Find(std::string_view text, std::vector<Hit>* hits) const;
  // RuleOut's answer for the lists, and the side lists' hits in texts.joined() (from the same
  // pass). Replaces *side_hits.
  void RuleOutAndFindSide(const JoinedTexts& texts, std::span<bool> may_match,
                          std::vector<Hit>* side_hits) const;

  size_t lists() const { return reported_; }  // not counting the side lists
  size_t terms() const { return terms_; }  // distinct (list, term) pairs after folding, all lists
  // Whether every automaton has its dense transition table (one lookup per byte); a very large
  // dictionary gets a compact automaton instead (failure links, same results). For tests and
  // benchmarks.
  bool dense() const;

 public:
  struct Automaton;  // the compiled dictionary; opaque, defined in term_detector.cc

 private:
  TermDetector(std::string name, std::vector<TermList> lists);

  std::string name_;
  std::vector<TermList> lists_;  // terms cleared after compiling; category, level, name kept
  size_t reported_ = 0;          // lists_[reported_..] are the side lists
  size_t terms_ = 0;
  std::unique_ptr<Automaton> sensitive_;    // null when no list is case-sensitive
  std::unique_ptr<Automaton> insensitive_;  // null when every list is
};

}  // namespace airlock::classifier
