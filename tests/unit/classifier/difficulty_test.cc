#include "classifier/difficulty.h"

#include <cmath>
#include <string>

#include "classifier/classifier.h"
#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

v1::ChatRequest UserSays(const std::string& text) {
  v1::ChatRequest r;
  auto* m = r.add_messages();
  m->set_role(v1::Message::USER);
  m->set_content(text);
  return r;
}

TEST(Difficulty, EverySignalIsReportedAndPlainChatIsEasy) {
  const auto s = DifficultySignals(UserSays("hello, how are you today?"), 7);
  ASSERT_EQ(s.size(), std::size(kDifficultyWeights));
  for (const DifficultyWeight& w : kDifficultyWeights) {
    ASSERT_EQ(s.count(w.signal), 1u) << w.signal;
    EXPECT_GE(s.at(w.signal), 0.0f);
    EXPECT_LE(s.at(w.signal), 1.0f);
  }
  for (const char* zero :
       {"turns", "tools", "code", "math", "multi_step", "reasoning", "languages"}) {
    EXPECT_EQ(s.at(zero), 0.0f) << zero;
  }
  EXPECT_FLOAT_EQ(s.at("length"), LengthDifficulty(7));
  EXPECT_LT(CombineDifficulty(s), 0.25f);
}

TEST(Difficulty, CombineIsTheDocumentedNoisyOr) {
  EXPECT_EQ(CombineDifficulty({}), 0.0f);
  EXPECT_FLOAT_EQ(CombineDifficulty({{"code", 1.0f}}), 0.6f);
  EXPECT_FLOAT_EQ(CombineDifficulty({{"code", 1.0f}, {"math", 0.5f}}), 1 - 0.4f * 0.7f);
  EXPECT_FLOAT_EQ(CombineDifficulty({{"code", 1.0f}, {"unknown", 1.0f}}), 0.6f);
  EXPECT_FLOAT_EQ(CombineDifficulty({{"code", 7.0f}, {"math", -3.0f}}), 0.6f);  // clamped
  EXPECT_FLOAT_EQ(CombineDifficulty({{"code", std::nanf("")}}), 0.0f);
  Signals all;
  for (const DifficultyWeight& w : kDifficultyWeights) all[w.signal] = 1.0f;
  const float max = CombineDifficulty(all);
  EXPECT_GT(max, 0.95f);
  EXPECT_LE(max, 1.0f);
}

TEST(Difficulty, TurnsAndTools) {
  v1::ChatRequest r;
  for (int i = 0; i < 8; ++i) {
    auto* u = r.add_messages();
    u->set_role(v1::Message::USER);
    u->set_content("and?");
    auto* a = r.add_messages();
    a->set_role(v1::Message::ASSISTANT);
    a->set_content("yes");
  }
  for (int i = 0; i < 4; ++i) r.add_tools()->set_name("t" + std::to_string(i));
  const auto s = DifficultySignals(r, 10);
  EXPECT_FLOAT_EQ(s.at("turns"), 1.0f);  // (8 - 1) / 7
  EXPECT_FLOAT_EQ(s.at("tools"), 0.5f);  // 4 / 8
}

TEST(Difficulty, CodeFencesIndentedCodeAndStatementLines) {
  EXPECT_EQ(CodeSignal("no code here.\nJust prose."), 0.0f);
  EXPECT_FLOAT_EQ(CodeSignal("Fix this:\n```\nint x = 1;\nreturn x;\n```\n"), 0.5f + 2.0f / 20);
  EXPECT_FLOAT_EQ(CodeSignal("~~~python\nprint(1)\n~~~"), 0.5f + 1.0f / 20);
  EXPECT_FLOAT_EQ(CodeSignal("see:\n    foo(bar);\n    x = 2\n    plain indented words"),
                  2.0f / 20);
  EXPECT_FLOAT_EQ(CodeSignal("int main() {\n  return 0;\n}"), 3.0f / 20);
  EXPECT_FLOAT_EQ(CodeSignal("```a```\n```b```\n```c```"), 1.0f);  // capped
}

TEST(Difficulty, MathNotation) {
  EXPECT_EQ(MathSignal("What is the capital of France?"), 0.0f);
  EXPECT_EQ(MathSignal("It costs $2 and $3."), 0.0f);               // currency, two numbers
  EXPECT_FLOAT_EQ(MathSignal("Compute $\\frac{a}{b}$"), 4.0f / 6);  // $ (2) + \frac (2)
  EXPECT_FLOAT_EQ(MathSignal("x = y"), 1.0f / 6);
  EXPECT_FLOAT_EQ(MathSignal("3 * 4 = 12"), (1 + 1 + 0.5f) / 6);           // *, =, third number
  EXPECT_FLOAT_EQ(MathSignal("\xE2\x88\x80 x \xE2\x88\x88 S"), 4.0f / 6);  // ∀ x ∈ S
  EXPECT_FLOAT_EQ(MathSignal("angle \xCE\xB8"), 2.0f / 6);          // an isolated θ is a symbol
  EXPECT_EQ(MathSignal("\xCE\xB1\xCE\xBB\xCF\x86\xCE\xB1"), 0.0f);  // "αλφα", a Greek word
  EXPECT_EQ(MathSignal("well-known and/or x-ray"), 0.0f);           // '-' and '/' join words
  EXPECT_FLOAT_EQ(MathSignal("a-b 2-3 4/5"), 2.0f / 6 + 0.5f * 2 / 6);
}

