#include "classifier/difficulty.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <memory>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "classifier/byte_set.h"
#include "classifier/classifier.h"
#include "classifier/term_detector.h"
#include "classifier/utf8.h"

namespace airlock::classifier {
namespace {

bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsBlank(unsigned char c) { return c == ' ' || c == '\t' || c == '\r'; }

template <typename Fn>
void ForEachLine(std::string_view text, Fn fn) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    fn(text.substr(start, nl - start));
    start = nl + 1;
  }
}

std::string_view TrimLeft(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && IsBlank(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string_view TrimRight(std::string_view s) {
  size_t n = s.size();
  while (n > 0 && IsBlank(static_cast<unsigned char>(s[n - 1]))) --n;
  return s.substr(0, n);
}

// Word lists for multi_step and reasoning, scanned in one pass by a TermDetector. Each
// reasoning request is its own list so that distinct requests can be counted.
constexpr std::string_view kSequencing = "difficulty.sequencing";
constexpr std::string_view kStepByStep = "difficulty.step_by_step";
constexpr std::string_view kReasoningPrefix = "difficulty.reasoning.";
// Their positions among the lists given to the TermDetector (TermDetector::Hit::list).
constexpr uint32_t kSequencingList = 0;
constexpr uint32_t kStepByStepList = 1;
constexpr uint32_t kFirstReasoningList = 2;  // then one list per reasoning request

const TermDetector& Words() {
  static const TermDetector* words = [] {
    auto created = TermDetector::Create("difficulty", DifficultyWordLists());
    if (!created.ok()) std::abort();  // fixed word lists; the unit tests build them
    return created->release();
  }();
  return *words;
}

// Greek letters, mathematical operators and a few Latin-1 math signs.
bool IsMathSymbol(uint32_t cp) {
  return (cp >= 0x2200 && cp <= 0x22FF) || (cp >= 0x27C0 && cp <= 0x27EF) ||
         (cp >= 0x2A00 && cp <= 0x2AFF) || cp == 0xB1 || cp == 0xB2 || cp == 0xB3 || cp == 0xB9 ||
         cp == 0xBC || cp == 0xBD || cp == 0xBE || cp == 0xD7 || cp == 0xF7 ||
         (cp >= 0x2070 && cp <= 0x209F);  // super- and subscripts
}
bool IsGreek(uint32_t cp) { return cp >= 0x0391 && cp <= 0x03C9; }

enum class Script {
  kNone,
  kLatin,
  kGreek,
  kCyrillic,
  kArmenian,
  kHebrew,
  kArabic,
  kIndic,
  kThai,
  kHangul,
  kKana,
  kHan,
  kCount
};

Script ScriptOf(uint32_t cp) {
  if (cp < 0x80) return IsAlpha(static_cast<unsigned char>(cp)) ? Script::kLatin : Script::kNone;
  if ((cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) || (cp >= 0x1E00 && cp <= 0x1EFF))
    return Script::kLatin;
  if (cp >= 0x370 && cp <= 0x3FF) return Script::kGreek;
  if (cp >= 0x400 && cp <= 0x52F) return Script::kCyrillic;
  if (cp >= 0x530 && cp <= 0x58F) return Script::kArmenian;
  if (cp >= 0x590 && cp <= 0x5FF) return Script::kHebrew;
  if ((cp >= 0x600 && cp <= 0x6FF) || (cp >= 0x750 && cp <= 0x77F)) return Script::kArabic;
  if (cp >= 0x900 && cp <= 0xDFF) return Script::kIndic;
  if (cp >= 0xE00 && cp <= 0xE7F) return Script::kThai;
  if ((cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF)) return Script::kHangul;
  if (cp >= 0x3040 && cp <= 0x30FF) return Script::kKana;
  if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF)) return Script::kHan;
  return Script::kNone;
}

// The character before / after a position, skipping blanks; 0 at either end of the text.
unsigned char PrevNonBlank(std::string_view t, size_t i) {
  while (i > 0) {
    const unsigned char c = static_cast<unsigned char>(t[--i]);
    if (c != ' ' && c != '\t') return c;
  }
  return 0;
}
unsigned char NextNonBlank(std::string_view t, size_t i) {
  for (++i; i < t.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(t[i]);
    if (c != ' ' && c != '\t') return c;
  }
  return 0;
}

}  // namespace

