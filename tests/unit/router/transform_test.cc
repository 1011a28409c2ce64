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
using namespace std::string_literals;

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

TEST(PseudonymMap, ReservedPlaceholdersAreSkipped) {
  PseudonymMap map;
  map.Reserve("<EMAIL_1>");
  map.Reserve("<EMAIL_3>");
  map.Reserve("<KEY_2>");
  EXPECT_EQ(map.PlaceholderFor("EMAIL", "a@b.cd"), "<EMAIL_2>");
  EXPECT_EQ(map.PlaceholderFor("EMAIL", "x@y.zw"), "<EMAIL_4>");
  EXPECT_EQ(map.PlaceholderFor("KEY", "k1"), "<KEY_1>");
  EXPECT_EQ(map.PlaceholderFor("KEY", "k2"), "<KEY_3>");
  EXPECT_EQ(map.Original("<EMAIL_1>"), nullptr);
}

TEST(PseudonymMap, SameValueSamePlaceholderNumberedPerLabel) {
  PseudonymMap map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.PlaceholderFor("EMAIL", "a@b.cd"), "<EMAIL_1>");
  EXPECT_EQ(map.PlaceholderFor("EMAIL", "x@y.zw"), "<EMAIL_2>");
  EXPECT_EQ(map.PlaceholderFor("EMAIL", "a@b.cd"), "<EMAIL_1>");
  EXPECT_EQ(map.PlaceholderFor("PHONE", "a@b.cd"), "<PHONE_1>");  // another label, another one
  EXPECT_EQ(map.PlaceholderFor("code-name", "Falcon"), "<CODE_NAME_1>");
  ASSERT_NE(map.Original("<EMAIL_2>"), nullptr);
  EXPECT_EQ(*map.Original("<EMAIL_2>"), "x@y.zw");
  EXPECT_EQ(*map.Original("<PHONE_1>"), "a@b.cd");
  EXPECT_EQ(map.Original("<EMAIL_3>"), nullptr);
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
  EXPECT_EQ(r.messages(0).content(), "Mail <EMAIL_1>, cc <EMAIL_2> and <EMAIL_1>.");
  EXPECT_EQ(r.messages(1).tool_calls(0).arguments(),
            "{\"to\":\"<EMAIL_2>\",\"from\":\"<EMAIL_3>\"}");
  EXPECT_EQ(r.tools(0).description(), "Sends as <EMAIL_4>.");
  EXPECT_TRUE(result.remaining.empty());
  EXPECT_EQ(result.remaining_level, Level::kPublic);
  ASSERT_EQ(result.pseudonyms.entries().size(), 4u);
  EXPECT_EQ(*result.pseudonyms.Original("<EMAIL_1>"), "bob@example.org");
  EXPECT_EQ(*result.pseudonyms.Original("<EMAIL_2>"), "alice.long.name@corp.example.com");
  EXPECT_EQ(*result.pseudonyms.Original("<EMAIL_3>"), "me@x.io");
  EXPECT_EQ(*result.pseudonyms.Original("<EMAIL_4>"), "ops@corp.example.com");
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

// A finding on messages[index].content at [begin, end).
Finding At(int index, size_t begin, size_t end, std::string category, Level level) {
  Finding f;
  f.category = std::move(category);
  f.level = level;
  f.field = FieldRef{FieldRef::Kind::kMessageContent, index, 0};
  f.begin = begin;
  f.end = end;
  f.detector = "test";
  return f;
}

// One message whose content holds an internal code name, a confidential e-mail address and a
// restricted key, with the hand-made assessment of it.
struct MixedLevels {
  v1::ChatRequest request;
  Assessment assessment;
};
MixedLevels MixedLevelRequest() {
  MixedLevels m;
  auto* msg = m.request.add_messages();
  msg->set_role(v1::Message::USER);
  //                 0         1         2         3         4         5
  //                 012345678901234567890123456789012345678901234567890123
  msg->set_content("Falcon: mail bob@example.org the key AKIA1234 and Falcon");
  m.assessment.findings = {At(0, 0, 6, "custom.codename", Level::kInternal),
                           At(0, 13, 28, "pii.email", Level::kConfidential),
                           At(0, 37, 45, "secret.aws_access_key", Level::kRestricted),
                           At(0, 50, 56, "custom.codename", Level::kInternal)};
  m.assessment.level = Level::kRestricted;
  return m;
}