TEST(Difficulty, MultiStepInstructions) {
  EXPECT_EQ(MultiStepSignal("Tell me a joke."), 0.0f);
  EXPECT_EQ(MultiStepSignal("1. only one item"), 0.0f);
  EXPECT_FLOAT_EQ(MultiStepSignal("1. read\n2) write\n  3. test"), 0.75f);
  EXPECT_FLOAT_EQ(MultiStepSignal("Step 1: a\nStep 2: b"), 0.5f);
  EXPECT_FLOAT_EQ(MultiStepSignal("First open it, then close it."), 0.4f);
  EXPECT_FLOAT_EQ(MultiStepSignal("Think step by step."), 0.5f);
  EXPECT_FLOAT_EQ(MultiStepSignal("Thence, thenar"), 0.0f);  // word boundaries
}

TEST(Difficulty, ReasoningRequestsCountedOncePerKind) {
  EXPECT_EQ(ReasoningSignal("Write a poem."), 0.0f);
  EXPECT_FLOAT_EQ(ReasoningSignal("Prove it."), 0.5f);
  EXPECT_FLOAT_EQ(ReasoningSignal("Prove it. Give a proof. PROVE it!"), 0.5f);
  EXPECT_FLOAT_EQ(ReasoningSignal("Prove it and explain why; analyze the result."), 0.875f);
  EXPECT_EQ(ReasoningSignal("improve it"), 0.0f);  // "prove" inside a word
}

TEST(Difficulty, LanguagesScripts) {
  EXPECT_EQ(LanguagesSignal("plain English text"), 0.0f);
  EXPECT_EQ(LanguagesSignal(""), 0.0f);
  // Russian only: every letter outside Latin, one script.
  EXPECT_NEAR(LanguagesSignal("\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 "
                              "\xD0\xBC\xD0\xB8\xD1\x80 \xD0\xBA\xD0\xB0\xD0\xBA"),
              0.6f, 1e-6);
  // About half Latin, half Cyrillic: two scripts.
  const float mixed = LanguagesSignal(
      "translate this "  // 13 Latin letters
      "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82\xD0\xBC\xD0\xB8\xD1\x80\xD0\xBA\xD0\xB0"
      "\xD0\xBA\xD0\xB4\xD0\xB5");  // 14 Cyrillic letters
  EXPECT_NEAR(mixed, 0.6f * 14 / 27 + 0.4f, 1e-6);
  // Invalid bytes are skipped, not letters.
  EXPECT_EQ(LanguagesSignal(std::string("abc\xFF\xFE\x80", 6)), 0.0f);
  // ASCII text long enough to be counted in blocks: 2 letters in every 8 bytes (the bytes
  // around A-Z and a-z are not letters), then 20 Cyrillic letters.
  std::string blocks;
  for (int i = 0; i < 24; ++i) blocks += "aZ@[`{1 ";
  for (int i = 0; i < 20; ++i) blocks += "\xD0\x9F";
  EXPECT_NEAR(LanguagesSignal(blocks), 0.6f * 20 / 68 + 0.4f, 1e-6);
}

TEST(Difficulty, HarderLookingRequestsScoreHigher) {
  auto classifier = Classifier::CreateDefault();
  const float easy = classifier->Assess(UserSays("What is the capital of France?")).difficulty;
  const float hard =
      classifier
          ->Assess(UserSays("Prove that for every integer n >= 1, \\sum_{k=1}^n k = n(n+1)/2. "
                            "First state the base case, then the inductive step, and explain why "
                            "the induction is valid."))
          .difficulty;
  EXPECT_LT(easy, 0.3f);
  EXPECT_GT(hard, 0.7f);
}

TEST(Difficulty, OnlyUserMessagesFeedTheTextualSignals) {
  v1::ChatRequest r;
  auto* sys = r.add_messages();
  sys->set_role(v1::Message::SYSTEM);
  sys->set_content("Always prove everything step by step: ```code```");
  auto* u = r.add_messages();
  u->set_role(v1::Message::USER);
  u->set_content("hi");
  const auto s = DifficultySignals(r, 20);
  EXPECT_EQ(s.at("reasoning"), 0.0f);
  EXPECT_EQ(s.at("multi_step"), 0.0f);
  EXPECT_EQ(s.at("code"), 0.0f);
  // Without a user message, every message is read.
  r.mutable_messages()->RemoveLast();
  EXPECT_GT(DifficultySignals(r, 20).at("reasoning"), 0.0f);
}

TEST(Difficulty, BadInputGivesDefinedValues) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 131) & 0xFF));
  const auto s = DifficultySignals(UserSays(junk), 1024);
  for (const auto& [name, v] : s) {
    EXPECT_GE(v, 0.0f) << name;
    EXPECT_LE(v, 1.0f) << name;
  }
  const float d = CombineDifficulty(s);
  EXPECT_GE(d, 0.0f);
  EXPECT_LE(d, 1.0f);
  EXPECT_EQ(CombineDifficulty(DifficultySignals(v1::ChatRequest(), 0)), 0.0f);
}

}  // namespace
}  // namespace airlock::classifier
