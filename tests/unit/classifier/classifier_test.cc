#include "classifier/classifier.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "classifier/assessment.h"
#include "classifier/content.h"
#include "classifier/difficulty.h"
#include "classifier/level.h"
#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

// ---------------------------------------------------------------------------------------------
// Levels

TEST(Level, NamesRoundTrip) {
  const std::vector<std::pair<Level, std::string_view>> all = {
      {Level::kPublic, "public"},
      {Level::kInternal, "internal"},
      {Level::kConfidential, "confidential"},
      {Level::kRestricted, "restricted"}};
  for (const auto& [level, name] : all) {
    EXPECT_EQ(LevelName(level), name);
    ASSERT_TRUE(ParseLevel(name).has_value()) << name;
    EXPECT_EQ(*ParseLevel(name), level);
  }
}

TEST(Level, ParseRejectsAnythingElse) {
  for (std::string_view s : {"", "Public", "PUBLIC", " public", "public ", "secret", "0"}) {
    EXPECT_FALSE(ParseLevel(s).has_value()) << s;
  }
}

TEST(Level, Ordered) {
  EXPECT_LT(Level::kPublic, Level::kInternal);
  EXPECT_LT(Level::kInternal, Level::kConfidential);
  EXPECT_LT(Level::kConfidential, Level::kRestricted);
}

// ---------------------------------------------------------------------------------------------
// Content fields

v1::ChatRequest FullRequest() {
  v1::ChatRequest r;
  auto* m0 = r.add_messages();
  m0->set_role(v1::Message::SYSTEM);
  m0->set_content("sys");
  auto* m1 = r.add_messages();  // assistant calling two tools, no content
  m1->set_role(v1::Message::ASSISTANT);
  auto* c0 = m1->add_tool_calls();
  c0->set_id("call_0");
  c0->set_name("lookup");
  c0->set_arguments("{\"q\":1}");
  auto* c1 = m1->add_tool_calls();
  c1->set_name("send");  // empty arguments: skipped
  auto* m2 = r.add_messages();
  m2->set_role(v1::Message::TOOL);
  m2->set_tool_call_id("call_0");
  m2->set_name("participant");  // not content
  m2->set_content("result");
  auto* t0 = r.add_tools();
  t0->set_name("lookup");
  t0->set_description("looks up");
  t0->set_parameters("{}");
  auto* t1 = r.add_tools();
  t1->set_name("send");                        // no description, no parameters
  (*r.mutable_labels())["team"] = "payments";  // not content
  return r;
}

using Visit = std::pair<std::string, std::string>;

std::vector<Visit> Visits(const v1::ChatRequest& r, std::vector<FieldRef>* refs = nullptr) {
  std::vector<Visit> out;
  ForEachField(r, [&](const FieldRef& ref, std::string_view text) {
    out.emplace_back(FieldPath(ref), std::string(text));
    if (refs) refs->push_back(ref);
  });
  return out;
}

TEST(Content, ForEachFieldVisitsEveryKindInRequestOrderSkippingEmpty) {
  const std::vector<Visit> expected = {
      {"messages[0].content", "sys"},
      {"messages[1].tool_calls[0].name", "lookup"},
      {"messages[1].tool_calls[0].arguments", "{\"q\":1}"},
      {"messages[1].tool_calls[1].name", "send"},
      {"messages[2].content", "result"},
      {"tools[0].name", "lookup"},
      {"tools[0].description", "looks up"},
      {"tools[0].parameters", "{}"},
      {"tools[1].name", "send"},
  };
  EXPECT_EQ(Visits(FullRequest()), expected);
  EXPECT_TRUE(Visits(v1::ChatRequest()).empty());
}

TEST(Content, FieldPathOfEveryKind) {
  using K = FieldRef::Kind;
  EXPECT_EQ(FieldPath({K::kMessageContent, 2, 0}), "messages[2].content");
  EXPECT_EQ(FieldPath({K::kToolCallName, 1, 3}), "messages[1].tool_calls[3].name");
  EXPECT_EQ(FieldPath({K::kToolCallArguments, 1, 0}), "messages[1].tool_calls[0].arguments");
  EXPECT_EQ(FieldPath({K::kToolName, 4, 0}), "tools[4].name");
  EXPECT_EQ(FieldPath({K::kToolDescription, 0, 0}), "tools[0].description");
  EXPECT_EQ(FieldPath({K::kToolParameters, 7, 0}), "tools[7].parameters");
}

