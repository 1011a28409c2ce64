// PrintPolicy: the canonical form parses to the same compiled policy, for the shipped policies
// and for one that uses every construct; printing is idempotent; EquivalentPolicies notices a
// difference anywhere.
#include "router/policy_print.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace airlock::router {
namespace {

namespace fs = std::filesystem;

const std::set<std::string> kTargets = {"nano", "super", "frontier"};

std::shared_ptr<const Policy> Parse(const std::string& text, const std::string& name = "p.yaml") {
  auto p = ParsePolicy(text, name, kTargets);
  EXPECT_TRUE(p.ok()) << p.status() << "\n" << text;
  return p.ok() ? *p : nullptr;
}

// Parse(Print(p)) is p, and printing that gives the same text.
void ExpectRoundTrip(const Policy& p) {
  const std::string canonical = PrintPolicy(p);
  auto again = Parse(canonical, "canonical.yaml");
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(EquivalentPolicies(p, *again)) << canonical;
  EXPECT_EQ(PrintPolicy(*again), canonical);
}

TEST(PolicyPrint, ShippedPoliciesRoundTrip) {
  const fs::path dir =
      fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "policies";
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".yaml" || name.ends_with("_test.yaml")) continue;
    auto p = LoadPolicy(entry.path().string(), kTargets);
    ASSERT_TRUE(p.ok()) << p.status();
    ExpectRoundTrip(**p);
    ++n;
  }
  EXPECT_GE(n, 2u);
}

constexpr char kEveryConstruct[] = R"(version: 1
detectors:
  - { category: custom.customer_id, level: restricted, pattern: 'CUST-[0-9]{8}', case_sensitive: true }
  - category: custom.project
    level: confidential
    terms: [Apollo, "Project \"Nightingale\"", 'back\slash', "tab	and
      folded", "Zürich"]
    word_boundary: false
levels: { pii.phone: internal, "secret.*": restricted, "*": public }
model: { level_at: { restricted: 0.3 }, categories: { "pii.*": 0.7, pii.person: 0.25 } }
rules:
  - id: every-condition
    description: "all of them: quotes \" and colons: here"
    when:
      level_at_least: internal
      level_at_most: restricted
      categories: { any: ["secret.*", pii.email], all: [pii.phone], none: ["custom.*"] }
      difficulty: { at_least: 0.1, at_most: 0.7 }
      tokens: { at_least: 0, at_most: 1000000000000 }
      principal: { tenant: acme, subject: [a, b], labels: { team: "x: y" } }
      labels: { env: prod, "weird key": "null" }
      tools: { any: [shell, "true"] }
      target_hint: super
      all: [ {}, { level_at_least: public } ]
      any: [ { not: { labels: { a: b } } }, { all: [ { any: [ {} ] } ] } ]
      not: { tools: { any: [rm] } }
    then: { route: super, transform: mask, fallbacks: [nano, frontier] }
  - id: "null"
    when: {}
    then: { deny: "multi\nline \\ message" }
default: { route: frontier, transform: pseudonymize }
)";

TEST(PolicyPrint, EveryConstructRoundTrips) {
  auto p = Parse(kEveryConstruct);
  ASSERT_NE(p, nullptr);
  ExpectRoundTrip(*p);
  const std::string canonical = PrintPolicy(*p);
  // Defaults are spelled out and term lists come before patterns.
  EXPECT_NE(canonical.find("    word_boundary: false\n"), std::string::npos) << canonical;
  EXPECT_LT(canonical.find("custom.project"), canonical.find("custom.customer_id"));
  EXPECT_NE(canonical.find("default:\n  route: \"frontier\"\n  transform: pseudonymize\n"),
            std::string::npos)
      << canonical;
}

TEST(PolicyPrint, TermsFilesAreInlined) {
  const fs::path dir = fs::temp_directory_path() / ("policy_print_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "names.txt") << "# code names\nApollo\n  Gemini  \n\nMercury\n";
  const std::string policy =
      "version: 1\ndetectors:\n  - { category: custom.x, level: internal, terms: [Vega], "
      "terms_file: names.txt }\ndefault: { route: nano }\n";
  std::ofstream(dir / "p.yaml") << policy;
  auto p = LoadPolicy((dir / "p.yaml").string(), kTargets);
  ASSERT_TRUE(p.ok()) << p.status();
  ExpectRoundTrip(**p);
  EXPECT_NE(PrintPolicy(**p).find("    terms:\n      - \"Vega\"\n      - \"Apollo\"\n      - "
                                  "\"Gemini\"\n      - \"Mercury\"\n"),
            std::string::npos)
      << PrintPolicy(**p);
  fs::remove_all(dir);
}

TEST(PolicyPrint, EquivalentPoliciesNoticesEveryDifference) {
  auto base = Parse(kEveryConstruct);
  ASSERT_NE(base, nullptr);
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"fallbacks: [nano, frontier]", "fallbacks: [frontier, nano]"},
      {"at_most: 0.7", "at_most: 0.71"},
      {"team: \"x: y\"", "team: \"x:y\""},
      {"transform: mask", "transform: none"},
      {"\"Zürich\"", "\"Zurich\""},
      {"word_boundary: false", "word_boundary: true"},
      {"'CUST-[0-9]{8}'", "'CUST-[0-9]{9}'"},
      {"pii.phone: internal", "pii.phone: confidential"},
      {"restricted: 0.3", "restricted: 0.31"},
      {"pii.person: 0.25", "pii.persons: 0.25"},
      {"all: [ {}, { level_at_least: public } ]", "all: [ { level_at_least: public }, {} ]"},
      {"description: \"all of them", "description: \"All of them"},
      {"default: { route: frontier,", "default: { route: super,"},
  };
  for (const auto& [from, to] : edits) {
    std::string text = kEveryConstruct;
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    auto edited = Parse(text);
    ASSERT_NE(edited, nullptr) << to;
    EXPECT_FALSE(EquivalentPolicies(*base, *edited)) << from << " -> " << to;
  }
  EXPECT_TRUE(EquivalentPolicies(*base, *Parse(std::string("# comment\n") + kEveryConstruct)));
}

}  // namespace
}  // namespace airlock::router
