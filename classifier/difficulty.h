// Difficulty: a deterministic estimate in [0, 1] of how hard a request's task is, from
// features of the request alone. It feeds the policy's difficulty conditions (easy work to a
// small model, hard work to a strong one). A model-based score (Nano's hidden states, later)
// is meant to refine it: the signals below are its inputs, `difficulty` the combined value
// that a refinement replaces.
//
// Signals, each in [0, 1], all of them always reported by name (0 when a signal did not fire,
// so that consumers and a later model see a fixed set of features):
//   length      LengthDifficulty(estimated_tokens): log(1 + tokens) / log(1 + 32768).
//   turns       min(1, (user messages - 1) / 7): a long conversation carries more context.
//   tools       min(1, tool definitions / 8).
//   code        min(1, 0.5 * fenced blocks + code lines / 20). A fenced block starts with a
//               line whose first non-blank characters are ``` or ~~~; code lines are the lines
//               inside fences, lines indented by 4 spaces or a tab that contain one of ;{}()=,
//               and lines ending in ';', '{' or '}'.
//   math        min(1, weight / 6) where weight counts LaTeX commands (\frac, \sum, ...: 2
//               each), $ pairs (2), mathematical and Greek symbols (U+0391-U+03C9,
//               U+2200-U+22FF, ², ³, ½, ...: 2 each), equations (an '=' between two operands:
//               1 each), arithmetic expressions (a digit or variable, an operator + - * / ^ ×
//               ÷, a digit or variable: 1 each), and numbers beyond the second (0.5 each:
//               word problems that juggle many quantities need more steps).
//   multi_step  min(1, 0.25 * numbered items + 0.2 * sequencing words + 0.5 * "step by step")
//               where numbered items are lines starting with "1." / "2)" / "Step 3" (counted
//               only when there are at least two), and sequencing words are first, then, next,
//               after that, finally, afterwards, subsequently, followed by.
//   reasoning   1 - 0.5^k for k distinct reasoning requests among: prove, proof, derive,
//               explain why, why does, why is, why do, analyze / analyse, justify, evaluate,
//               compare, contrast, critique, trade-off(s), show that, what if, how many ways,
//               optimize / optimise, design, algorithm, complexity, reason, implications.
//   languages   min(1, 0.6 * share of letters outside the Latin script + 0.4 * (scripts - 1))
//               where scripts are those (Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic,
//               Devanagari and other Indic, Thai, Hangul, kana, Han, other) with at least 8
//               letters and 5% of the letters.
// The textual signals (code, math, multi_step, reasoning, languages) read the user messages'
// content (every message's content when there is no user message); words are matched ASCII
// case-insensitively at word boundaries (term_detector.h).
//
// Combination: a weighted noisy-OR,
//   difficulty = 1 - prod_i (1 - w_i * s_i)
// with the weights of kDifficultyWeights. It is 0 when no signal fires, grows with each
// signal, never exceeds 1, and one strong signal alone (code, math) can make a request hard.
// The weights were set by hand and checked on RouteLLM's GSM8K + MMLU labels (EvalDifficulty,
// eval.h): AUROC 0.62 pooled (GSM8K 0.57, MMLU 0.62); a grid over the weights of length, math,
// multi_step and reasoning moved it by about 0.01 either way, so they were left as set.
//
// Deterministic and thread-safe; linear in the size of the request.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "airlock/v1/gateway.pb.h"
#include "classifier/signals.h"
#include "classifier/term_detector.h"

namespace airlock::classifier {

struct DifficultyWeight {
  const char* signal;
  float weight;
};
inline constexpr DifficultyWeight kDifficultyWeights[] = {
    {"length", 0.5f}, {"turns", 0.3f},      {"tools", 0.3f},     {"code", 0.6f},
    {"math", 0.6f},   {"multi_step", 0.5f}, {"reasoning", 0.5f}, {"languages", 0.3f},
};

// The textual signals of one text (see above).
float CodeSignal(std::string_view text);
float MathSignal(std::string_view text);
float MultiStepSignal(std::string_view text);
float ReasoningSignal(std::string_view text);
float LanguagesSignal(std::string_view text);

// Every signal of kDifficultyWeights, by name.
Signals DifficultySignals(const v1::ChatRequest& request, uint32_t estimated_tokens);

// The same, for a caller that has already found the word lists of multi_step and reasoning
// (DifficultyWordLists) in the messages the signals read, in a pass of its own over them:
// `word_hits` holds each hit's index into DifficultyWordLists(), as TermDetector::Find gives
// them. The classifier finds them in its custom terms' pass (TermDetector's side lists).
Signals DifficultySignals(const v1::ChatRequest& request, uint32_t estimated_tokens,
                          std::span<const uint32_t> word_hits);
// The word lists of multi_step and reasoning (public level, ASCII case-insensitive, at word
// boundaries): sequencing words, "step by step", then one list per reasoning request.
std::vector<TermList> DifficultyWordLists();
// Whether the textual signals read message m's content: a user message's, or any message's
// when the request has none (has_user: whether it has one; HasUserMessage).
inline bool ReadForDifficulty(const v1::Message& m, bool has_user) {
  return !has_user || m.role() == v1::Message::USER;
}
bool HasUserMessage(const v1::ChatRequest& request);
// The noisy-OR of the signals with kDifficultyWeights; names not in the table are ignored,
// values are clamped to [0, 1].
float CombineDifficulty(const Signals& signals);

}  // namespace airlock::classifier
