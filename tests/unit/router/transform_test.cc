#include "router/transform.h"

#include <string>
#include <vector>

#include "classifier/classifier.h"
#include "gtest/gtest.h"

namespace airlock::router {
namespace {

using classifier::Assessment;
using classifier::FieldRef;
using classifier::Finding;
using classifier::Level;

TEST(TransformName, RoundTrip) {
  for (Transform t : {Transform::kNone, Transform::kMask, Transform::kPseudonymize}) {
    ASSERT_TRUE(ParseTransform(TransformName(t)).has_value());
    EXPECT_EQ(*ParseTransform(TransformName(t)), t);
  }
  EXPECT_EQ(TransformName(Transform::kPseudonymize), "pseudonymize");
  EXPECT_FALSE(ParseTransform("Mask").has_value());
  EXPECT_FALSE(ParseTransform("").has_value());
}

TEST(PlaceholderLabel, LastComponentUpperCasedAndSanitised) {
  EXPECT_EQ(PlaceholderLabel("pii.email"), "EMAIL");
  EXPECT_EQ(PlaceholderLabel("secret.aws_access_key"), "AWS_ACCESS_KEY");
  EXPECT_EQ(PlaceholderLabel("custom.code-name"), "CODE_NAME");
  EXPECT_EQ(PlaceholderLabel("weird.a[b]"), "A_B_");
  EXPECT_EQ(PlaceholderLabel("plain"), "PLAIN");
  EXPECT_EQ(PlaceholderLabel("x."), "REDACTED");
}

TEST(PseudonymMap, SameValueSamePlaceholderNumberedPerLabel) {
  PseudonymMap map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.PlaceholderFor("EMAIL", "a@b.cd"), "[EMAIL_1]");
  EXPECT_EQ(map.PlaceholderFor("EMAIL", "x@y.zw"), "[EMAIL_2]");
  EXPECT_EQ(map.PlaceholderFor("EMAIL", "a@b.cd"), "[EMAIL_1]");
  EXPECT_EQ(map.PlaceholderFor("PHONE", "a@b.cd"), "[PHONE_1]");  // another label, another one
  EXPECT_EQ(map.PlaceholderFor("code-name", "Falcon"), "[CODE_NAME_1]");
  ASSERT_NE(map.Original("[EMAIL_2]"), nullptr);
  EXPECT_EQ(*map.Original("[EMAIL_2]"), "x@y.zw");
  EXPECT_EQ(*map.Original("[PHONE_1]"), "a@b.cd");
  EXPECT_EQ(map.Original("[EMAIL_3]"), nullptr);
  EXPECT_EQ(map.Original("EMAIL_1"), nullptr);
  EXPECT_EQ(map.entries().size(), 4u);
  EXPECT_FALSE(map.empty());
}

// A request with e-mail addresses in message content (twice the same address), tool-call
// arguments and a tool description.
v1::ChatRequest MailRequest() {
  v1::ChatRequest r;
  auto* m0 = r.add_messages();
  m0->set_role(v1::Message::USER);
  m0->set_content("Mail bob@example.org, cc alice.long.name@corp.example.com and bob@example.org.");
  auto* m1 = r.add_messages();
  m1->set_role(v1::Message::ASSISTANT);
  auto* call = m1->add_tool_calls();
  call->set_id("c1");
  call->set_name("send_mail");
  call->set_arguments("{\"to\":\"alice.long.name@corp.example.com\",\"from\":\"me@x.io\"}");
  auto* tool = r.add_tools();
  tool->set_name("send_mail");
  tool->set_description("Sends as ops@corp.example.com.");
  tool->set_parameters("{\"type\":\"object\"}");
  return r;
}

class TransformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    request_ = MailRequest();
    assessment_ = classifier::Classifier::CreateDefault()->Assess(request_);
    ASSERT_EQ(assessment_.findings.size(), 6u);
    ASSERT_EQ(assessment_.level, Level::kConfidential);
  }
  v1::ChatRequest request_;
  Assessment assessment_;
};

TEST_F(TransformTest, NoneLeavesTheRequestAndEveryFinding) {
  v1::ChatRequest r = request_;
  const TransformResult result = ApplyTransform(Transform::kNone, assessment_, &r);
  EXPECT_EQ(r.SerializeAsString(), request_.SerializeAsString());
  ASSERT_EQ(result.remaining.size(), assessment_.findings.size());
  for (size_t i = 0; i < result.remaining.size(); ++i) {
    EXPECT_EQ(result.remaining[i].field, assessment_.findings[i].field);
    EXPECT_EQ(result.remaining[i].begin, assessment_.findings[i].begin);
  }
  EXPECT_EQ(result.remaining_level, Level::kConfidential);
  EXPECT_TRUE(result.pseudonyms.empty());
}