TEST(ApplyTransformClearance, FindingsAtOrBelowClearancePassUnchanged) {
  MixedLevels m = MixedLevelRequest();
  v1::ChatRequest r = m.request;
  const TransformResult result =
      ApplyTransform(Transform::kPseudonymize, m.assessment, Level::kInternal, &r);
  EXPECT_EQ(r.messages(0).content(),
            "Falcon: mail <EMAIL_1> the key <AWS_ACCESS_KEY_1> and Falcon");
  ASSERT_EQ(result.remaining.size(), 2u);
  EXPECT_EQ(result.remaining[0].category, "custom.codename");
  EXPECT_EQ(result.remaining[0].begin, 0u);
  EXPECT_EQ(result.remaining[1].begin, 50u);  // spans are the assessment's
  EXPECT_EQ(result.remaining_level, Level::kInternal);
  EXPECT_EQ(result.pseudonyms.entries().size(), 2u);  // only rewritten values are numbered
  EXPECT_EQ(result.pseudonyms.Original("<CODENAME_1>"), nullptr);
  EXPECT_EQ(Restore(result.pseudonyms, r.messages(0).content()), m.request.messages(0).content());
}

TEST(ApplyTransformClearance, ConfidentialClearanceRewritesOnlyRestricted) {
  MixedLevels m = MixedLevelRequest();
  v1::ChatRequest r = m.request;
  const TransformResult result =
      ApplyTransform(Transform::kMask, m.assessment, Level::kConfidential, &r);
  EXPECT_EQ(r.messages(0).content(),
            "Falcon: mail bob@example.org the key [AWS_ACCESS_KEY] and Falcon");
  EXPECT_EQ(result.remaining.size(), 3u);
  EXPECT_EQ(result.remaining_level, Level::kConfidential);
}

TEST(ApplyTransformClearance, RestrictedClearanceRewritesNothing) {
  MixedLevels m = MixedLevelRequest();
  v1::ChatRequest r = m.request;
  const TransformResult result =
      ApplyTransform(Transform::kMask, m.assessment, Level::kRestricted, &r);
  EXPECT_EQ(r.SerializeAsString(), m.request.SerializeAsString());
  EXPECT_EQ(result.remaining.size(), 4u);
  EXPECT_EQ(result.remaining_level, Level::kRestricted);
}

TEST(ApplyTransformClearance, NoClearanceRewritesEverything) {
  MixedLevels m = MixedLevelRequest();
  v1::ChatRequest a = m.request;
  v1::ChatRequest b = m.request;
  const TransformResult ra =
      ApplyTransform(Transform::kPseudonymize, m.assessment, std::nullopt, &a);
  const TransformResult rb = ApplyTransform(Transform::kPseudonymize, m.assessment, &b);
  EXPECT_EQ(a.messages(0).content(),
            "<CODENAME_1>: mail <EMAIL_1> the key <AWS_ACCESS_KEY_1> and <CODENAME_1>");
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_TRUE(ra.remaining.empty());
  EXPECT_TRUE(rb.remaining.empty());
  EXPECT_EQ(ra.remaining_level, Level::kPublic);
  // Public clearance is the same as none for findings above public.
  v1::ChatRequest c = m.request;
  ApplyTransform(Transform::kPseudonymize, m.assessment, Level::kPublic, &c);
  EXPECT_EQ(c.SerializeAsString(), a.SerializeAsString());
}

TEST(ApplyTransformClearance, NoneKeepsEverythingWhateverTheClearance) {
  MixedLevels m = MixedLevelRequest();
  v1::ChatRequest r = m.request;
  const TransformResult result =
      ApplyTransform(Transform::kNone, m.assessment, Level::kInternal, &r);
  EXPECT_EQ(r.SerializeAsString(), m.request.SerializeAsString());
  EXPECT_EQ(result.remaining.size(), 4u);
  EXPECT_EQ(result.remaining_level, Level::kRestricted);
}