TEST(Content, MutableFieldAddressesTheVisitedStorage) {
  v1::ChatRequest r = FullRequest();
  std::vector<FieldRef> refs;
  const std::vector<Visit> visits = Visits(r, &refs);
  ASSERT_EQ(refs.size(), visits.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    std::string* field = MutableField(&r, refs[i]);
    ASSERT_NE(field, nullptr) << visits[i].first;
    EXPECT_EQ(*field, visits[i].second);
    *field = "#" + std::to_string(i);
  }
  // Every write landed in its own field.
  std::vector<Visit> after = Visits(r);
  ASSERT_EQ(after.size(), refs.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].first, visits[i].first);
    EXPECT_EQ(after[i].second, "#" + std::to_string(i));
  }
  // An empty field that exists is addressable too.
  std::string* empty_args = MutableField(&r, {FieldRef::Kind::kToolCallArguments, 1, 1});
  ASSERT_NE(empty_args, nullptr);
  EXPECT_EQ(empty_args, r.mutable_messages(1)->mutable_tool_calls(1)->mutable_arguments());
}

TEST(Content, MutableFieldRejectsAddressesOutsideTheRequest) {
  using K = FieldRef::Kind;
  v1::ChatRequest r = FullRequest();
  for (const FieldRef& ref : std::vector<FieldRef>{{K::kMessageContent, 3, 0},
                                                   {K::kMessageContent, -1, 0},
                                                   {K::kMessageContent, 0, 1},
                                                   {K::kToolCallName, 0, 0},
                                                   {K::kToolCallArguments, 1, 2},
                                                   {K::kToolCallName, 1, -1},
                                                   {K::kToolName, 2, 0},
                                                   {K::kToolDescription, 0, 1},
                                                   {K::kToolParameters, -1, 0}}) {
    EXPECT_EQ(MutableField(&r, ref), nullptr) << FieldPath(ref);
  }
  EXPECT_EQ(MutableField(nullptr, {K::kMessageContent, 0, 0}), nullptr);
}

TEST(Content, FieldRefOrderIsRequestOrder) {
  std::vector<FieldRef> refs;
  Visits(FullRequest(), &refs);
  std::vector<FieldRef> shuffled(refs.rbegin(), refs.rend());
  std::swap(shuffled[1], shuffled[4]);
  std::sort(shuffled.begin(), shuffled.end());
  EXPECT_EQ(shuffled, refs);
  using K = FieldRef::Kind;
  EXPECT_LT((FieldRef{K::kToolCallArguments, 0, 5}), (FieldRef{K::kMessageContent, 1, 0}));
  EXPECT_LT((FieldRef{K::kToolCallArguments, 0, 0}), (FieldRef{K::kToolCallName, 0, 1}));
  EXPECT_LT((FieldRef{K::kMessageContent, 9, 0}), (FieldRef{K::kToolName, 0, 0}));
}

// ---------------------------------------------------------------------------------------------
// Overlap resolution

Match M(std::string category, size_t begin, size_t end) {
  return Match{std::move(category), Level::kInternal, begin, end, 1.0f};
}

std::vector<std::pair<size_t, size_t>> Spans(const std::vector<Match>& matches,
                                             const std::vector<size_t>& kept) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i : kept) out.emplace_back(matches[i].begin, matches[i].end);
  return out;
}

using SpanList = std::vector<std::pair<size_t, size_t>>;

TEST(ResolveOverlaps, LongestWins) {
  const std::vector<Match> m = {M("a", 0, 5), M("b", 3, 10)};
  EXPECT_EQ(ResolveOverlaps(m), (std::vector<size_t>{1}));
}

