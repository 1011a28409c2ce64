// Classifier::Create: custom patterns and term lists next to the built-in rules, and level
// overrides by category glob.
#include <memory>
#include <string>
#include <vector>

#include "classifier/category.h"
#include "classifier/classifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

using ::testing::HasSubstr;

v1::ChatRequest UserSays(const std::string& text) {
  v1::ChatRequest r;
  auto* m = r.add_messages();
  m->set_role(v1::Message::USER);
  m->set_content(text);
  return r;
}

ClassifierOptions CustomOptions() {
  ClassifierOptions o;
  PatternRule p;
  p.name = "customer_id";
  p.category = "custom.customer_id";
  p.level = Level::kRestricted;
  p.pattern = "CUST-[0-9]{8}";
  o.custom_patterns.push_back(p);
  TermList t;
  t.category = "custom.project";
  t.level = Level::kInternal;
  t.terms = {"Apollo", "Project Nightingale"};
  o.term_lists.push_back(t);
  return o;
}

TEST(ClassifierCreate, CustomPatternsAndTermsNextToBuiltIns) {
  auto c = Classifier::Create(CustomOptions());
  ASSERT_TRUE(c.ok()) << c.status();
  const Assessment a = (*c)->Assess(UserSays("apollo for CUST-12345678, mail bob@example.org"));
  ASSERT_EQ(a.findings.size(), 3u);
  EXPECT_EQ(a.findings[0].category, "custom.project");
  EXPECT_EQ(a.findings[0].level, Level::kInternal);
  EXPECT_EQ(a.findings[0].detector, "terms");
  EXPECT_EQ(a.findings[0].begin, 0u);
  EXPECT_EQ(a.findings[0].end, 6u);
  EXPECT_EQ(a.findings[1].category, "custom.customer_id");
  EXPECT_EQ(a.findings[1].detector, "customer_id");
  EXPECT_EQ(a.findings[2].category, "pii.email");
  EXPECT_EQ(a.level, Level::kRestricted);
}

TEST(ClassifierCreate, DefaultHasNoCustomDetectors) {
  auto c = Classifier::CreateDefault();
  const Assessment a = c->Assess(UserSays("apollo for CUST-12345678"));
  for (const Finding& f : a.findings) EXPECT_NE(f.category.rfind("custom.", 0), 0u);
}

TEST(ClassifierCreate, BadCustomPatternOrTermListIsAnError) {
  ClassifierOptions bad_pattern = CustomOptions();
  bad_pattern.custom_patterns[0].pattern = "CUST-(";
  auto c = Classifier::Create(bad_pattern);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("customer_id"));

  ClassifierOptions empty_term = CustomOptions();
  empty_term.term_lists[0].terms.push_back("");
  c = Classifier::Create(empty_term);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("custom.project"));

  ClassifierOptions bad_glob = CustomOptions();
  bad_glob.level_overrides.push_back({"Secret.*", Level::kPublic});
  c = Classifier::Create(bad_glob);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("level override 'Secret.*'"));
}

TEST(ClassifierCreate, LevelOverridesReplaceTheLevelOfMatchingFindings) {
  ClassifierOptions o = CustomOptions();
  o.level_overrides = {{"pii.email", Level::kInternal}, {"custom.*", Level::kConfidential}};
  auto c = Classifier::Create(o);
  ASSERT_TRUE(c.ok()) << c.status();
  const Assessment a = (*c)->Assess(UserSays("apollo, bob@example.org"));
  ASSERT_EQ(a.findings.size(), 2u);
  EXPECT_EQ(a.findings[0].level, Level::kConfidential);  // custom.* raised internal
  EXPECT_EQ(a.findings[1].level, Level::kInternal);      // pii.email lowered
  EXPECT_EQ(a.level, Level::kConfidential);
}

TEST(ClassifierCreate, MostSpecificOverrideWinsThenTheLaterOne) {
  ClassifierOptions o;
  o.level_overrides = {{"pii.email", Level::kRestricted},
                       {"*", Level::kPublic},
                       {"pii.*", Level::kInternal},
                       {"*.email", Level::kConfidential}};
  auto c = Classifier::Create(o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->EffectiveLevel("pii.email", Level::kPublic), Level::kRestricted);  // exact
  EXPECT_EQ((*c)->EffectiveLevel("pii.phone", Level::kRestricted), Level::kInternal);
  EXPECT_EQ((*c)->EffectiveLevel("work.email", Level::kRestricted), Level::kConfidential);
  EXPECT_EQ((*c)->EffectiveLevel("secret.jwt", Level::kRestricted), Level::kPublic);

  ClassifierOptions ties;
  ties.level_overrides = {
      {"pii.*", Level::kInternal}, {"*.ssn", Level::kRestricted}, {"pii.*", Level::kConfidential}};
  c = Classifier::Create(ties);
  ASSERT_TRUE(c.ok());
  // "pii.*" (4 literal characters) beats "*.ssn" (4) only by coming later.
  EXPECT_EQ((*c)->EffectiveLevel("pii.ssn", Level::kPublic), Level::kConfidential);
  EXPECT_EQ((*c)->EffectiveLevel("other.thing", Level::kInternal), Level::kInternal);
}

TEST(Category, Names) {
  for (const char* ok :
       {"pii.email", "secret.aws_access_key", "custom.project", "a.b.c", "custom.x-2"}) {
    EXPECT_TRUE(IsValidCategory(ok)) << ok;
  }
  for (const char* bad :
       {"", "pii", "Pii.email", "pii.", ".email", "pii..email", "pii.1x", "pii.e mail", "pii.*"}) {
    EXPECT_FALSE(IsValidCategory(bad)) << bad;
  }
}

TEST(Category, Globs) {
  EXPECT_TRUE(ValidateCategoryGlob("*").ok());
  EXPECT_TRUE(ValidateCategoryGlob("secret.*").ok());
  EXPECT_TRUE(ValidateCategoryGlob("pii.email").ok());
  EXPECT_THAT(ValidateCategoryGlob("").message(), HasSubstr("empty"));
  EXPECT_THAT(ValidateCategoryGlob("pii.e?ail").message(), HasSubstr("'?' at offset 5"));
  EXPECT_THAT(ValidateCategoryGlob("PII").message(), HasSubstr("'P' at offset 0"));
  EXPECT_THAT(ValidateCategoryGlob("email").message(), HasSubstr("is not a category"));

  EXPECT_TRUE(CategoryGlobMatches("*", "pii.email"));
  EXPECT_TRUE(CategoryGlobMatches("secret.*", "secret.aws.key"));
  EXPECT_FALSE(CategoryGlobMatches("secret.*", "secret"));
  EXPECT_FALSE(CategoryGlobMatches("secret.*", "secrets.x"));
  EXPECT_TRUE(CategoryGlobMatches("*.email", "pii.email"));
  EXPECT_TRUE(CategoryGlobMatches("p*.e*l", "pii.email"));
  EXPECT_FALSE(CategoryGlobMatches("pii.email", "pii.emails"));
  EXPECT_TRUE(CategoryGlobMatches("pii.email*", "pii.email"));
  EXPECT_EQ(CategoryGlobSpecificity("*"), 0);
  EXPECT_EQ(CategoryGlobSpecificity("pii.*"), 4);
}

}  // namespace
}  // namespace airlock::classifier