// Both transforms change the bytes of the findings only: the text between, before and after
// them (NUL bytes, invalid UTF-8, placeholder lookalikes) is copied byte for byte, adjacent
// findings included.
TEST(ApplyTransformBytes, TextOutsideFindingsIsByteIdentical) {
  const std::string before = "\xff\xfe\0<EMAIL_1>[x]\xc3"s;
  const std::string between = "\0\n \xe2\x82"s;
  const std::string after = "\xed\xa0\x80 tail <"s;
  const std::string value1 = "one@example.org", value2 = "two@example.org", value3 = "KEY0";
  std::string content = before + value1 + between + value2 + value3 + after;
  v1::ChatRequest request;
  auto* msg = request.add_messages();
  msg->set_role(v1::Message::USER);
  msg->set_content(content);
  Assessment a;
  size_t b1 = before.size(), e1 = b1 + value1.size();
  size_t b2 = e1 + between.size(), e2 = b2 + value2.size(), e3 = e2 + value3.size();
  a.findings = {At(0, b1, e1, "pii.email", Level::kConfidential),
                At(0, b2, e2, "pii.email", Level::kConfidential),
                At(0, e2, e3, "secret.key", Level::kRestricted)};  // adjacent to the previous
  a.level = Level::kRestricted;

  v1::ChatRequest masked = request;
  EXPECT_TRUE(ApplyTransform(Transform::kMask, a, &masked).remaining.empty());
  EXPECT_EQ(masked.messages(0).content(), before + "[EMAIL]" + between + "[EMAIL][KEY]" + after);

  v1::ChatRequest pseudo = request;
  const TransformResult result = ApplyTransform(Transform::kPseudonymize, a, &pseudo);
  EXPECT_TRUE(result.remaining.empty());
  // <EMAIL_1> is already in the text, so it is not handed out: restoring gives the text back.
  EXPECT_EQ(pseudo.messages(0).content(),
            before + "<EMAIL_2>" + between + "<EMAIL_3><KEY_1>" + after);
  EXPECT_EQ(result.pseudonyms.Original("<EMAIL_1>"), nullptr);
  EXPECT_EQ(Restore(result.pseudonyms, pseudo.messages(0).content()), content);
}

TEST(ApplyTransformBytes, EmptySpanOrOverlapFailsClosed) {
  v1::ChatRequest request;
  auto* msg = request.add_messages();
  msg->set_role(v1::Message::USER);
  msg->set_content("abcdefghij");
  Assessment a;
  a.findings = {At(0, 2, 2, "x.empty", Level::kRestricted), At(0, 2, 6, "x.a", Level::kInternal),
                At(0, 4, 8, "x.overlap", Level::kRestricted)};
  v1::ChatRequest r = request;
  const TransformResult result = ApplyTransform(Transform::kMask, a, &r);
  EXPECT_EQ(r.messages(0).content(), "ab[A]ghij");
  ASSERT_EQ(result.remaining.size(), 2u);
  EXPECT_EQ(result.remaining_level, Level::kRestricted);
}

TEST(Restore, ReplacesOnlyPlaceholdersOfTheMap) {
  PseudonymMap map;
  map.PlaceholderFor("EMAIL", "bob@example.org");
  map.PlaceholderFor("EMAIL", "alice@example.com");
  EXPECT_EQ(Restore(map, "to <EMAIL_1> and <EMAIL_2>"), "to bob@example.org and alice@example.com");
  EXPECT_EQ(Restore(map, "<EMAIL_1><EMAIL_1>"),
            "bob@example.org"
            "bob@example.org");
  EXPECT_EQ(Restore(map, "<<EMAIL_2>>"), "<alice@example.com>");
  EXPECT_EQ(Restore(map, "[<EMAIL_2>]"), "[alice@example.com]");
  // Lookalikes pass unchanged.
  for (std::string_view s : {"<EMAIL_3>", "<EMAIL_12>", "<EMAIL>", "<email_1>", "EMAIL_1>",
                             "<EMAIL_1", "< EMAIL_1>", "[EMAIL_1]", "<>", "<", ">", ""}) {
    EXPECT_EQ(Restore(map, s), s);
  }
  EXPECT_EQ(Restore(PseudonymMap(), "<EMAIL_1>"), "<EMAIL_1>");
}

// ---------------------------------------------------------------------------------------------
// StreamRestorer

PseudonymMap StreamMap() {
  PseudonymMap map;
  map.PlaceholderFor("EMAIL", "bob@example.org");       // <EMAIL_1>
  map.PlaceholderFor("EMAIL", "alice@example.com");     // <EMAIL_2>
  map.PlaceholderFor("AWS_ACCESS_KEY", "AKIAEXAMPLE");  // <AWS_ACCESS_KEY_1>
  return map;
}

const std::string kStreamText =
    "<EMAIL_1> wrote to <EMAIL_2> about <AWS_ACCESS_KEY_1>; <EMAIL is not <EMAIL_12> nor "
    "<x> but <<EMAIL_1>> is, and so is <EMAIL_2>";