std::vector<TermList> DifficultyWordLists() {
  std::vector<TermList> lists;
  lists.push_back(
      TermList{std::string(kSequencing),
               Level::kPublic,
               {"first", "firstly", "then", "next", "after that", "finally", "afterwards",
                "subsequently", "followed by", "second", "secondly", "lastly"}});
  lists.push_back(
      TermList{std::string(kStepByStep), Level::kPublic, {"step by step", "step-by-step"}});
  const std::vector<std::vector<std::string>> reasoning = {
      {"prove", "proof", "proofs"},
      {"derive", "derivation"},
      {"explain why", "why does", "why is", "why do", "why are"},
      {"analyze", "analyse", "analysis"},
      {"justify"},
      {"evaluate"},
      {"compare", "contrast"},
      {"critique"},
      {"trade-off", "trade-offs", "tradeoff", "tradeoffs"},
      {"show that"},
      {"what if"},
      {"how many ways"},
      {"optimize", "optimise", "optimal"},
      {"design"},
      {"algorithm"},
      {"complexity"},
      {"reason", "reasoning"},
      {"implications", "implication"},
  };
  if (reasoning.size() > 64) std::abort();  // CountWords keeps them in a 64-bit set
  for (size_t i = 0; i < reasoning.size(); ++i) {
    lists.push_back(
        TermList{std::string(kReasoningPrefix) + std::to_string(i), Level::kPublic, reasoning[i]});
  }
  return lists;
}

float CodeSignal(std::string_view text) {
  bool in_fence = false;
  int fences = 0;
  int code_lines = 0;
  ForEachLine(text, [&](std::string_view line) {
    const std::string_view body = TrimLeft(line);
    if (body.starts_with("```") || body.starts_with("~~~")) {
      if (!in_fence) ++fences;
      in_fence = !in_fence;
      return;
    }
    const std::string_view trimmed = TrimRight(body);
    if (trimmed.empty()) return;
    if (in_fence) {
      ++code_lines;
      return;
    }
    const bool indented = line.starts_with("    ") || line.starts_with("\t");
    if (indented && trimmed.find_first_of(";{}()=") != std::string_view::npos) {
      ++code_lines;
      return;
    }
    const char last = trimmed.back();
    if (last == ';' || last == '{' || last == '}') ++code_lines;
  });
  return std::min(1.0f, 0.5f * static_cast<float>(fences) + static_cast<float>(code_lines) / 20);
}

// Bytes that MathSignal looks at; every other byte (letters, blanks, most punctuation) is
// skipped.
constexpr ByteSet kMathBytes = ByteSet::Of([](uint8_t c) {
  return c >= 0x80 || (c >= '0' && c <= '9') ||
         std::string_view("\\$=+*^-/").find(static_cast<char>(c)) != std::string_view::npos;
});