TEST(ResolveOverlaps, ContainedSpanLoses) {
  const std::vector<Match> m = {M("a", 2, 4), M("b", 0, 10), M("c", 8, 9)};
  EXPECT_EQ(ResolveOverlaps(m), (std::vector<size_t>{1}));
}

TEST(ResolveOverlaps, HigherLevelWinsOverALongerSpan) {
  // "user:hunter2@db.example.com": the password inside what also looks like an address.
  std::vector<Match> m = {M("pii.email", 5, 27), M("secret.password", 5, 12)};
  m[0].level = Level::kConfidential;
  m[1].level = Level::kRestricted;
  EXPECT_EQ(ResolveOverlaps(m), (std::vector<size_t>{1}));
}

TEST(ResolveOverlaps, SameLevelAndLengthHigherConfidenceWins) {
  std::vector<Match> m = {M("secret.generic", 0, 8), M("secret.github_token", 0, 8)};
  m[0].confidence = 0.6f;
  m[1].confidence = 0.99f;
  EXPECT_EQ(ResolveOverlaps(m), (std::vector<size_t>{1}));
}

TEST(ResolveOverlaps, EqualLengthEarliestWins) {
  const std::vector<Match> m = {M("a", 2, 6), M("z", 0, 4)};
  EXPECT_EQ(ResolveOverlaps(m), (std::vector<size_t>{1}));
}

TEST(ResolveOverlaps, SameSpanCategoryNameThenPositionDecides) {
  const std::vector<Match> m = {M("pii.phone", 0, 4), M("pii.email", 0, 4)};
  EXPECT_EQ(ResolveOverlaps(m), (std::vector<size_t>{1}));
  const std::vector<Match> same = {M("x", 0, 4), M("x", 0, 4)};
  EXPECT_EQ(ResolveOverlaps(same), (std::vector<size_t>{0}));
}

TEST(ResolveOverlaps, AdjacentSpansBothKeptSortedByBegin) {
  const std::vector<Match> m = {M("b", 3, 6), M("a", 0, 3), M("c", 6, 7)};
  EXPECT_EQ(Spans(m, ResolveOverlaps(m)), (SpanList{{0, 3}, {3, 6}, {6, 7}}));
}

TEST(ResolveOverlaps, ChainKeepsTheLongestAndWhatDoesNotTouchIt) {
  // [3,8) is longest; [0,4) and [7,11) overlap it; [11,13) does not.
  const std::vector<Match> m = {M("a", 0, 4), M("b", 3, 8), M("c", 7, 11), M("d", 11, 13)};
  EXPECT_EQ(Spans(m, ResolveOverlaps(m)), (SpanList{{3, 8}, {11, 13}}));
}

TEST(ResolveOverlaps, EmptySpansDropped) {
  const std::vector<Match> m = {M("a", 3, 3), M("b", 5, 2)};
  EXPECT_TRUE(ResolveOverlaps(m).empty());
}

TEST(ResolveOverlaps, ResultIndependentOfInputOrder) {
  std::vector<Match> m = {M("a", 0, 4),   M("b", 3, 8),   M("c", 7, 11), M("d", 10, 20),
                          M("e", 19, 22), M("f", 21, 23), M("g", 30, 31)};
  const SpanList expected = Spans(m, ResolveOverlaps(m));
  EXPECT_EQ(expected, (SpanList{{3, 8}, {10, 20}, {21, 23}, {30, 31}}));
  std::sort(m.begin(), m.end(), [](const Match& a, const Match& b) { return a.begin > b.begin; });
  EXPECT_EQ(Spans(m, ResolveOverlaps(m)), expected);
}

// ---------------------------------------------------------------------------------------------
// Classifier

// Reports fixed spans (clipped to the text) for any text containing `trigger`.
class FakeDetector : public Detector {
 public:
  FakeDetector(std::string name, std::string trigger, std::vector<Match> matches)
      : name_(std::move(name)), trigger_(std::move(trigger)), matches_(std::move(matches)) {}
  std::string_view name() const override { return name_; }
  void Scan(std::string_view text, std::vector<Match>* out) const override {
    if (text.find(trigger_) == std::string_view::npos) return;
    for (const Match& m : matches_) out->push_back(m);
  }

