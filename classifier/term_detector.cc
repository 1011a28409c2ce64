#include "classifier/term_detector.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <iterator>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "classifier/utf8.h"

namespace airlock::classifier {
namespace {

// The dense transition table is used while it stays under this size; beyond it the automaton
// follows failure links over sorted child lists (slower per byte, same results).
constexpr size_t kMaxDenseBytes = size_t{64} << 20;

unsigned char FoldAscii(unsigned char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

bool IsAsciiAlnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Whether a non-ASCII code point counts as a word character (see the header).
bool IsWordCodePoint(uint32_t cp) {
  if (cp < 0x80) return IsAsciiAlnum(static_cast<unsigned char>(cp));
  if (cp <= 0xBF) return cp == 0xAA || cp == 0xB5 || cp == 0xBA;
  if (cp == 0xD7 || cp == 0xF7) return false;
  struct Range {
    uint32_t lo, hi;
  };
  static constexpr Range kNotWord[] = {
      {0x0E00, 0x0EFF},   {0x1000, 0x109F},   {0x1780, 0x17FF}, {0x2000, 0x2BFF}, {0x2E00, 0x2E7F},
      {0x3000, 0x30FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF}, {0xE000, 0xF8FF}, {0xF900, 0xFAFF},
      {0xFE30, 0xFE4F},   {0xFF00, 0xFF0F},   {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40}, {0xFF5B, 0xFF65},
      {0x1F000, 0x1FAFF}, {0x20000, 0x3FFFF},
  };
  for (const Range& r : kNotWord) {
    if (cp >= r.lo && cp <= r.hi) return false;
  }
  return true;
}

// Is the character that starts at pos a word character? False at the end of the text.
bool WordAt(std::string_view text, size_t pos) {
  if (pos >= text.size()) return false;
  uint32_t cp = 0;
  return DecodeUtf8(text, pos, &cp) != 0 && IsWordCodePoint(cp);
}

// Is the character that ends at pos (exclusive) a word character? False at the start.
bool WordBefore(std::string_view text, size_t pos) {
  if (pos == 0 || pos > text.size()) return false;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  if (s[pos - 1] < 0x80) return IsAsciiAlnum(s[pos - 1]);
  // Walk back over at most three continuation bytes to the lead byte.
  size_t start = pos - 1;
  while (start > 0 && pos - start < 4 && (s[start] & 0xC0) == 0x80) --start;
  uint32_t cp = 0;
  const size_t len = DecodeUtf8(text, start, &cp);
  return len != 0 && start + len == pos && IsWordCodePoint(cp);
}

}  // namespace

struct TermDetector::Automaton {
  struct Output {
    uint32_t length = 0;
    uint32_t list = 0;
    bool need_left = false;   // the term starts with a word character and the list wants
    bool need_right = false;  // boundaries: the neighbour on that side must not be one
  };

  bool fold = false;
  std::array<uint8_t, 256> cls{};  // byte -> class; 0 for bytes no term uses
  uint32_t nclasses = 1;
  uint32_t max_length = 0;  // of a term, in bytes
  // Dense: delta[row + class] is the next state's row, where a state's row is its rank times
  // nclasses (failure links folded in). States are ranked so that those that report come last,
  // from report_rows on: the scan then follows one load per byte and tells a report by one
  // compare. dense_state[rank] is the state of a rank.
  std::vector<uint32_t> delta;
  uint32_t report_rows = 0;
  std::vector<uint32_t> dense_state;
  // Sparse (when dense would be too big): children of s are edges[first[s] .. first[s+1]),
  // sorted by class; fail[s] is the state of the longest proper suffix in the trie.
  std::vector<uint32_t> first;
  std::vector<std::pair<uint8_t, uint32_t>> edges;
  std::vector<uint32_t> fail;
  // Outputs of state s: outputs[out_first[s] .. out_first[s+1]), by priority (level
  // descending, then list). dict[s]: the nearest proper suffix state with outputs (0: none).
  std::vector<uint32_t> out_first;
  std::vector<Output> outputs;
  std::vector<uint32_t> dict;
  // reports[s]: whether state s or a suffix of it has outputs (one lookup per byte in Scan).
  std::vector<uint8_t> reports;

