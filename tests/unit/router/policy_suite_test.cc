// PolicySuite: test files parse with file:line:column errors, and running them checks every
// expectation against the decision and counts which rules the cases reach.
#include "router/policy_suite.h"

#include <string>

#include "gtest/gtest.h"

namespace airlock::router {
namespace {

constexpr char kPolicy[] = R"(version: 1
detectors:
  - { category: custom.project, level: confidential, terms: [Apollo] }
rules:
  - id: research-denied
    when: { principal: { tenant: research } }
    then: { deny: "research may not use this gateway" }
  - id: confidential-on-prem
    when: { level_at_least: confidential }
    then: { route: onprem, fallbacks: [nano] }
  - id: search-tool
    when: { tools: { any: [search] } }
    then: { route: nano }
  - id: never-tested
    when: { labels: { mode: batch } }
    then: { route: nano }
default: { route: frontier, transform: pseudonymize }
)";

std::shared_ptr<const Policy> P() {
  auto p = ParsePolicy(kPolicy, "p.yaml", {"onprem", "nano", "frontier"});
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

PolicySuite Suite(const std::string& text) {
  auto s = ParsePolicySuite(text, "p_test.yaml");
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : PolicySuite{};
}

std::string Error(const std::string& text) {
  auto s = ParsePolicySuite(text, "p_test.yaml");
  EXPECT_FALSE(s.ok());
  return s.ok() ? "" : std::string(s.status().message());
}

TEST(PolicySuite, PassingCasesAndCoverage) {
  const PolicySuite suite = Suite(R"(version: 1
cases:
  - name: code name is confidential
    text: "status of Apollo?"
    expect: { rule: confidential-on-prem, route: onprem, fallbacks: [nano], transform: none,
              level: confidential, deny: false }
  - name: research is denied
    text: "hello"
    principal: { tenant: research, subject: bob, labels: { team: ml } }
    expect: { rule: research-denied, deny_message: "research may not use this gateway" }
  - name: the search tool keeps it home
    request:
      messages: [{ role: user, content: 42 }]
      tools: [{ name: search }]
    expect: { rule: search-tool, route: nano, fallbacks: [] }
  - name: the rest goes out pseudonymized
    text: "what is the weather"
    expect: { rule: default, route: frontier, transform: pseudonymize, level: public }
)");
  ASSERT_EQ(suite.cases.size(), 4u);
  EXPECT_EQ(suite.cases[1].line, 7);
  EXPECT_EQ(suite.cases[1].tenant, "research");
  EXPECT_EQ(suite.cases[1].principal_labels.at("team"), "ml");
  // A YAML number given for a string field is its text.
  EXPECT_EQ(suite.cases[2].request.messages(0).content(), "42");
  EXPECT_EQ(suite.cases[2].request.messages(0).role(), v1::Message::USER);

  const auto policy = P();  // the result points into the policy: keep it alive
  const SuiteResult r = RunPolicySuite(*policy, suite);
  ASSERT_EQ(r.cases.size(), 4u);
  for (const CaseResult& c : r.cases) {
    EXPECT_TRUE(c.passed()) << c.test->name << ": " << c.mismatches.front().what << " expected "
                            << c.mismatches.front().expected << " got " << c.mismatches.front().got;
  }
  EXPECT_EQ(r.failed, 0u);
  ASSERT_EQ(r.rules.size(), 5u);  // four rules and the default
  EXPECT_EQ(r.reached, 4u);
  EXPECT_EQ(r.rules[3].rule->id, "never-tested");
  EXPECT_EQ(r.rules[3].cases, 0u);
  EXPECT_EQ(r.rules[4].rule->id, "default");
  EXPECT_EQ(r.rules[4].cases, 1u);
  EXPECT_DOUBLE_EQ(r.coverage_percent(), 80.0);
}

TEST(PolicySuite, EveryMismatchIsReportedWithExpectedAndActual) {
  const PolicySuite suite = Suite(R"(version: 1
cases:
  - name: wrong on every count
    text: "status of Apollo?"
    expect: { rule: search-tool, route: nano, transform: mask, fallbacks: [], level: public }
  - name: expected a denial
    text: "status of Apollo?"
    expect: { deny: true }
  - name: expected a route, got a denial
    text: "hi"
    principal: { tenant: research }
    expect: { route: frontier }
)");
  const auto policy = P();  // the result points into the policy: keep it alive
  const SuiteResult r = RunPolicySuite(*policy, suite);
  EXPECT_EQ(r.failed, 3u);
  using M = CaseResult::Mismatch;
  auto same = [](const M& a, const M& b) {
    return a.what == b.what && a.expected == b.expected && a.got == b.got;
  };
  const std::vector<M> want = {{"rule", "search-tool", "confidential-on-prem"},
                               {"route", "nano", "onprem"},
                               {"transform", "mask", "none"},
                               {"fallbacks", "[]", "[nano]"},
                               {"level", "public", "confidential"}};
  ASSERT_EQ(r.cases[0].mismatches.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(same(r.cases[0].mismatches[i], want[i]))
        << i << ": " << r.cases[0].mismatches[i].what;
  }
  ASSERT_EQ(r.cases[1].mismatches.size(), 1u);
  EXPECT_TRUE(same(r.cases[1].mismatches[0], {"deny", "true", "false"}));
  ASSERT_EQ(r.cases[2].mismatches.size(), 1u);
  EXPECT_TRUE(same(r.cases[2].mismatches[0], {"route", "frontier", "(denied)"}));
  // The explanation says how the policy decided.
  EXPECT_NE(r.cases[2].decision.explanation.find("rule 'research-denied'"), std::string::npos);
}

TEST(PolicySuite, ErrorsNameFileLineColumnAndWhatWasExpected) {
  EXPECT_EQ(Error("version: 1\ncases: []\n"),
            "p_test.yaml:2:8: cases: expected a non-empty list of test cases");
  EXPECT_EQ(Error("version: 2\ncases: [{ name: a, text: b, expect: { route: x } }]\n"),
            "p_test.yaml:1:10: version: unsupported version (expected 1)");
  EXPECT_EQ(Error("version: 1\ncases:\n  - { name: a, txt: b, expect: { route: x } }\n"),
            "p_test.yaml:3:16: cases[0]: unknown key 'txt' (expected name, text, request, "
            "principal, model, expect)");
  EXPECT_EQ(Error("version: 1\ncases:\n  - { name: a, expect: { route: x } }\n"),
            "p_test.yaml:3:5: cases[0]: expected 'text' or 'request' (the request to decide); "
            "found neither");
  EXPECT_EQ(Error("version: 1\ncases:\n  - { name: a, text: b, request: {}, expect: {rule: x} }\n"),
            "p_test.yaml:3:5: cases[0]: expected 'text' or 'request', not both");
  EXPECT_EQ(Error("version: 1\ncases:\n  - { name: a, text: b, expect: {} }\n"),
            "p_test.yaml:3:33: cases[0].expect: expected at least one expectation; found none");
  EXPECT_EQ(Error("version: 1\ncases:\n  - { name: a, text: b, expect: { transform: hide } }\n"),
            "p_test.yaml:3:46: cases[0].expect.transform: unknown transform 'hide' (expected "
            "none, mask, pseudonymize)");
  EXPECT_EQ(Error("version: 1\ncases:\n  - { name: a, text: b, expect: { level: secret } }\n"),
            "p_test.yaml:3:42: cases[0].expect.level: unknown level 'secret' (expected public, "
            "internal, confidential, restricted)");
  EXPECT_EQ(Error("version: 1\ncases:\n  - { name: a, text: b, expect: { deny: true, route: n "
                  "} }\n"),
            "p_test.yaml:3:47: cases[0].expect: 'route' cannot be expected of a denied request "
            "(expected deny or a route, not both)");
  EXPECT_EQ(Error("version: 1\ncases:\n  - { name: a, text: b, expect: { rule: r } }\n"
                  "  - { name: a, text: c, expect: { rule: r } }\n"),
            "p_test.yaml:4:5: cases[1].name: duplicate case name 'a' (first used at line 3)");
  EXPECT_EQ(Error("version: 1\ncases:\n  - name: a\n    principal: { tenant: [x] }\n    text: b\n"
                  "    expect: { rule: r }\n"),
            "p_test.yaml:4:26: cases[0].principal.tenant: expected a tenant name");
  const std::string bad_request = Error(
      "version: 1\ncases:\n  - name: a\n    request: { messages: [{ role: usr }] }\n"
      "    expect: { rule: r }\n");
  EXPECT_EQ(bad_request.rfind("p_test.yaml:4:14: cases[0].request: not a ChatRequest: ", 0), 0u)
      << bad_request;
  EXPECT_NE(bad_request.find("usr"), std::string::npos) << bad_request;
  // model answers
  auto model_error = [](const std::string& model) {
    return Error("version: 1\ncases:\n  - name: a\n    text: b\n    model: " + model +
                 "\n    expect: { rule: r }\n");
  };
  EXPECT_EQ(model_error("[0.5]"),
            "p_test.yaml:5:12: cases[0].model: expected a mapping of question (level, difficulty "
            "or a category) to its answer, such as pii.health: { yes: 0.8 }");
  EXPECT_EQ(model_error("{ health: { yes: 1 } }"),
            "p_test.yaml:5:14: cases[0].model: 'health' is not a question (expected level, "
            "difficulty or a category such as pii.health)");
  EXPECT_EQ(model_error("{ pii.health: { maybe: 1 } }"),
            "p_test.yaml:5:28: cases[0].model.pii.health: unknown key 'maybe' (expected no, "
            "yes)");
  EXPECT_EQ(model_error("{ level: { secret: 1 } }"),
            "p_test.yaml:5:23: cases[0].model.level: unknown key 'secret' (expected public, "
            "internal, confidential, restricted)");
  EXPECT_EQ(model_error("{ difficulty: { hard: 2 } }"),
            "p_test.yaml:5:34: cases[0].model.difficulty.hard: expected a number from 0 to 1, "
            "found '2'");
  EXPECT_EQ(model_error("{ level: { public: 0.7, restricted: 0.6 } }"),
            "p_test.yaml:5:21: cases[0].model.level: the probabilities add up to 1.300000 "
            "(expected at most 1)");
  EXPECT_EQ(model_error("{ pii.person: { yes: 0.2, no: 0.2 } }"),
            "p_test.yaml:5:26: cases[0].model.pii.person: the probabilities add up to 0.400000 "
            "(expected 1)");
  EXPECT_EQ(Error("version: 1\ncases: [ { name: a\n"),
            "p_test.yaml:3:1: invalid YAML: end of map flow not found");
}

// A case's model answers are read through the policy's `model` section and merged as the
// gateway merges them: they raise the level (never lower it), and the thresholds decide.
TEST(PolicySuite, ModelAnswersAreReadByThePolicy) {
  const std::string policy = std::string(kPolicy) +
                             "model:\n  level_at: { confidential: 0.3 }\n"
                             "  categories: { pii.health: 0.9 }\n";
  auto p = ParsePolicy(policy, "p.yaml", {"onprem", "nano", "frontier"});
  ASSERT_TRUE(p.ok()) << p.status();
  const PolicySuite suite = Suite(R"(version: 1
cases:
  - name: the model calls it confidential at P(>= confidential) 0.35
    text: "hello"
    model: { level: { public: 0.5, internal: 0.15, confidential: 0.25, restricted: 0.1 } }
    expect: { rule: confidential-on-prem, level: confidential }
  - name: health at 0.8 is under the policy's 0.9
    text: "hello"
    model: { pii.health: { yes: 0.8 } }
    expect: { rule: default, level: public }
  - name: health at 0.95 is restricted
    text: "hello"
    model: { pii.health: { yes: 0.95 }, difficulty: { hard: 0.2 } }
    expect: { rule: confidential-on-prem, level: restricted }
  - name: the model's public does not lower the detectors' confidential
    text: "status of Apollo?"
    model: { level: { public: 1 } }
    expect: { rule: confidential-on-prem, level: confidential }
)");
  const SuiteResult r = RunPolicySuite(**p, suite);
  ASSERT_EQ(r.cases.size(), 4u);
  for (const CaseResult& c : r.cases) {
    EXPECT_TRUE(c.passed()) << c.test->name << ": " << c.mismatches.front().what << " "
                            << c.mismatches.front().expected << " / " << c.mismatches.front().got;
  }
  // The labels not given share the rest: yes 0.8 leaves no 0.2.
  EXPECT_FLOAT_EQ(suite.cases[1].model->probabilities[0][0], 0.2f);
  // Without the model section the same answers read differently: health 0.8 counts.
  const SuiteResult plain = RunPolicySuite(*P(), suite);
  EXPECT_FALSE(plain.cases[1].passed());
  EXPECT_FALSE(plain.cases[0].passed());  // P(>= confidential) 0.35 < 0.5: internal
}

TEST(PolicySuite, TestFileLivesNextToThePolicy) {
  EXPECT_EQ(PolicySuitePathFor("policies/hybrid.yaml"), "policies/hybrid_test.yaml");
  EXPECT_EQ(PolicySuitePathFor("a/b.yml"), "a/b_test.yaml");
  EXPECT_EQ(PolicySuitePathFor("policy"), "policy_test.yaml");
  EXPECT_EQ(LoadPolicySuite("/nonexistent/x_test.yaml").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace airlock::router