 private:
  std::string name_;
  std::string trigger_;
  std::vector<Match> matches_;
};

v1::ChatRequest OneMessage(std::string content) {
  v1::ChatRequest r;
  auto* m = r.add_messages();
  m->set_role(v1::Message::USER);
  m->set_content(std::move(content));
  return r;
}

TEST(Classifier, OverlapsResolvedAcrossDetectors) {
  std::vector<std::unique_ptr<Detector>> detectors;
  detectors.push_back(std::make_unique<FakeDetector>(
      "short", "x", std::vector<Match>{{"cat.short", Level::kInternal, 0, 4, 0.5f}}));
  detectors.push_back(std::make_unique<FakeDetector>(
      "long", "x", std::vector<Match>{{"cat.long", Level::kInternal, 2, 9, 0.7f}}));
  detectors.push_back(std::make_unique<FakeDetector>(
      "same", "x", std::vector<Match>{{"cat.long", Level::kInternal, 2, 9, 0.7f}}));
  Classifier c(std::move(detectors));
  const Assessment a = c.Assess(OneMessage("x123456789"));
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_EQ(a.findings[0].category, "cat.long");  // same level: the longer span wins
  EXPECT_EQ(a.findings[0].detector, "long");      // same span and category: first detector
  EXPECT_EQ(a.findings[0].begin, 2u);
  EXPECT_EQ(a.findings[0].end, 9u);
  EXPECT_FLOAT_EQ(a.findings[0].confidence, 0.7f);
  EXPECT_EQ(a.level, Level::kInternal);
}

TEST(Classifier, OverlapWonByTheHigherLevelSoNothingSensitiveIsHidden) {
  std::vector<std::unique_ptr<Detector>> detectors;
  detectors.push_back(std::make_unique<FakeDetector>(
      "short", "x", std::vector<Match>{{"cat.short", Level::kRestricted, 0, 4, 0.5f}}));
  detectors.push_back(std::make_unique<FakeDetector>(
      "long", "x", std::vector<Match>{{"cat.long", Level::kInternal, 2, 9, 0.9f}}));
  Classifier c(std::move(detectors));
  const Assessment a = c.Assess(OneMessage("x123456789"));
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_EQ(a.findings[0].category, "cat.short");
  EXPECT_EQ(a.findings[0].begin, 0u);
  EXPECT_EQ(a.findings[0].end, 4u);
  EXPECT_EQ(a.level, Level::kRestricted);
}

TEST(Classifier, SpansOutsideTheFieldAreDropped) {
  std::vector<std::unique_ptr<Detector>> detectors;
  detectors.push_back(std::make_unique<FakeDetector>(
      "bad", "x", std::vector<Match>{{"cat.bad", Level::kRestricted, 0, 100, 1.0f}}));
  Classifier c(std::move(detectors));
  const Assessment a = c.Assess(OneMessage("x"));
  EXPECT_TRUE(a.findings.empty());
}

TEST(Classifier, DefaultFindsEmailsInEveryFieldKindInRequestOrder) {
  v1::ChatRequest r;
  auto* m0 = r.add_messages();
  m0->set_role(v1::Message::USER);
  m0->set_content("write to bob@example.org and carol@example.net");
  auto* m1 = r.add_messages();
  m1->set_role(v1::Message::ASSISTANT);
  auto* call = m1->add_tool_calls();
  call->set_name("send_mail");
  call->set_arguments("{\"to\":\"dave@corp.example.com\"}");
  auto* tool = r.add_tools();
  tool->set_name("send_mail");
  tool->set_description("Sends mail as ops@corp.example.com");
  tool->set_parameters("{\"type\":\"object\"}");

  auto classifier = Classifier::CreateDefault();
  const Assessment a = classifier->Assess(r);
  EXPECT_EQ(a.level, Level::kConfidential);
  v1::Assessment proto;
  ToProto(a, &proto);
  ASSERT_EQ(proto.findings_size(), 4);
  struct Expect {
    const char* location;
    uint32_t begin, end;
  };
  const Expect expected[] = {{"messages[0].content", 9, 24},
                             {"messages[0].content", 29, 46},
                             {"messages[1].tool_calls[0].arguments", 7, 28},
                             {"tools[0].description", 14, 34}};
  for (int i = 0; i < 4; ++i) {
    const v1::Finding& f = proto.findings(i);
    EXPECT_EQ(f.location(), expected[i].location) << i;
    EXPECT_EQ(f.begin(), expected[i].begin) << i;
    EXPECT_EQ(f.end(), expected[i].end) << i;
    EXPECT_EQ(f.category(), "pii.email");
    EXPECT_EQ(f.level(), "confidential");
    EXPECT_EQ(f.detector(), "email");
    EXPECT_FLOAT_EQ(f.confidence(), 0.95f);
  }
  EXPECT_EQ(proto.level(), "confidential");
  // The spans really are the addresses.
  EXPECT_EQ(r.messages(0).content().substr(9, 15), "bob@example.org");
  EXPECT_EQ(r.tools(0).description().substr(14, 20), "ops@corp.example.com");
}