  // The next state on the sparse automaton (Scan reads delta directly when it is dense).
  uint32_t Next(uint32_t s, uint8_t c) const {
    while (true) {
      auto begin = edges.begin() + first[s];
      auto end = edges.begin() + first[s + 1];
      auto it = std::lower_bound(begin, end, std::make_pair(c, uint32_t{0}));
      if (it != end && it->first == c) return it->second;
      if (s == 0) return 0;
      s = fail[s];
    }
  }
};

TermDetector::TermDetector(std::string name, std::vector<TermList> lists)
    : name_(std::move(name)), lists_(std::move(lists)) {}

TermDetector::~TermDetector() = default;

namespace {

struct Pending {  // a term being inserted
  std::string_view bytes;
  uint32_t list;
  Level level;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TermDetector>> TermDetector::Create(
    std::string name, std::vector<TermList> lists, std::vector<TermList> side_lists) {
  const size_t reported = lists.size();
  lists.insert(lists.end(), std::make_move_iterator(side_lists.begin()),
               std::make_move_iterator(side_lists.end()));
  std::vector<Pending> by_fold[2];  // [0] case-sensitive lists, [1] folded ones
  for (size_t i = 0; i < lists.size(); ++i) {
    const TermList& l = lists[i];
    const std::string who = absl::StrCat("term list ", i, " (", l.category, ")");
    if (l.category.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("term list ", i, " needs a category"));
    }
    if (l.terms.empty()) return absl::InvalidArgumentError(absl::StrCat(who, " has no terms"));
    for (size_t t = 0; t < l.terms.size(); ++t) {
      if (l.terms[t].empty()) {
        return absl::InvalidArgumentError(absl::StrCat(who, ": term ", t, " is empty"));
      }
      by_fold[l.case_sensitive ? 0 : 1].push_back(
          Pending{l.terms[t], static_cast<uint32_t>(i), l.level});
    }
  }

  auto detector = std::unique_ptr<TermDetector>(new TermDetector(std::move(name), {}));
  for (int f = 0; f < 2; ++f) {
    std::vector<Pending>& pending = by_fold[f];
    if (pending.empty()) continue;
    auto a = std::make_unique<Automaton>();
    a->fold = f == 1;
    auto key = [&](unsigned char b) { return a->fold ? FoldAscii(b) : b; };

    // Byte classes: one per distinct (folded) byte that some term uses; 0 for the rest.
    std::array<bool, 256> used{};
    for (const Pending& p : pending) {
      for (char ch : p.bytes) used[key(static_cast<unsigned char>(ch))] = true;
    }
    std::array<uint8_t, 256> class_of{};
    uint32_t nclasses = 1;
    for (int b = 0; b < 256; ++b) {
      if (used[b]) class_of[b] = static_cast<uint8_t>(nclasses++);
    }
    for (int b = 0; b < 256; ++b) a->cls[b] = class_of[key(static_cast<unsigned char>(b))];
    a->nclasses = nclasses;

    // The trie. children[s] is a small list of (class, state), unsorted while building.
    std::vector<std::vector<std::pair<uint8_t, uint32_t>>> children(1);
    std::vector<std::vector<Automaton::Output>> outs(1);
    std::vector<std::vector<Level>> out_levels(1);
    for (const Pending& p : pending) {
      uint32_t s = 0;
      for (char ch : p.bytes) {
        const uint8_t c = a->cls[static_cast<unsigned char>(ch)];
        auto& kids = children[s];
        auto it =
            std::find_if(kids.begin(), kids.end(), [c](const auto& e) { return e.first == c; });
        if (it != kids.end()) {
          s = it->second;
          continue;
        }
        if (children.size() >= kMaxStates) {
          return absl::InvalidArgumentError(absl::StrCat("term dictionary '", detector->name_,
                                                         "' is too large (more than ", kMaxStates,
                                                         " distinct term prefixes)"));
        }
        const uint32_t next = static_cast<uint32_t>(children.size());
        kids.emplace_back(c, next);
        children.emplace_back();
        outs.emplace_back();
        out_levels.emplace_back();
        s = next;
      }
      const TermList& l = lists[p.list];
      auto& o = outs[s];
      const bool dup =
          std::any_of(o.begin(), o.end(), [&](const auto& x) { return x.list == p.list; });
      if (dup) continue;
      Automaton::Output out;
      out.length = static_cast<uint32_t>(p.bytes.size());
      a->max_length = std::max(a->max_length, out.length);
      out.list = p.list;
      out.need_left = l.word_boundary && WordAt(p.bytes, 0);
      out.need_right = l.word_boundary && WordBefore(p.bytes, p.bytes.size());
      o.push_back(out);
      out_levels[s].push_back(p.level);
      ++detector->terms_;
    }
    const size_t states = children.size();

    // Outputs of each state by priority: level descending, then list ascending.
    a->out_first.assign(states + 1, 0);
    for (size_t s = 0; s < states; ++s) {
      std::vector<size_t> order(outs[s].size());
      for (size_t k = 0; k < order.size(); ++k) order[k] = k;
      std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
        if (out_levels[s][x] != out_levels[s][y]) return out_levels[s][x] > out_levels[s][y];
        return outs[s][x].list < outs[s][y].list;
      });
      a->out_first[s] = static_cast<uint32_t>(a->outputs.size());
      for (size_t k : order) a->outputs.push_back(outs[s][k]);
    }
    a->out_first[states] = static_cast<uint32_t>(a->outputs.size());
    auto has_output = [&](uint32_t s) { return a->out_first[s] != a->out_first[s + 1]; };