const std::string kStreamRestored =
    "bob@example.org wrote to alice@example.com about AKIAEXAMPLE; <EMAIL is not <EMAIL_12> nor "
    "<x> but <bob@example.org> is, and so is alice@example.com";

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
  EXPECT_EQ(s.Push("<EM"), "");  // could still become <EMAIL_1>
  EXPECT_EQ(s.Push("AIL is"), "<EMAIL is");
  EXPECT_EQ(s.Push(" fine <EMAIL_1"), " fine ");
  EXPECT_EQ(s.Push("2>"), "<EMAIL_12>");  // not a placeholder of the map
  EXPECT_EQ(s.Push(" <EMAIL_"), " ");
  EXPECT_EQ(s.Finish(), "<EMAIL_");  // the stream ended: what was held goes out as it is
  EXPECT_EQ(s.Finish(), "");
}

TEST(StreamRestorer, EmptyOrNullMapPassesEverythingAtOnce) {
  const PseudonymMap empty;
  StreamRestorer s(&empty);
  EXPECT_EQ(s.Push("<EMAIL_"), "<EMAIL_");
  EXPECT_EQ(s.Finish(), "");
  StreamRestorer n(nullptr);
  EXPECT_EQ(n.Push("<EMAIL_1>"), "<EMAIL_1>");
  EXPECT_EQ(n.Finish(), "");
}

// ---------------------------------------------------------------------------------------------
// Mangled placeholders

PseudonymMap MangleMap() {
  PseudonymMap map;
  map.PlaceholderFor("EMAIL", "bob@example.org");       // <EMAIL_1>
  map.PlaceholderFor("EMAIL", "alice@example.com");     // <EMAIL_2>
  map.PlaceholderFor("AWS_ACCESS_KEY", "AKIAEXAMPLE");  // <AWS_ACCESS_KEY_1>
  return map;
}

std::vector<std::string> MangledTexts(const MangledReport& report) {
  std::vector<std::string> out;
  for (const MangledPlaceholder& m : report.runs) out.push_back(m.text);
  return out;
}

TEST(FindMangledPlaceholders, ReportsTheFormsOfTheRule) {
  const PseudonymMap map = MangleMap();
  for (std::string_view s :
       {"<EMAIL 1>", "<email_1>", "EMAIL_1>", "<EMAIL_1", "<EMAIL_7>", "[EMAIL_1]", "<EMAIL1>",
        "<EMAIL>", "<EMAIL_>", "EMAIL_1", "<Email-2]", "[aws access key 1]", "<AWS-ACCESS-KEY_1>",
        "AWS_ACCESS_KEY_9", "<EMAIL_123456789>"}) {
    const MangledReport r = FindMangledPlaceholders(map, s);
    EXPECT_EQ(r.count, 1u) << s;
    EXPECT_EQ(MangledTexts(r), std::vector<std::string>{std::string(s)}) << s;
    EXPECT_EQ(Restore(map, s), s) << "a mangled placeholder is left as it is: " << s;
  }
}

TEST(FindMangledPlaceholders, IgnoresOrdinaryText) {
  const PseudonymMap map = MangleMap();
  for (std::string_view s :
       {"<EMAIL_1>", "<AWS_ACCESS_KEY_1>", "EMAILS", "email me", "Email 1 is here", "<email>",
        "[EMAIL]", "[EMAIL", "xEMAIL_1>", "EMAIL_1x", "EMAIL_1_", "<EMAIL_1234567890>", "<PHONE_1>",
        "", "<", "<>", "e", "mailto:<address>"}) {
    EXPECT_EQ(FindMangledPlaceholders(map, s).count, 0u) << s;
  }
  EXPECT_EQ(FindMangledPlaceholders(PseudonymMap(), "<EMAIL 1> [EMAIL_1]").count, 0u);
}

TEST(FindMangledPlaceholders, OffsetsInTextOrderAndExactOnesSkipped) {
  const PseudonymMap map = MangleMap();
  const std::string text = "a <EMAIL_1> b <EMAIL 1> c <<EMAIL_2> d [EMAIL_2]<EMAIL_1";
  const MangledReport r = FindMangledPlaceholders(map, text);
  ASSERT_EQ(r.count, 3u);
  EXPECT_EQ(r.runs[0].offset, text.find("<EMAIL 1>"));
  EXPECT_EQ(r.runs[0].text, "<EMAIL 1>");
  EXPECT_EQ(r.runs[1].offset, text.find("[EMAIL_2]"));
  EXPECT_EQ(r.runs[2].offset, text.rfind("<EMAIL_1"));
  EXPECT_EQ(r.runs[2].text, "<EMAIL_1");
  // Restore reports the same and still restores exact ones.
  MangledReport via_restore;
  EXPECT_EQ(Restore(map, text, &via_restore),
            "a bob@example.org b <EMAIL 1> c <alice@example.com d [EMAIL_2]<EMAIL_1");
  EXPECT_EQ(via_restore.count, 3u);
  EXPECT_EQ(MangledTexts(via_restore), MangledTexts(r));
}