TEST(Classifier, NoFindingsIsPublic) {
  auto classifier = Classifier::CreateDefault();
  const Assessment a = classifier->Assess(OneMessage("hello world, nothing here @ all"));
  EXPECT_TRUE(a.findings.empty());
  EXPECT_EQ(a.level, Level::kPublic);
  v1::Assessment proto;
  ToProto(a, &proto);
  EXPECT_EQ(proto.level(), "public");
}

TEST(Classifier, EstimatedTokensAreCeilOfBytesOverFour) {
  auto classifier = Classifier::CreateDefault();
  EXPECT_EQ(classifier->Assess(v1::ChatRequest()).estimated_tokens, 0u);
  EXPECT_EQ(classifier->Assess(OneMessage("abcd")).estimated_tokens, 1u);
  EXPECT_EQ(classifier->Assess(OneMessage("abcde")).estimated_tokens, 2u);
  v1::ChatRequest r = OneMessage("abcdefg");  // 7 bytes
  auto* t = r.add_tools();
  t->set_name("tool");                                    // 4
  t->set_parameters("{\"x\"}");                           // 5
  EXPECT_EQ(classifier->Assess(r).estimated_tokens, 4u);  // ceil(16 / 4)
}

TEST(Classifier, DifficultyCombinesTheDocumentedSignals) {
  EXPECT_FLOAT_EQ(LengthDifficulty(0), 0.0f);
  EXPECT_FLOAT_EQ(LengthDifficulty(kLengthSaturationTokens), 1.0f);
  EXPECT_FLOAT_EQ(LengthDifficulty(10 * kLengthSaturationTokens), 1.0f);
  EXPECT_NEAR(LengthDifficulty(181), std::log(182.0) / std::log(32769.0), 1e-6);
  float previous = 0.0f;
  for (uint32_t t : {1u, 10u, 100u, 1000u, 10000u}) {
    const float d = LengthDifficulty(t);
    EXPECT_GT(d, previous) << t;
    EXPECT_LT(d, 1.0f) << t;
    previous = d;
  }
  auto classifier = Classifier::CreateDefault();
  const Assessment a = classifier->Assess(OneMessage(std::string(400, 'x')));  // 100 tokens
  EXPECT_EQ(a.estimated_tokens, 100u);
  // Only the length signal fires on 400 x's; difficulty.h documents the combination.
  EXPECT_FLOAT_EQ(a.difficulty_signals.at("length"), LengthDifficulty(100));
  EXPECT_FLOAT_EQ(a.difficulty, CombineDifficulty(a.difficulty_signals));
  EXPECT_FLOAT_EQ(a.difficulty, 0.5f * LengthDifficulty(100));
}