    // Failure and dictionary links, breadth first (a state's failure is shallower than it).
    for (auto& kids : children) std::sort(kids.begin(), kids.end());
    a->fail.assign(states, 0);
    a->dict.assign(states, 0);
    const bool dense = states * nclasses * sizeof(uint32_t) <= kMaxDenseBytes;
    if (dense) a->delta.assign(states * nclasses, 0);
    auto go = [&](uint32_t s, uint8_t c) -> uint32_t {  // on states already linked
      if (dense) return a->delta[size_t{s} * nclasses + c];
      while (true) {
        for (const auto& [k, t] : children[s]) {
          if (k == c) return t;
        }
        if (s == 0) return 0;
        s = a->fail[s];
      }
    };
    std::deque<uint32_t> queue;
    for (const auto& [c, t] : children[0]) {
      queue.push_back(t);
      if (dense) a->delta[c] = t;
    }
    while (!queue.empty()) {
      const uint32_t s = queue.front();
      queue.pop_front();
      if (dense) {  // inherit the failure state's row, then overwrite with own children
        std::copy_n(a->delta.begin() + size_t{a->fail[s]} * nclasses, nclasses,
                    a->delta.begin() + size_t{s} * nclasses);
      }
      for (const auto& [c, t] : children[s]) {
        const uint32_t f = go(a->fail[s], c);
        a->fail[t] = f;
        a->dict[t] = has_output(f) ? f : a->dict[f];
        if (dense) a->delta[size_t{s} * nclasses + c] = t;
        queue.push_back(t);
      }
    }
    a->reports.resize(states);
    for (uint32_t s = 0; s < states; ++s) a->reports[s] = has_output(s) || a->dict[s] != 0;
    if (dense) {  // rank the states, those that report last, and store rows
      std::vector<uint32_t> rank(states);
      a->dense_state.resize(states);
      uint32_t next = 0;
      for (bool reporting : {false, true}) {
        if (reporting) a->report_rows = next * static_cast<uint32_t>(nclasses);
        for (uint32_t s = 0; s < states; ++s) {
          if (static_cast<bool>(a->reports[s]) != reporting) continue;
          rank[s] = next;
          a->dense_state[next++] = s;
        }
      }
      std::vector<uint32_t> rows(states * nclasses);
      for (size_t s = 0; s < states; ++s) {
        for (size_t c = 0; c < nclasses; ++c) {
          rows[rank[s] * nclasses + c] =
              rank[a->delta[s * nclasses + c]] * static_cast<uint32_t>(nclasses);
        }
      }
      a->delta = std::move(rows);
    }
    if (!dense) {
      a->first.assign(states + 1, 0);
      for (size_t s = 0; s < states; ++s) {
        a->first[s] = static_cast<uint32_t>(a->edges.size());
        a->edges.insert(a->edges.end(), children[s].begin(), children[s].end());
      }
      a->first[states] = static_cast<uint32_t>(a->edges.size());
    }
    (f == 0 ? detector->sensitive_ : detector->insensitive_) = std::move(a);
  }
  for (TermList& l : lists) {
    l.terms.clear();
    l.terms.shrink_to_fit();
  }
  detector->lists_ = std::move(lists);
  detector->reported_ = reported;
  return detector;
}

bool TermDetector::dense() const {
  for (const Automaton* a : {sensitive_.get(), insensitive_.get()}) {
    if (a != nullptr && a->delta.empty()) return false;
  }
  return true;
}

// Runs the dense automaton over text, calling report(end, state) where terms may end. Each
// step is one load that depends on the previous one, so the text is cut into kLanes pieces
// walked side by side for the CPU to overlap their loads. A lane starts max_length bytes
// before its piece, so that its state is the true one by the time it reaches the piece, and
// reports only the ends inside its piece.
template <size_t kLanes, typename Report>
void ScanDense(const TermDetector::Automaton& a, std::string_view text, Report& report) {
  static_assert(kLanes >= 1);
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const uint8_t* cls = a.cls.data();
  const uint32_t* delta = a.delta.data();
  const size_t report_rows = a.report_rows;
  const size_t n = text.size();
  size_t start[kLanes], from[kLanes], stop[kLanes];
  size_t lockstep = n;
  for (size_t l = 0; l < kLanes; ++l) {
    from[l] = n / kLanes * l;
    stop[l] = l + 1 == kLanes ? n : n / kLanes * (l + 1);
    start[l] = from[l] - std::min<size_t>(from[l], a.max_length);
    lockstep = std::min(lockstep, stop[l] - start[l]);
  }
  // The lanes step in blocks with no call inside, so that their states stay in registers (the
  // chain of loads must not go through memory): where a state reports, the end and row are
  // noted, and reported after the block.
  struct Noted {
    size_t end, row;
  };
  constexpr size_t kBlock = 64;
  Noted noted[kLanes * kBlock];  // at most one per lane and step
  size_t count = 0;
  size_t row[kLanes] = {};
  auto step = [&](size_t l, size_t p) __attribute__((always_inline)) {
    row[l] = delta[row[l] + cls[bytes[p]]];
    if (row[l] >= report_rows && p >= from[l]) [[unlikely]]
      noted[count++] = Noted{p + 1, row[l]};
  };
  auto flush = [&] {
    for (size_t i = 0; i < count; ++i) {
      report(noted[i].end, a.dense_state[noted[i].row / a.nclasses]);
    }
    count = 0;
  };
  for (size_t k0 = 0; k0 < lockstep; k0 += kBlock) {
    for (size_t k = k0; k < std::min(lockstep, k0 + kBlock); ++k) {
      [&]<size_t... l>(std::index_sequence<l...>) __attribute__((always_inline)) {
        (step(l, start[l] + k), ...);
      }
      (std::make_index_sequence<kLanes>{});
    }
    flush();
  }
  for (size_t l = 0; l < kLanes; ++l) {  // the rest of the longer lanes, one by one
    for (size_t p = start[l] + lockstep; p < stop[l]; ++p) {
      step(l, p);
      if (count == std::size(noted)) flush();
    }
  }
  flush();
}

void TermDetector::Find(std::string_view text, std::vector<Hit>* kept) const {
  kept->clear();
  absl::InlinedVector<Hit, 32> hits;
  for (const Automaton* a : {sensitive_.get(), insensitive_.get()}) {
    if (a == nullptr) continue;
    // The terms that end at `end` in state s (or a suffix of it): the best list for each span.
    auto report = [&](size_t end, uint32_t s) {
      uint32_t o = a->out_first[s] != a->out_first[s + 1] ? s : a->dict[s];
      int right_word = -1;  // computed once per end, when a term needs it
      for (; o != 0; o = a->dict[o]) {
        // The first list (by priority) that takes this span, and the first side list: the
        // other lists would lose to them.
        bool taken[2] = {false, reported_ == lists_.size()};  // lists', side lists'
        for (uint32_t k = a->out_first[o]; k < a->out_first[o + 1]; ++k) {
          const Automaton::Output& out_k = a->outputs[k];
          const bool side = out_k.list >= reported_;
          if (taken[side]) continue;
          const size_t begin = end - out_k.length;
          if (out_k.need_right) {
            if (right_word < 0) right_word = WordAt(text, end) ? 1 : 0;
            if (right_word == 1) continue;
          }
          if (out_k.need_left && WordBefore(text, begin)) continue;
          hits.push_back(Hit{begin, end, out_k.list});
          taken[side] = true;
          if (taken[0] && taken[1]) break;
        }
      }
    };
    if (!a->delta.empty()) {  // the common case: one dependent load per byte
      // Lanes pay off once each piece is long against the overlap a lane rescans.
      const size_t n = text.size(), overlap = a->max_length;
      if (n >= std::max<size_t>(192, 12 * overlap)) {
        ScanDense<6>(*a, text, report);
      } else if (n >= std::max<size_t>(128, 8 * overlap)) {
        ScanDense<4>(*a, text, report);
      } else if (n >= std::max<size_t>(64, 4 * overlap)) {
        ScanDense<2>(*a, text, report);
      } else {
        ScanDense<1>(*a, text, report);
      }
    } else {
      uint32_t s = 0;
      for (size_t i = 0; i < text.size(); ++i) {
        s = a->Next(s, a->cls[static_cast<unsigned char>(text[i])]);
        if (a->reports[s]) report(i + 1, s);
      }
    }
  }
  if (hits.empty()) return;
  std::sort(hits.begin(), hits.end(), [this](const Hit& x, const Hit& y) {
    if (x.begin != y.begin) return x.begin < y.begin;
    if (x.end != y.end) return x.end > y.end;
    const Level lx = lists_[x.list].level, ly = lists_[y.list].level;
    if (lx != ly) return lx > ly;
    return x.list < y.list;
  });
  size_t last_end[2] = {0, 0};  // of the lists' kept hits, of the side lists'
  for (const Hit& h : hits) {
    const bool side = h.list >= reported_;
    if (h.begin < last_end[side]) continue;
    last_end[side] = h.end;
    kept->push_back(h);
  }
}

void TermDetector::Scan(std::string_view text, std::vector<Match>* out) const {
  std::vector<Hit> hits;
  Find(text, &hits);
  for (const Hit& h : hits) {
    if (h.list >= reported_) continue;  // a side list's
    const TermList& l = lists_[h.list];
    out->push_back(Match{l.category, l.level, h.begin, h.end, 1.0f, l.name});
  }
}

void TermDetector::RuleOut(const JoinedTexts& texts, std::span<bool> may_match) const {
  if (texts.size() < 2) return;  // Scan's own pass is the same pass
  std::vector<Hit> side_hits;
  RuleOutAndFindSide(texts, may_match, &side_hits);
}

void TermDetector::RuleOutAndFindSide(const JoinedTexts& texts, std::span<bool> may_match,
                                      std::vector<Hit>* side_hits) const {
  std::vector<Hit> hits;
  Find(texts.joined(), &hits);
  side_hits->clear();
  std::fill(may_match.begin(), may_match.end(), false);
  for (const Hit& h : hits) {
    if (h.list >= reported_) {
      side_hits->push_back(h);
      continue;
    }
    for (size_t i = texts.TextAt(h.begin); i < texts.size() && texts.begin(i) < h.end; ++i) {
      may_match[i] = true;
    }
  }
}

}  // namespace airlock::classifier