float MathSignal(std::string_view t) {
  float weight = 0;
  int numbers = 0;
  uint32_t prev_cp = 0;
  for (size_t i = 0; i < t.size();) {
    if (!kMathBytes.contains(static_cast<unsigned char>(t[i]))) {
      // Skip to the next byte of interest; what is skipped is ASCII (never Greek).
      i = kMathBytes.Find(t, i + 1);
      prev_cp = 0;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(t[i]);
    if (c >= 0x80) {
      uint32_t cp = 0;
      const size_t len = DecodeUtf8(t, i, &cp);
      if (len == 0) {
        ++i;
        prev_cp = 0;
        continue;
      }
      if (IsMathSymbol(cp)) {
        weight += 2;
      } else if (IsGreek(cp) && !IsGreek(prev_cp)) {
        uint32_t next_cp = 0;
        const bool next_greek =
            i + len < t.size() && DecodeUtf8(t, i + len, &next_cp) != 0 && IsGreek(next_cp);
        if (!next_greek) weight += 2;  // an isolated Greek letter is a symbol, not a word
      }
      prev_cp = cp;
      i += len;
      continue;
    }
    prev_cp = c;
    if (c == '\\' && i + 2 < t.size() && IsAlpha(static_cast<unsigned char>(t[i + 1])) &&
        IsAlpha(static_cast<unsigned char>(t[i + 2]))) {
      weight += 2;  // a LaTeX command
      ++i;
      while (i < t.size() && IsAlpha(static_cast<unsigned char>(t[i]))) ++i;
      continue;
    }
    if (c == '$' && i + 1 < t.size()) {
      const unsigned char n = static_cast<unsigned char>(t[i + 1]);
      if (!IsDigit(n) && !IsBlank(n) && n != '\n' && n != '$') weight += 2;  // not currency
    } else if (c == '=') {
      const unsigned char p = PrevNonBlank(t, i), n = NextNonBlank(t, i);
      const bool lhs = IsDigit(p) || IsAlpha(p) || p == ')';
      const bool rhs = IsDigit(n) || IsAlpha(n) || n == '(' || n == '-';
      if (lhs && rhs) weight += 1;
    } else if (c == '+' || c == '*' || c == '^' || c == '-' || c == '/') {
      const unsigned char p = PrevNonBlank(t, i), n = NextNonBlank(t, i);
      const bool loose = c == '+' || c == '*' || c == '^';  // '-' and '/' join words too
      const bool lhs = IsDigit(p) || p == ')' || (loose && IsAlpha(p));
      const bool rhs = IsDigit(n) || n == '(' || (loose && IsAlpha(n));
      if (lhs && rhs) weight += 1;
    } else if (IsDigit(c)) {
      const bool glued = i > 0 && IsAlpha(static_cast<unsigned char>(t[i - 1]));
      while (i + 1 < t.size() && (IsDigit(static_cast<unsigned char>(t[i + 1])) ||
                                  ((t[i + 1] == '.' || t[i + 1] == ',') && i + 2 < t.size() &&
                                   IsDigit(static_cast<unsigned char>(t[i + 2]))))) {
        ++i;
      }
      if (!glued) ++numbers;
    }
    ++i;
  }
  weight += 0.5f * static_cast<float>(std::max(0, numbers - 2));
  return std::min(1.0f, weight / 6);
}

namespace {

// What the word lists found in a text, from one scan.
struct WordCounts {
  int sequencing = 0;
  bool step_by_step = false;
  int reasoning = 0;  // distinct reasoning requests
};

// From each hit's list (an index into DifficultyWordLists()).
template <typename Lists>
WordCounts CountHits(const Lists& lists) {
  WordCounts counts;
  uint64_t reasoning = 0;  // bit i: reasoning list i was found
  for (const uint32_t list : lists) {
    if (list == kSequencingList) ++counts.sequencing;
    if (list == kStepByStepList) counts.step_by_step = true;
    if (list >= kFirstReasoningList) reasoning |= uint64_t{1} << (list - kFirstReasoningList);
  }
  counts.reasoning = std::popcount(reasoning);
  return counts;
}

WordCounts CountWords(std::string_view text) {
  std::vector<TermDetector::Hit> found;
  Words().Find(text, &found);
  absl::InlinedVector<uint32_t, 32> lists;
  for (const TermDetector::Hit& h : found) lists.push_back(h.list);
  return CountHits(lists);
}

float MultiStep(std::string_view text, const WordCounts& words) {
  int items = 0;
  ForEachLine(text, [&](std::string_view line) {
    std::string_view s = TrimLeft(line);
    size_t d = 0;
    while (d < s.size() && d < 3 && IsDigit(static_cast<unsigned char>(s[d]))) ++d;
    if (d > 0 && d < s.size() && (s[d] == '.' || s[d] == ')') &&
        (d + 1 == s.size() || IsBlank(static_cast<unsigned char>(s[d + 1])))) {
      ++items;
      return;
    }
    if (s.size() > 5 && (s.starts_with("Step ") || s.starts_with("step ")) &&
        IsDigit(static_cast<unsigned char>(s[5]))) {
      ++items;
    }
  });
  if (items < 2) items = 0;
  return std::min(1.0f, 0.25f * static_cast<float>(items) +
                            0.2f * static_cast<float>(words.sequencing) +
                            (words.step_by_step ? 0.5f : 0.0f));
}

float Reasoning(const WordCounts& words) {
  return 1.0f - std::pow(0.5f, static_cast<float>(words.reasoning));
}

}  // namespace

float MultiStepSignal(std::string_view text) { return MultiStep(text, CountWords(text)); }

float ReasoningSignal(std::string_view text) { return Reasoning(CountWords(text)); }

float LanguagesSignal(std::string_view text) {
  std::array<int, static_cast<size_t>(Script::kCount)> letters{};
  int ascii_letters = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    // Most text is ASCII: count a block's letters without decoding (a loop the compiler
    // vectorises) when no byte of it is beyond ASCII.
    // Byte-wide sums (a block's count fits), so that the loop needs no widening.
    constexpr size_t kBlock = 64;
    if (i + kBlock <= text.size()) {
      uint8_t high = 0, count = 0;
      for (size_t k = 0; k < kBlock; ++k) {
        const uint8_t c = bytes[i + k];
        high |= c;
        count = static_cast<uint8_t>(count + (static_cast<uint8_t>((c | 0x20) - 'a') < 26));
      }
      if (high < 0x80) {
        ascii_letters += static_cast<int>(count);
        i += kBlock;
        continue;
      }
    }
    const unsigned char c = bytes[i];
    if (c < 0x80) {
      ascii_letters += IsAlpha(c) ? 1 : 0;
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const size_t len = DecodeUtf8(text, i, &cp);
    if (len == 0) {
      ++i;
      continue;
    }
    ++letters[static_cast<size_t>(ScriptOf(cp))];
    i += len;
  }
  letters[static_cast<size_t>(Script::kLatin)] += ascii_letters;
  int total = 0;
  for (size_t s = 1; s < letters.size(); ++s) total += letters[s];
  if (total == 0) return 0;
  int scripts = 0;
  for (size_t s = 1; s < letters.size(); ++s) {
    if (letters[s] >= 8 && letters[s] * 20 >= total) ++scripts;
  }
  const float non_latin =
      static_cast<float>(total - letters[static_cast<size_t>(Script::kLatin)]) / total;
  return std::min(1.0f, 0.6f * non_latin + 0.4f * static_cast<float>(std::max(0, scripts - 1)));
}

bool HasUserMessage(const v1::ChatRequest& request) {
  return std::any_of(request.messages().begin(), request.messages().end(),
                     [](const v1::Message& m) { return m.role() == v1::Message::USER; });
}

namespace {

// The messages the textual signals read, joined by '\n': one text to scan.
std::string DifficultyText(const v1::ChatRequest& request) {
  const bool has_user = HasUserMessage(request);
  size_t size = 0;
  for (const v1::Message& m : request.messages()) {
    if (ReadForDifficulty(m, has_user)) size += m.content().size() + 1;
  }
  std::string text;
  text.reserve(size);
  for (const v1::Message& m : request.messages()) {
    if (!ReadForDifficulty(m, has_user)) continue;
    if (!text.empty()) text.push_back('\n');
    text.append(m.content());
  }
  return text;
}

Signals Difficulty(const v1::ChatRequest& request, uint32_t estimated_tokens, std::string_view text,
                   const WordCounts& words) {
  int user_turns = 0;
  for (const v1::Message& m : request.messages()) {
    if (m.role() == v1::Message::USER) ++user_turns;
  }
  Signals s;
  s.reserve(std::size(kDifficultyWeights) + 1);  // + a model stage's "deterministic"
  // In name order, which Signals keeps at the least cost.
  s["code"] = CodeSignal(text);
  s["languages"] = LanguagesSignal(text);
  s["length"] = LengthDifficulty(estimated_tokens);
  s["math"] = MathSignal(text);
  s["multi_step"] = MultiStep(text, words);
  s["reasoning"] = Reasoning(words);
  s["tools"] = std::min(1.0f, static_cast<float>(request.tools_size()) / 8);
  s["turns"] = std::min(1.0f, static_cast<float>(std::max(0, user_turns - 1)) / 7);
  return s;
}

}  // namespace

Signals DifficultySignals(const v1::ChatRequest& request, uint32_t estimated_tokens) {
  const std::string text = DifficultyText(request);
  return Difficulty(request, estimated_tokens, text, CountWords(text));
}

Signals DifficultySignals(const v1::ChatRequest& request, uint32_t estimated_tokens,
                          std::span<const uint32_t> word_hits) {
  return Difficulty(request, estimated_tokens, DifficultyText(request), CountHits(word_hits));
}

namespace {

// kDifficultyWeights sorted by name, to be read alongside a Signals (sorted by name too).
constexpr auto kWeightsByName = [] {
  std::array<DifficultyWeight, std::size(kDifficultyWeights)> sorted;
  std::copy(std::begin(kDifficultyWeights), std::end(kDifficultyWeights), sorted.begin());
  std::sort(sorted.begin(), sorted.end(), [](const DifficultyWeight& a, const DifficultyWeight& b) {
    return std::string_view(a.signal) < std::string_view(b.signal);
  });
  return sorted;
}();

}  // namespace

float CombineDifficulty(const Signals& signals) {
  double keep = 1.0;  // probability-like mass that no signal claims
  auto it = signals.begin();
  for (const DifficultyWeight& w : kWeightsByName) {
    const std::string_view name = w.signal;
    while (it != signals.end() && std::string_view(it->first) < name) ++it;
    if (it == signals.end()) break;
    if (it->first != name) continue;
    const double raw = static_cast<double>(it->second);
    const double v = std::isnan(raw) ? 0.0 : std::clamp(raw, 0.0, 1.0);
    keep *= 1.0 - static_cast<double>(w.weight) * v;
  }
  return static_cast<float>(std::clamp(1.0 - keep, 0.0, 1.0));
}

}  // namespace airlock::classifier