// With custom terms, the difficulty words are found in the terms' pass over all fields; the
// signals must be those read from the user turns alone (every message when there is none),
// and a custom term that is also a difficulty word must take nothing from either side.
TEST(Classifier, DifficultyWithCustomTermsIsTheSameAsAlone) {
  ClassifierOptions options;
  TermList terms;
  terms.category = "custom.codename";
  terms.terms = {"design", "Next Gen", "compare notes"};
  options.term_lists.push_back(terms);
  auto created = Classifier::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  const Classifier& classifier = **created;

  using Role = v1::Message::Role;
  const std::vector<std::vector<std::pair<Role, std::string>>> conversations = {
      {{v1::Message::SYSTEM, "First, analyze. Then evaluate. Finally compare."},
       {v1::Message::USER, "Explain why the design fails, step by step."},
       {v1::Message::ASSISTANT, "Next, prove it. Then derive the complexity."},
       {v1::Message::USER, "What if we compare notes? Then what? Next Gen design."}},
      {{v1::Message::SYSTEM, "First prove it, then justify it."},
       {v1::Message::ASSISTANT, "Next, the algorithm; finally the trade-offs."}},
      {{v1::Message::USER, "then then then"}, {v1::Message::TOOL, "prove, analyze, design"}},
  };
  for (size_t c = 0; c < conversations.size(); ++c) {
    v1::ChatRequest request;
    for (const auto& [role, content] : conversations[c]) {
      auto* m = request.add_messages();
      m->set_role(role);
      m->set_content(content);
    }
    auto* call = request.mutable_messages(0)->add_tool_calls();
    call->set_name("design");
    call->set_arguments(R"({"step": "first then next"})");
    const Assessment a = classifier.Assess(request);
    EXPECT_EQ(a.difficulty_signals, DifficultySignals(request, a.estimated_tokens))
        << "conversation " << c;
    EXPECT_GT(a.difficulty_signals.at("multi_step"), 0.0f) << "conversation " << c;
    // The last has words only outside its user turn (a tool message, tool-call arguments).
    EXPECT_EQ(a.difficulty_signals.at("reasoning") > 0.0f, c < 2) << "conversation " << c;
  }
  // The custom term is found where it is a difficulty word too.
  v1::ChatRequest request;
  for (const char* text : {"Compare the design.", "A Next Gen plan."}) {
    auto* m = request.add_messages();
    m->set_role(v1::Message::USER);
    m->set_content(text);
  }
  const Assessment a = classifier.Assess(request);
  ASSERT_EQ(a.findings.size(), 2u);
  EXPECT_EQ(a.findings[0].category, "custom.codename");
  EXPECT_EQ(a.findings[0].begin, 12u);
  EXPECT_EQ(a.findings[1].begin, 2u);
  EXPECT_FLOAT_EQ(a.difficulty_signals.at("reasoning"), 0.75f);  // compare, design
}

TEST(Assessment, ToProtoCopiesEveryFieldAndClearsTheOutput) {
  Assessment a;
  a.level = Level::kRestricted;
  a.findings.push_back(Finding{"secret.token", Level::kRestricted,
                               FieldRef{FieldRef::Kind::kToolCallArguments, 3, 1}, 5, 12, "tok",
                               0.25f});
  a.difficulty = 0.5f;
  a.difficulty_signals = {{"length", 0.5f}, {"other", 0.25f}};
  a.estimated_tokens = 77;
  v1::Assessment proto;
  proto.add_findings()->set_category("stale");
  ToProto(a, &proto);
  EXPECT_EQ(proto.level(), "restricted");
  ASSERT_EQ(proto.findings_size(), 1);
  const v1::Finding& f = proto.findings(0);
  EXPECT_EQ(f.category(), "secret.token");
  EXPECT_EQ(f.level(), "restricted");
  EXPECT_EQ(f.location(), "messages[3].tool_calls[1].arguments");
  EXPECT_EQ(f.begin(), 5u);
  EXPECT_EQ(f.end(), 12u);
  EXPECT_EQ(f.detector(), "tok");
  EXPECT_FLOAT_EQ(f.confidence(), 0.25f);
  EXPECT_FLOAT_EQ(proto.difficulty(), 0.5f);
  ASSERT_EQ(proto.difficulty_signals_size(), 2);
  EXPECT_FLOAT_EQ(proto.difficulty_signals().at("other"), 0.25f);
  EXPECT_EQ(proto.estimated_tokens(), 77u);
}

}  // namespace
}  // namespace airlock::classifier