TEST(FindMangledPlaceholders, CountsAllListsAtMostKMaxListed) {
  const PseudonymMap map = MangleMap();
  std::string text;
  for (size_t i = 0; i < MangledReport::kMaxListed + 10; ++i) text += "<EMAIL 1> ";
  const MangledReport r = FindMangledPlaceholders(map, text);
  EXPECT_EQ(r.count, MangledReport::kMaxListed + 10);
  EXPECT_EQ(r.runs.size(), MangledReport::kMaxListed);
}

const std::string kMangledStream =
    "Dear <EMAIL 1>, <EMAIL_1> and EMAIL_2> wrote [AWS_ACCESS_KEY_1] to <email_2>; "
    "<EMAIL_7><EMAIL_1 xEMAIL_1 <EMAIL> EMAIL_2";

TEST(StreamRestorer, MangledDetectionDoesNotDependOnChunking) {
  const PseudonymMap map = MangleMap();
  const MangledReport whole = FindMangledPlaceholders(map, kMangledStream);
  ASSERT_EQ(whole.count, 8u);
  const std::string_view text(kMangledStream);
  for (size_t i = 0; i <= text.size(); ++i) {
    for (size_t j = i; j <= text.size(); j += 3) {
      StreamRestorer s(&map);
      std::string out = s.Push(text.substr(0, i));
      out += s.Push(text.substr(i, j - i));
      out += s.Push(text.substr(j));
      out += s.Finish();
      ASSERT_EQ(out, Restore(map, text)) << i << ", " << j;
      ASSERT_EQ(s.mangled().count, whole.count) << i << ", " << j;
      for (size_t k = 0; k < whole.runs.size(); ++k) {
        ASSERT_EQ(s.mangled().runs[k].offset, whole.runs[k].offset) << i << ", " << j;
        ASSERT_EQ(s.mangled().runs[k].text, whole.runs[k].text) << i << ", " << j;
      }
    }
  }
}

TEST(StreamRestorer, ByteAtATimeFindsTheSameMangledRuns) {
  const PseudonymMap map = MangleMap();
  StreamRestorer s(&map);
  for (char c : kMangledStream) s.Push(std::string_view(&c, 1));
  s.Finish();
  EXPECT_EQ(MangledTexts(s.mangled()), MangledTexts(FindMangledPlaceholders(map, kMangledStream)));
}

TEST(RestoreResponse, RestoresContentAndToolCalls) {
  const PseudonymMap map = MangleMap();
  v1::ChatResponse response;
  response.set_content("Sent to <EMAIL_1>, not <EMAIL 2>.");
  auto* call = response.add_tool_calls();
  call->set_id("call_1");
  call->set_name("send_<EMAIL_2>");
  call->set_arguments("{\"to\":\"<EMAIL_2>\",\"key\":\"<AWS_ACCESS_KEY_1>\",\"cc\":\"[EMAIL_1]\"}");
  response.set_finish_reason("tool_calls");
  EXPECT_EQ(RestoreResponse(map, &response), 2u);
  EXPECT_EQ(response.content(), "Sent to bob@example.org, not <EMAIL 2>.");
  EXPECT_EQ(response.tool_calls(0).id(), "call_1");
  EXPECT_EQ(response.tool_calls(0).name(), "send_alice@example.com");
  EXPECT_EQ(response.tool_calls(0).arguments(),
            "{\"to\":\"alice@example.com\",\"key\":\"AKIAEXAMPLE\",\"cc\":\"[EMAIL_1]\"}");
  EXPECT_EQ(response.finish_reason(), "tool_calls");
  v1::ChatResponse untouched = response;
  EXPECT_EQ(RestoreResponse(PseudonymMap(), &untouched), 0u);
  EXPECT_EQ(untouched.SerializeAsString(), response.SerializeAsString());
}

}  // namespace
}  // namespace airlock::router