TEST_F(TransformTest, MaskReplacesEveryFindingIrreversibly) {
  v1::ChatRequest r = request_;
  const TransformResult result = ApplyTransform(Transform::kMask, assessment_, &r);
  EXPECT_EQ(r.messages(0).content(), "Mail [EMAIL], cc [EMAIL] and [EMAIL].");
  EXPECT_EQ(r.messages(1).tool_calls(0).arguments(), "{\"to\":\"[EMAIL]\",\"from\":\"[EMAIL]\"}");
  EXPECT_EQ(r.messages(1).tool_calls(0).name(), "send_mail");
  EXPECT_EQ(r.tools(0).description(), "Sends as [EMAIL].");
  EXPECT_EQ(r.tools(0).parameters(), "{\"type\":\"object\"}");
  EXPECT_TRUE(result.remaining.empty());
  EXPECT_EQ(result.remaining_level, Level::kPublic);
  EXPECT_TRUE(result.pseudonyms.empty());
  // Nothing is left for the classifier to find.
  EXPECT_TRUE(classifier::Classifier::CreateDefault()->Assess(r).findings.empty());
}

TEST_F(TransformTest, PseudonymizeIsConsistentAndRestorable) {
  v1::ChatRequest r = request_;
  const TransformResult result = ApplyTransform(Transform::kPseudonymize, assessment_, &r);
  EXPECT_EQ(r.messages(0).content(), "Mail [EMAIL_1], cc [EMAIL_2] and [EMAIL_1].");
  EXPECT_EQ(r.messages(1).tool_calls(0).arguments(),
            "{\"to\":\"[EMAIL_2]\",\"from\":\"[EMAIL_3]\"}");
  EXPECT_EQ(r.tools(0).description(), "Sends as [EMAIL_4].");
  EXPECT_TRUE(result.remaining.empty());
  EXPECT_EQ(result.remaining_level, Level::kPublic);
  ASSERT_EQ(result.pseudonyms.entries().size(), 4u);
  EXPECT_EQ(*result.pseudonyms.Original("[EMAIL_1]"), "bob@example.org");
  EXPECT_EQ(*result.pseudonyms.Original("[EMAIL_2]"), "alice.long.name@corp.example.com");
  EXPECT_EQ(*result.pseudonyms.Original("[EMAIL_3]"), "me@x.io");
  EXPECT_EQ(*result.pseudonyms.Original("[EMAIL_4]"), "ops@corp.example.com");
  // Restoring every field gives back the original request.
  classifier::ForEachField(r, [&](const FieldRef& ref, std::string_view) {
    std::string* field = classifier::MutableField(&r, ref);
    *field = Restore(result.pseudonyms, *field);
  });
  EXPECT_EQ(r.SerializeAsString(), request_.SerializeAsString());
}

TEST_F(TransformTest, FindingThatCannotBeAppliedStaysRemaining) {
  // A stale assessment: one finding points past its field, one at a field that is not there.
  Assessment stale = assessment_;
  stale.findings[0].end = 10000;
  Finding ghost = assessment_.findings[0];
  ghost.field = FieldRef{FieldRef::Kind::kMessageContent, 7, 0};
  ghost.level = Level::kRestricted;
  stale.findings.push_back(ghost);
  v1::ChatRequest r = request_;
  const TransformResult result = ApplyTransform(Transform::kMask, stale, &r);
  ASSERT_EQ(result.remaining.size(), 2u);
  EXPECT_EQ(result.remaining[0].end, 10000u);
  EXPECT_EQ(result.remaining[1].field.index, 7);
  EXPECT_EQ(result.remaining_level, Level::kRestricted);
  // The others were still masked; the bad one's text is untouched.
  EXPECT_EQ(r.messages(0).content(), "Mail bob@example.org, cc [EMAIL] and [EMAIL].");
}

TEST_F(TransformTest, LevelNotAccountedForByFindingsRemains) {
  Assessment a = assessment_;
  a.level = Level::kRestricted;  // e.g. raised by a model stage without a span
  v1::ChatRequest r = request_;
  EXPECT_EQ(ApplyTransform(Transform::kPseudonymize, a, &r).remaining_level, Level::kRestricted);
  v1::ChatRequest r2 = request_;
  EXPECT_EQ(ApplyTransform(Transform::kMask, assessment_, &r2).remaining_level, Level::kPublic);
}

TEST(Restore, ReplacesOnlyPlaceholdersOfTheMap) {
  PseudonymMap map;
  map.PlaceholderFor("EMAIL", "bob@example.org");
  map.PlaceholderFor("EMAIL", "alice@example.com");
  EXPECT_EQ(Restore(map, "to [EMAIL_1] and [EMAIL_2]"), "to bob@example.org and alice@example.com");
  EXPECT_EQ(Restore(map, "[EMAIL_1][EMAIL_1]"),
            "bob@example.org"
            "bob@example.org");
  EXPECT_EQ(Restore(map, "[[EMAIL_2]]"), "[alice@example.com]");
  // Lookalikes pass unchanged.
  for (std::string_view s : {"[EMAIL_3]", "[EMAIL_12]", "[EMAIL]", "[email_1]", "EMAIL_1]",
                             "[EMAIL_1", "[ EMAIL_1]", "[]", "[", "]", ""}) {
    EXPECT_EQ(Restore(map, s), s);
  }
  EXPECT_EQ(Restore(PseudonymMap(), "[EMAIL_1]"), "[EMAIL_1]");
}

// ---------------------------------------------------------------------------------------------
// StreamRestorer

PseudonymMap StreamMap() {
  PseudonymMap map;
  map.PlaceholderFor("EMAIL", "bob@example.org");       // [EMAIL_1]
  map.PlaceholderFor("EMAIL", "alice@example.com");     // [EMAIL_2]
  map.PlaceholderFor("AWS_ACCESS_KEY", "AKIAEXAMPLE");  // [AWS_ACCESS_KEY_1]
  return map;
}

const std::string kStreamText =
    "[EMAIL_1] wrote to [EMAIL_2] about [AWS_ACCESS_KEY_1]; [EMAIL is not [EMAIL_12] nor "
    "[x] but [[EMAIL_1]] is, and so is [EMAIL_2]";
const std::string kStreamRestored =
    "bob@example.org wrote to alice@example.com about AKIAEXAMPLE; [EMAIL is not [EMAIL_12] nor "
    "[x] but [bob@example.org] is, and so is alice@example.com";

// Length of the longest suffix of text that is a proper prefix of a placeholder in map.
size_t LongestHeldSuffix(const PseudonymMap& map, std::string_view text) {
  size_t best = 0;
  for (const auto& [placeholder, value] : map.entries()) {
    for (size_t n = 1; n < placeholder.size() && n <= text.size(); ++n) {
      if (text.substr(text.size() - n) == std::string_view(placeholder).substr(0, n)) {
        best = std::max(best, n);
      }
    }
  }
  return best;
}

TEST(StreamRestorer, WholeTextMatchesRestore) {
  const PseudonymMap map = StreamMap();
  ASSERT_EQ(Restore(map, kStreamText), kStreamRestored);
  StreamRestorer s(&map);
  std::string out = s.Push(kStreamText);
  out += s.Finish();
  EXPECT_EQ(out, kStreamRestored);
}

TEST(StreamRestorer, SplitAtEveryByteOffset) {
  const PseudonymMap map = StreamMap();
  for (size_t k = 0; k <= kStreamText.size(); ++k) {
    StreamRestorer s(&map);
    const std::string_view text(kStreamText);
    std::string out = s.Push(text.substr(0, k));
    // Output is delayed no more than needed: only the longest placeholder-prefix suffix of
    // what was pushed is held back.
    const size_t held = LongestHeldSuffix(map, text.substr(0, k));
    EXPECT_EQ(out, Restore(map, text.substr(0, k - held))) << "split at " << k;
    out += s.Push(text.substr(k));
    out += s.Finish();
    EXPECT_EQ(out, kStreamRestored) << "split at " << k;
  }
}

TEST(StreamRestorer, SplitAtEveryPairOfOffsets) {
  const PseudonymMap map = StreamMap();
  const std::string_view text(kStreamText);
  for (size_t i = 0; i <= text.size(); ++i) {
    for (size_t j = i; j <= text.size(); ++j) {
      StreamRestorer s(&map);
      std::string out = s.Push(text.substr(0, i));
      out += s.Push(text.substr(i, j - i));
      out += s.Push(text.substr(j));
      out += s.Finish();
      ASSERT_EQ(out, kStreamRestored) << "splits at " << i << ", " << j;
    }
  }
}

TEST(StreamRestorer, ByteAtATimeNeverHoldsMoreThanNeeded) {
  const PseudonymMap map = StreamMap();
  const std::string_view text(kStreamText);
  StreamRestorer s(&map);
  std::string out;
  for (size_t k = 1; k <= text.size(); ++k) {
    out += s.Push(text.substr(k - 1, 1));
    const size_t held = LongestHeldSuffix(map, text.substr(0, k));
    ASSERT_EQ(out, Restore(map, text.substr(0, k - held))) << "after byte " << k;
  }
  out += s.Finish();
  EXPECT_EQ(out, kStreamRestored);
}

TEST(StreamRestorer, PlaceholderLookalikePrefixPassesThroughUnchanged) {
  const PseudonymMap map = StreamMap();
  StreamRestorer s(&map);
  EXPECT_EQ(s.Push("[EM"), "");  // could still become [EMAIL_1]
  EXPECT_EQ(s.Push("AIL is"), "[EMAIL is");
  EXPECT_EQ(s.Push(" fine [EMAIL_1"), " fine ");
  EXPECT_EQ(s.Push("2]"), "[EMAIL_12]");  // not a placeholder of the map
  EXPECT_EQ(s.Push(" [EMAIL_"), " ");
  EXPECT_EQ(s.Finish(), "[EMAIL_");  // the stream ended: what was held goes out as it is
  EXPECT_EQ(s.Finish(), "");
}

TEST(StreamRestorer, EmptyOrNullMapPassesEverythingAtOnce) {
  const PseudonymMap empty;
  StreamRestorer s(&empty);
  EXPECT_EQ(s.Push("[EMAIL_"), "[EMAIL_");
  EXPECT_EQ(s.Finish(), "");
  StreamRestorer n(nullptr);
  EXPECT_EQ(n.Push("[EMAIL_1]"), "[EMAIL_1]");
  EXPECT_EQ(n.Finish(), "");
}

}  // namespace
}  // namespace airlock::router
