#include "router/policy.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace airlock::router {
namespace {

using classifier::Assessment;
using classifier::Level;

const std::set<std::string> kTargets = {"nano", "super", "frontier"};

constexpr const char* kGood = R"(# Example policy
version: 1
rules:
  - id: restricted-stays-home
    description: secrets never leave
    when: { level_at_least: restricted }
    then: { deny: "restricted content is not served" }
  - id: confidential-on-prem
    when: { level_at_least: confidential, level_at_most: confidential }
    then: { route: super, transform: mask, fallbacks: [nano] }
  - id: internal.or_below-1
    when:
      level_at_most: internal
      level_at_least: internal
    then:
      route: frontier
      transform: pseudonymize
      fallbacks: [super, nano]
default:
  route: nano
)";

std::shared_ptr<const Policy> Parse(std::string_view text) {
  auto p = ParsePolicy(text, "policy.yaml", kTargets);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : nullptr;
}

// The error message of parsing text, which must fail with INVALID_ARGUMENT.
std::string Error(std::string_view text) {
  auto p = ParsePolicy(text, "policy.yaml", kTargets);
  if (p.ok()) return "<parsed>";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << p.status();
  return std::string(p.status().message());
}

TEST(ParsePolicy, ParsesEveryConstruct) {
  auto p = Parse(kGood);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->path, "policy.yaml");
  ASSERT_EQ(p->rules.size(), 3u);

  const Rule& r0 = p->rules[0];
  EXPECT_EQ(r0.id, "restricted-stays-home");
  EXPECT_EQ(r0.description, "secrets never leave");
  EXPECT_EQ(r0.line, 4);
  EXPECT_EQ(r0.when.level_at_least, Level::kRestricted);
  EXPECT_FALSE(r0.when.level_at_most.has_value());
  EXPECT_TRUE(r0.then.deny);
  EXPECT_EQ(r0.then.deny_message, "restricted content is not served");
  EXPECT_TRUE(r0.then.route.empty());

  const Rule& r1 = p->rules[1];
  EXPECT_EQ(r1.id, "confidential-on-prem");
  EXPECT_EQ(r1.line, 8);
  EXPECT_EQ(r1.when.level_at_least, Level::kConfidential);
  EXPECT_EQ(r1.when.level_at_most, Level::kConfidential);
  EXPECT_FALSE(r1.then.deny);
  EXPECT_EQ(r1.then.route, "super");
  EXPECT_EQ(r1.then.transform, Transform::kMask);
  EXPECT_EQ(r1.then.fallbacks, std::vector<std::string>{"nano"});

  const Rule& r2 = p->rules[2];
  EXPECT_EQ(r2.id, "internal.or_below-1");
  EXPECT_EQ(r2.line, 11);
  EXPECT_EQ(r2.when.level_at_least, Level::kInternal);
  EXPECT_EQ(r2.when.level_at_most, Level::kInternal);
  EXPECT_EQ(r2.then.route, "frontier");
  EXPECT_EQ(r2.then.transform, Transform::kPseudonymize);
  EXPECT_EQ(r2.then.fallbacks, (std::vector<std::string>{"super", "nano"}));

  EXPECT_EQ(p->default_rule.id, "default");
  EXPECT_EQ(p->default_rule.line, 19);
  EXPECT_FALSE(p->default_rule.then.deny);
  EXPECT_EQ(p->default_rule.then.route, "nano");
  EXPECT_EQ(p->default_rule.then.transform, Transform::kNone);
  EXPECT_TRUE(p->default_rule.then.fallbacks.empty());
}

TEST(ParsePolicy, MinimalPolicyAndItsHash) {
  // sha256sum of these exact bytes.
  const std::string text = "version: 1\ndefault: { route: a }\n";
  auto p = ParsePolicy(text, "p.yaml", {"a"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE((*p)->rules.empty());
  EXPECT_EQ((*p)->hash, "96c60d7fdf9d4088983478c2e73591c1e5a58cee222c143498493f6210c5a77c");
  // One byte more, another hash.
  auto q = ParsePolicy(text + "\n", "p.yaml", {"a"});
  ASSERT_TRUE(q.ok());
  EXPECT_NE((*q)->hash, (*p)->hash);
  EXPECT_EQ((*q)->hash.size(), 64u);
}

TEST(ParsePolicy, EmptyWhenMatchesAllAndDefaultMayDeny) {
  auto p = Parse(
      "version: 1\n"
      "rules:\n"
      "  - id: all\n"
      "    when: {}\n"
      "    then: { route: super }\n"
      "default: { deny: no }\n");
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->rules[0].when.level_at_least || p->rules[0].when.level_at_most);
  EXPECT_TRUE(p->default_rule.then.deny);
  EXPECT_EQ(p->default_rule.then.deny_message, "no");
}

// Every error path, with the exact position and message.
struct ErrorCase {
  const char* name;
  const char* text;
  const char* message;
};

const ErrorCase kErrors[] = {
    {"yaml syntax", "version: 1\ndefault: { route: nano\n",
     "policy.yaml:3:1: invalid YAML: end of map flow not found"},
    {"yaml bad indentation", "version: 1\n  default: x\n",
     "policy.yaml:2:10: invalid YAML: illegal map value"},
    {"empty document", "",
     "policy.yaml:1:1: expected a mapping with keys version, detectors, levels, model, rules, "
     "default"},
    {"not a mapping", "- version\n",
     "policy.yaml:1:1: expected a mapping with keys version, detectors, levels, model, rules, "
     "default"},
    {"unknown top-level key", "version: 1\ndefault: { route: nano }\nrulez: []\n",
     "policy.yaml:3:1: unknown key 'rulez' (expected version, detectors, levels, model, rules, "
     "default)"},
    {"duplicate top-level key", "version: 1\ndefault: { route: nano }\nversion: 1\n",
     "policy.yaml:3:1: duplicate key 'version' (first given at line 1)"},
    {"non-scalar key", "version: 1\ndefault: { route: nano }\n[a]: 1\n",
     "policy.yaml:3:1: expected a key name"},
    {"missing version", "default: { route: nano }\n",
     "policy.yaml:1:1: missing required key 'version' (expected version: 1)"},
    {"version 2", "default: { route: nano }\nversion: 2\n",
     "policy.yaml:2:10: version: unsupported version '2' (expected 1)"},
    {"version not a scalar", "version: [1]\ndefault: { route: nano }\n",
     "policy.yaml:1:10: version: unsupported version (expected 1)"},
    {"version empty", "version:\ndefault: { route: nano }\n",
     "policy.yaml:1:1: version: unsupported version (expected 1)"},
    {"rules empty", "version: 1\nrules:\ndefault: { route: nano }\n",
     "policy.yaml:2:1: rules: expected a list of rules"},
    {"missing default", "version: 1\nrules: []\n",
     "policy.yaml:1:1: missing required key 'default' (the rule applied when no rule matches)"},
    {"rules not a list", "version: 1\nrules: { id: x }\ndefault: { route: nano }\n",
     "policy.yaml:2:8: rules: expected a list of rules"},
    {"rule not a mapping", "version: 1\nrules:\n  - just-a-string\ndefault: { route: nano }\n",
     "policy.yaml:3:5: rules[0]: expected a rule: a mapping with id, when, then"},
    {"unknown rule key",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { route: nano }\n    priority: 1\n"
     "default: { route: nano }\n",
     "policy.yaml:6:5: rules[0]: unknown key 'priority' (expected id, description, when, then)"},
    {"missing id",
     "version: 1\nrules:\n  - when: {}\n    then: { route: nano }\n"
     "default: { route: nano }\n",
     "policy.yaml:3:5: rules[0]: missing required key 'id' (expected a rule id)"},
    {"id not a scalar",
     "version: 1\nrules:\n  - id: [a]\n    when: {}\n    then: { route: nano }\n"
     "default: { route: nano }\n",
     "policy.yaml:3:9: rules[0].id: expected a rule id"},
    {"invalid id",
     "version: 1\nrules:\n  - id: a b\n    when: {}\n    then: { route: nano }\n"
     "default: { route: nano }\n",
     "policy.yaml:3:9: rules[0].id: invalid id 'a b' (expected letters, digits, '_', '.', '-')"},
    {"reserved id",
     "version: 1\nrules:\n  - id: default\n    when: {}\n    then: { route: nano }\n"
     "default: { route: nano }\n",
     "policy.yaml:3:9: rules[0].id: id 'default' is reserved for the default rule (expected "
     "another id)"},
    {"duplicate id",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { route: nano }\n"
     "  - id: a\n    when: {}\n    then: { route: super }\n"
     "default: { route: nano }\n",
     "policy.yaml:6:9: rules[1].id: duplicate rule id 'a' (first used by the rule at line 3; "
     "expected unique ids)"},
    {"description not text",
     "version: 1\nrules:\n  - id: a\n    description: { x: 1 }\n    when: {}\n"
     "    then: { route: nano }\ndefault: { route: nano }\n",
     "policy.yaml:4:18: rules[0].description: expected text"},
    {"missing when",
     "version: 1\nrules:\n  - id: a\n    then: { route: nano }\n"
     "default: { route: nano }\n",
     "policy.yaml:3:5: rules[0]: missing required key 'when' (use when: {} to match every "
     "request)"},
    {"when null",
     "version: 1\nrules:\n  - id: a\n    when:\n    then: { route: nano }\n"
     "default: { route: nano }\n",
     "policy.yaml:4:5: rules[0].when: expected a mapping of conditions (use {} to match every "
     "request)"},
    {"unknown when key",
     "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n    when: {}\n"
     "    then: { route: nano }\n  - id: b\n    when:\n      level_atleast: internal\n"
     "    then: { route: nano }\n",
     "policy.yaml:9:7: rules[1].when: unknown key 'level_atleast' (expected level_at_least, "
     "level_at_most, categories, difficulty, tokens, principal, labels, tools, target_hint, all, "
     "any, not)"},
    {"duplicate when key",
     "version: 1\nrules:\n  - id: a\n    when: { level_at_most: public, level_at_most: internal }\n"
     "    then: { route: nano }\ndefault: { route: nano }\n",
     "policy.yaml:4:36: rules[0].when: duplicate key 'level_at_most' (first given at line 4)"},
    {"unknown level",
     "version: 1\nrules:\n  - id: a\n    when: { level_at_least: secret }\n"
     "    then: { route: nano }\ndefault: { route: nano }\n",
     "policy.yaml:4:29: rules[0].when.level_at_least: unknown level 'secret' (expected public, "
     "internal, confidential, restricted)"},
    {"level not a scalar",
     "version: 1\nrules:\n  - id: a\n    when: { level_at_most: [public] }\n"
     "    then: { route: nano }\ndefault: { route: nano }\n",
     "policy.yaml:4:28: rules[0].when.level_at_most: expected a level (public, internal, "
     "confidential, restricted)"},
    {"impossible level range",
     "version: 1\nrules:\n  - id: a\n    when: { level_at_least: restricted, level_at_most: "
     "internal }\n    then: { route: nano }\ndefault: { route: nano }\n",
     "policy.yaml:4:11: rules[0].when: level_at_least restricted is above level_at_most internal "
     "(expected level_at_least <= level_at_most; this rule could never match)"},
    {"missing then", "version: 1\nrules:\n  - id: a\n    when: {}\ndefault: { route: nano }\n",
     "policy.yaml:3:5: rules[0]: missing required key 'then' (expected route or deny)"},
    {"then not a mapping",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: nano\ndefault: { route: nano }\n",
     "policy.yaml:5:11: rules[0].then: expected a mapping with 'route' (and optional transform, "
     "fallbacks) or 'deny'"},
    {"unknown then key",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { route: nano, target: super }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:26: rules[0].then: unknown key 'target' (expected route, transform, "
     "fallbacks, deny)"},
    {"route and deny",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { route: nano, deny: no }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:26: rules[0].then: 'route' and 'deny' cannot both be given (expected one of "
     "them)"},
    {"neither route nor deny",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { transform: mask }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:11: rules[0].then: expected 'route' (with optional transform, fallbacks) or "
     "'deny'; found neither"},
    {"deny with transform",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { deny: no, transform: mask }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:23: rules[0].then: 'transform' applies to 'route' only (expected no "
     "transform with 'deny')"},
    {"deny with fallbacks",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { deny: no, fallbacks: [nano] }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:23: rules[0].then: 'fallbacks' applies to 'route' only (expected no "
     "fallbacks with 'deny')"},
    {"empty deny message",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { deny: \"\" }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:19: rules[0].then.deny: expected a non-empty message"},
    {"deny not text",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { deny: [x] }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:19: rules[0].then.deny: expected a message (text)"},
    {"unknown route target",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { route: mars }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:20: rules[0].then.route: unknown target 'mars' (expected one of frontier, "
     "nano, super)"},
    {"route not a scalar",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { route: { name: nano } }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:20: rules[0].then.route: expected a target name"},
    {"unknown transform",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { route: nano, transform: redact }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:37: rules[0].then.transform: unknown transform 'redact' (expected none, "
     "mask, pseudonymize)"},
    {"fallbacks not a list",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { route: nano, fallbacks: super }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:37: rules[0].then.fallbacks: expected a list of target names"},
    {"unknown fallback target",
     "version: 1\nrules:\n  - id: a\n    when: {}\n"
     "    then: { route: nano, fallbacks: [super, moon] }\ndefault: { route: nano }\n",
     "policy.yaml:5:45: rules[0].then.fallbacks[1]: unknown target 'moon' (expected one of "
     "frontier, nano, super)"},
    {"fallback repeats route",
     "version: 1\nrules:\n  - id: a\n    when: {}\n    then: { route: nano, fallbacks: [nano] }\n"
     "default: { route: nano }\n",
     "policy.yaml:5:38: rules[0].then.fallbacks[0]: target 'nano' is already listed (expected "
     "each target once)"},
    {"default empty", "version: 1\ndefault:\n",
     "policy.yaml:2:1: default: expected a mapping with 'route' (and optional transform, "
     "fallbacks) or 'deny'"},
    {"default not a mapping", "version: 1\ndefault: nano\n",
     "policy.yaml:2:10: default: expected a mapping with 'route' (and optional transform, "
     "fallbacks) or 'deny'"},
    {"default unknown target", "version: 1\ndefault:\n  route: frontiers\n",
     "policy.yaml:3:10: default.route: unknown target 'frontiers' (expected one of frontier, "
     "nano, super)"},
    {"default neither", "version: 1\ndefault:\n  transform: mask\n",
     "policy.yaml:3:3: default: expected 'route' (with optional transform, fallbacks) or 'deny'; "
     "found neither"},
    // detectors
    {"detectors not a list",
     "version: 1\ndetectors: { category: custom.a }\ndefault: { route: nano }\n",
     "policy.yaml:2:12: detectors: expected a list of detectors"},
    {"detector not a mapping", "version: 1\ndetectors: [custom.a]\ndefault: { route: nano }\n",
     "policy.yaml:2:13: detectors[0]: expected a detector: a mapping with category, level and "
     "terms, terms_file or pattern"},
    {"unknown detector key",
     "version: 1\ndetectors:\n  - category: custom.a\n    level: internal\n    terms: [a]\n"
     "    kind: terms\ndefault: { route: nano }\n",
     "policy.yaml:6:5: detectors[0]: unknown key 'kind' (expected category, level, terms, "
     "terms_file, pattern, case_sensitive, word_boundary)"},
    {"missing category",
     "version: 1\ndetectors:\n  - level: internal\n    terms: [a]\ndefault: { route: nano }\n",
     "policy.yaml:3:5: detectors[0]: missing required key 'category' (expected a category such "
     "as custom.project)"},
    {"missing level",
     "version: 1\ndetectors:\n  - category: custom.a\n    terms: [a]\ndefault: { route: nano }\n",
     "policy.yaml:3:5: detectors[0]: missing required key 'level' (expected one of public, "
     "internal, confidential, restricted)"},
    {"unknown detector level",
     "version: 1\ndetectors:\n  - { category: custom.a, level: secret, terms: [a] }\n"
     "default: { route: nano }\n",
     "policy.yaml:3:34: detectors[0].level: unknown level 'secret' (expected public, internal, "
     "confidential, restricted)"},
    {"invalid category",
     "version: 1\ndetectors:\n  - category: Custom\n    level: internal\n    terms: [a]\n"
     "default: { route: nano }\n",
     "policy.yaml:3:15: detectors[0].category: invalid category 'Custom' (expected dotted "
     "lower-case segments such as custom.project: a-z, 0-9, '_', '-', each segment starting with "
     "a letter)"},
    {"category not a scalar",
     "version: 1\ndetectors:\n  - category: [custom.a]\n    level: internal\n    terms: [a]\n"
     "default: { route: nano }\n",
     "policy.yaml:3:15: detectors[0].category: expected a category"},
    {"built-in namespace",
     "version: 1\ndetectors:\n  - category: pii.badge\n    level: internal\n    terms: [a]\n"
     "default: { route: nano }\n",
     "policy.yaml:3:15: detectors[0].category: category 'pii.badge' is in the built-in namespace "
     "'pii.' (expected a category of your own, such as custom.badge; to change a built-in "
     "category's level use 'levels')"},
    {"duplicate category",
     "version: 1\ndetectors:\n  - { category: custom.a, level: internal, terms: [a] }\n"
     "  - { category: custom.a, level: internal, pattern: 'x+' }\ndefault: { route: nano }\n",
     "policy.yaml:4:17: detectors[1].category: duplicate category 'custom.a' (first defined at "
     "line 3; expected each category once)"},
    {"neither terms nor pattern",
     "version: 1\ndetectors:\n  - { category: custom.a, level: internal }\n"
     "default: { route: nano }\n",
     "policy.yaml:3:5: detectors[0]: expected 'terms', 'terms_file' or 'pattern'; found none"},
    {"terms not a list",
     "version: 1\ndetectors:\n  - { category: custom.a, level: internal, terms: Apollo }\n"
     "default: { route: nano }\n",
     "policy.yaml:3:51: detectors[0].terms: expected a list of terms"},
    {"empty terms",
     "version: 1\ndetectors:\n  - { category: custom.a, level: internal, terms: [] }\n"
     "default: { route: nano }\n",
     "policy.yaml:3:51: detectors[0].terms: expected at least one term, found an empty list"},
    {"empty term",
     "version: 1\ndetectors:\n  - category: custom.a\n    level: internal\n"
     "    terms: [Apollo, \"  \"]\ndefault: { route: nano }\n",
     "policy.yaml:5:21: detectors[0].terms[1]: expected a non-empty term"},
    {"term not text",
     "version: 1\ndetectors:\n  - category: custom.a\n    level: internal\n"
     "    terms: [Apollo, [x]]\ndefault: { route: nano }\n",
     "policy.yaml:5:21: detectors[0].terms[1]: expected a term (text)"},
    {"bad RE2 pattern",
     "version: 1\ndetectors:\n  - category: custom.id\n    level: restricted\n"
     "    pattern: 'CUST-([0-9]{8}'\ndefault: { route: nano }\n",
     "policy.yaml:5:14: detectors[0].pattern: invalid RE2 pattern: missing ): CUST-([0-9]{8} "
     "(RE2 syntax, see https://github.com/google/re2/wiki/Syntax)"},
    {"pattern matching the empty string",
     "version: 1\ndetectors:\n  - category: custom.id\n    level: restricted\n"
     "    pattern: '[0-9]*'\ndefault: { route: nano }\n",
     "policy.yaml:5:14: detectors[0].pattern: pattern matches the empty string (expected a "
     "pattern that needs at least one character)"},
    {"empty pattern",
     "version: 1\ndetectors:\n  - category: custom.id\n    level: restricted\n"
     "    pattern: ''\ndefault: { route: nano }\n",
     "policy.yaml:5:14: detectors[0].pattern: expected a non-empty RE2 pattern"},
    {"pattern with terms",
     "version: 1\ndetectors:\n  - category: custom.id\n    level: restricted\n"
     "    pattern: 'x+'\n    terms: [a]\ndefault: { route: nano }\n",
     "policy.yaml:6:5: detectors[0]: 'terms' cannot be given with 'pattern' (expected a pattern "
     "or terms, one detector each)"},
    {"word_boundary with pattern",
     "version: 1\ndetectors:\n  - category: custom.id\n    level: restricted\n"
     "    pattern: 'x+'\n    word_boundary: false\ndefault: { route: nano }\n",
     "policy.yaml:6:5: detectors[0]: 'word_boundary' cannot be given with 'pattern' (expected a "
     "pattern or terms, one detector each)"},
    {"case_sensitive not a boolean",
     "version: 1\ndetectors:\n  - category: custom.a\n    level: internal\n    terms: [a]\n"
     "    case_sensitive: yes\ndefault: { route: nano }\n",
     "policy.yaml:6:21: detectors[0].case_sensitive: expected true or false, found 'yes'"},
    {"missing terms file",
     "version: 1\ndetectors:\n  - category: custom.a\n    level: internal\n"
     "    terms_file: no-such-terms.txt\ndefault: { route: nano }\n",
     "policy.yaml:5:17: detectors[0].terms_file: cannot open terms file 'no-such-terms.txt': No "
     "such file or directory"},
    // levels
    {"levels not a mapping", "version: 1\nlevels: [pii.phone]\ndefault: { route: nano }\n",
     "policy.yaml:2:9: levels: expected a mapping of category (or glob such as 'secret.*') to "
     "level"},
    {"levels bad glob", "version: 1\nlevels:\n  Secret.*: public\ndefault: { route: nano }\n",
     "policy.yaml:3:3: levels: invalid character 'S' at offset 0 of category glob 'Secret.*' "
     "(expected a-z, 0-9, '_', '-', '.' and '*')"},
    {"levels not a category", "version: 1\nlevels: { email: public }\ndefault: { route: nano }\n",
     "policy.yaml:2:11: levels: 'email' is not a category (expected dotted lower-case segments "
     "such as 'pii.phone', or a glob with '*')"},
    {"levels unknown level", "version: 1\nlevels:\n  pii.phone: secret\ndefault: { route: nano }\n",
     "policy.yaml:3:14: levels.pii.phone: unknown level 'secret' (expected public, internal, "
     "confidential, restricted)"},
    {"levels missing level", "version: 1\nlevels:\n  pii.phone:\ndefault: { route: nano }\n",
     "policy.yaml:3:3: levels.pii.phone: expected a level (public, internal, confidential, "
     "restricted)"},
    {"levels duplicate key",
     "version: 1\nlevels:\n  pii.phone: public\n  pii.phone: internal\ndefault: { route: nano }\n",
     "policy.yaml:4:3: levels: duplicate key 'pii.phone' (first given at line 3)"},
    // model
    {"model not a mapping", "version: 1\nmodel: [0.5]\ndefault: { route: nano }\n",
     "policy.yaml:2:8: model: expected a mapping with level_at and/or categories"},
    {"model unknown key", "version: 1\nmodel: { threshold: 0.5 }\ndefault: { route: nano }\n",
     "policy.yaml:2:10: model: unknown key 'threshold' (expected level_at, categories)"},
    {"model level_at unknown level",
     "version: 1\nmodel: { level_at: { public: 0.5 } }\ndefault: { route: nano }\n",
     "policy.yaml:2:22: model.level_at: unknown key 'public' (expected internal, confidential, "
     "restricted)"},
    {"model level_at out of range",
     "version: 1\nmodel: { level_at: { restricted: 1.5 } }\ndefault: { route: nano }\n",
     "policy.yaml:2:34: model.level_at.restricted: expected a number from 0 to 1, found '1.5'"},
    {"model categories bad glob",
     "version: 1\nmodel:\n  categories: { Pii.*: 0.5 }\ndefault: { route: nano }\n",
     "policy.yaml:3:17: model.categories: invalid character 'P' at offset 0 of category glob "
     "'Pii.*' (expected a-z, 0-9, '_', '-', '.' and '*')"},
    {"model categories not a number",
     "version: 1\nmodel:\n  categories: { pii.health: high }\ndefault: { route: nano }\n",
     "policy.yaml:3:29: model.categories.pii.health: expected a number from 0 to 1, found "
     "'high'"},
    {"model categories duplicate",
     "version: 1\nmodel:\n  categories:\n    pii.health: 0.4\n    pii.health: 0.6\n"
     "default: { route: nano }\n",
     "policy.yaml:5:5: model.categories: duplicate key 'pii.health' (first given at line 4)"},
    // One rule, `when` on line 4: "    when: " puts the first condition at column 11.
    {"bad category glob",
     "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n"
     "    when: { categories: { any: [\"Secret.?\"] } }\n    then: { route: nano }\n",
     "policy.yaml:5:32: rules[0].when.categories.any: invalid character 'S' at offset 0 of "
     "category glob 'Secret.?' (expected a-z, 0-9, '_', '-', '.' and '*')"},
    {"empty category list",
     "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n"
     "    when: { categories: { none: [] } }\n    then: { route: nano }\n",
     "policy.yaml:5:33: rules[0].when.categories.none: expected a list of category globs, found "
     "an empty list"},
    {"difficulty out of range",
     "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n"
     "    when: { difficulty: { at_least: 1.5 } }\n    then: { route: nano }\n",
     "policy.yaml:5:37: rules[0].when.difficulty.at_least: expected a number from 0 to 1, found "
     "'1.5'"},
    {"difficulty range upside down",
     "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n"
     "    when: { difficulty: { at_least: 0.8, at_most: 0.2 } }\n    then: { route: nano }\n",
     "policy.yaml:5:25: rules[0].when.difficulty: at_least is above at_most (this condition "
     "could never hold)"},
    {"tokens not an integer",
     "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n"
     "    when: { tokens: { at_most: 2.5 } }\n    then: { route: nano }\n",
     "policy.yaml:5:32: rules[0].when.tokens.at_most: expected an integer >= 0, found '2.5'"},
    {"unknown principal key",
     "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n"
     "    when: { principal: { team: x } }\n    then: { route: nano }\n",
     "policy.yaml:5:26: rules[0].when.principal: unknown key 'team' (expected tenant, subject, "
     "labels)"},
    {"labels not a mapping",
     "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n"
     "    when: { labels: [a, b] }\n    then: { route: nano }\n",
     "policy.yaml:5:21: rules[0].when.labels: expected a non-empty mapping of label names to "
     "values"},
    {"not is not a mapping",
     "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n"
     "    when: { not: [] }\n    then: { route: nano }\n",
     "policy.yaml:5:18: rules[0].when.not: expected a mapping of conditions (use {} to match "
     "every request)"},
    {"unknown key in a nested condition",
     "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n"
     "    when: { any: [ { level_at_least: internal }, { levle: public } ] }\n"
     "    then: { route: nano }\n",
     "policy.yaml:5:52: rules[0].when.any[1]: unknown key 'levle' (expected level_at_least, "
     "level_at_most, categories, difficulty, tokens, principal, labels, tools, target_hint, all, "
     "any, not)"},
};

TEST(ParsePolicy, EveryErrorNamesFileLineColumnAndWhatWasExpected) {
  for (const ErrorCase& c : kErrors) {
    EXPECT_EQ(Error(c.text), c.message) << c.name;
  }
}

TEST(ParsePolicy, NoTargetsConfigured) {
  auto p = ParsePolicy("version: 1\ndefault: { route: nano }\n", "x.yaml", {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "x.yaml:2:19: default.route: unknown target 'nano' (no targets are configured)");
}

TEST(LoadPolicy, ReadsTheFileAndNamesItInErrors) {
  char dir_template[] = "/tmp/airlock_policy_testXXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string good = dir + "/good.yaml";
  const std::string bad = dir + "/bad.yaml";
  std::ofstream(good) << "version: 1\ndefault: { route: a }\n";
  std::ofstream(bad) << "version: 1\ndefault: { route: b }\n";

  auto p = LoadPolicy(good, {"a"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->path, good);
  EXPECT_EQ((*p)->hash, "96c60d7fdf9d4088983478c2e73591c1e5a58cee222c143498493f6210c5a77c");

  auto q = LoadPolicy(bad, {"a"});
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(q.status().message(),
            bad + ":2:19: default.route: unknown target 'b' (expected one of a)");

  auto missing = LoadPolicy(dir + "/missing.yaml", {"a"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir + "/missing.yaml"), std::string::npos);

  std::remove(good.c_str());
  std::remove(bad.c_str());
  rmdir(dir.c_str());
}

// ---------------------------------------------------------------------------------------------
// Detectors and levels

classifier::Assessment AssessUser(const Policy& p, const std::string& text) {
  v1::ChatRequest r;
  auto* m = r.add_messages();
  m->set_role(v1::Message::USER);
  m->set_content(text);
  return p.classifier->Assess(r);
}

std::string Sha256Of(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += "0123456789abcdef"[digest[i] >> 4];
    hex += "0123456789abcdef"[digest[i] & 0xf];
  }
  return hex;
}

TEST(ParsePolicy, EveryPolicyHasTheBuiltInClassifier) {
  auto p = Parse("version: 1\ndefault: { route: nano }\n");
  ASSERT_NE(p, nullptr);
  ASSERT_NE(p->classifier, nullptr);
  const Assessment a = AssessUser(*p, "mail bob@example.org about Apollo");
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_EQ(a.findings[0].category, "pii.email");
}

TEST(ParsePolicy, DetectorsAndLevelsBuildThePolicysClassifier) {
  auto p = Parse(R"(version: 1
detectors:
  - category: custom.project
    level: confidential
    terms: [Apollo, "Project Nightingale"]
  - category: custom.customer_id
    level: restricted
    pattern: 'CUST-[0-9]{8}'
  - category: custom.host
    level: internal
    terms: [DB-PROD]
    case_sensitive: true
    word_boundary: false
levels:
  pii.email: internal
  "custom.*": internal
  custom.customer_id: restricted
rules:
  - id: restricted
    when: { level_at_least: restricted }
    then: { route: nano }
default: { route: frontier }
)");
  ASSERT_NE(p, nullptr);
  Assessment a = AssessUser(*p, "apollo and project nightingale for cust-12345678 on xDB-PRODx");
  ASSERT_EQ(a.findings.size(), 4u);
  EXPECT_EQ(a.findings[0].category, "custom.project");
  EXPECT_EQ(a.findings[0].level, Level::kInternal);  // "custom.*" lowered confidential
  EXPECT_EQ(a.findings[0].detector, "custom.project");
  EXPECT_EQ(a.findings[1].category, "custom.project");
  EXPECT_EQ(a.findings[2].category, "custom.customer_id");  // case-insensitive by default
  EXPECT_EQ(a.findings[2].level, Level::kRestricted);       // the exact override wins
  EXPECT_EQ(a.findings[3].category, "custom.host");         // no boundary needed
  EXPECT_EQ(a.level, Level::kRestricted);
  EXPECT_EQ(Decide(*p, a).rule_id, "restricted");

  a = AssessUser(*p, "db-prod and bob@example.org");  // case-sensitive host: not found
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_EQ(a.findings[0].category, "pii.email");
  EXPECT_EQ(a.findings[0].level, Level::kInternal);
  EXPECT_EQ(Decide(*p, a).rule_id, "default");
}

TEST(ParsePolicy, ModelSetsHowTheModelStagesAnswersAreRead) {
  auto p = Parse(R"(version: 1
model:
  level_at: { restricted: 0.3 }
  categories:
    "pii.*": 0.7
    pii.person: 0.4
default: { route: nano }
)");
  ASSERT_NE(p, nullptr);
  const classifier::ModelThresholds& m = p->classifier->model_thresholds();
  EXPECT_FLOAT_EQ(m.level_at[0], 0.5f);  // unspecified: the default
  EXPECT_FLOAT_EQ(m.level_at[1], 0.5f);
  EXPECT_FLOAT_EQ(m.level_at[2], 0.3f);
  EXPECT_FLOAT_EQ(m.CategoryThreshold("pii.health"), 0.7f);
  EXPECT_FLOAT_EQ(m.CategoryThreshold("pii.person"), 0.4f);  // exact beats the glob
  EXPECT_FLOAT_EQ(m.CategoryThreshold("confidential.business"), 0.5f);
  EXPECT_EQ(Parse("version: 1\ndefault: { route: nano }\n")->classifier->model_thresholds(),
            classifier::ModelThresholds{});
}

TEST(ParsePolicy, TermsFileRelativeToThePolicyAndPartOfTheHash) {
  char dir_template[] = "/tmp/airlock_policy_termsXXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string policy = dir + "/policy.yaml";
  const std::string terms = dir + "/codenames.txt";
  const std::string text =
      "version: 1\ndetectors:\n  - category: custom.codename\n    level: restricted\n"
      "    terms: [Apollo]\n    terms_file: codenames.txt\ndefault: { route: a }\n";
  std::ofstream(policy) << text;
  const std::string v1_terms = "# code names\r\n  Nightingale  \r\n\n\tBlue Heron\n#Hidden\n";
  std::ofstream(terms, std::ios::binary) << v1_terms;

  auto p = LoadPolicy(policy, {"a"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->hash, Sha256Of(text + v1_terms));
  Assessment a = AssessUser(**p, "apollo, nightingale, blue heron, hidden, # code names");
  ASSERT_EQ(a.findings.size(), 3u);
  for (const auto& f : a.findings) EXPECT_EQ(f.category, "custom.codename");
  EXPECT_EQ(a.level, Level::kRestricted);

  // Editing the terms file alone changes the hash (so a reload takes it).
  std::ofstream(terms, std::ios::binary) << "Nightingale\nHidden\n";
  auto q = LoadPolicy(policy, {"a"});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_NE((*q)->hash, (*p)->hash);
  EXPECT_EQ(AssessUser(**q, "hidden").findings.size(), 1u);

  // A terms file with nothing but comments is an error at its line and column.
  std::ofstream(terms, std::ios::binary) << "# nothing\n\n";
  auto r = LoadPolicy(policy, {"a"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            policy + ":6:17: detectors[0].terms_file: terms file '" + terms +
                "' has no terms (expected one term per line; '#' starts a comment line)");

  std::remove(terms.c_str());
  std::remove(policy.c_str());
  rmdir(dir.c_str());
}

// ---------------------------------------------------------------------------------------------
// Decide

Assessment AtLevel(Level level) {
  Assessment a;
  a.level = level;
  return a;
}

TEST(Decide, FirstMatchingRuleWins) {
  auto p = Parse(
      "version: 1\n"
      "rules:\n"
      "  - id: conf\n"
      "    when: { level_at_least: confidential }\n"
      "    then: { route: super, transform: mask, fallbacks: [nano] }\n"
      "  - id: also-conf\n"
      "    when: { level_at_least: internal }\n"
      "    then: { route: frontier }\n"
      "default: { route: frontier, transform: pseudonymize }\n");
  ASSERT_NE(p, nullptr);
  const Decision d = Explain(*p, AtLevel(Level::kConfidential));
  EXPECT_EQ(d.rule_id, "conf");
  EXPECT_FALSE(d.deny);
  EXPECT_EQ(d.targets, (std::vector<std::string>{"super", "nano"}));
  EXPECT_EQ(d.transform, Transform::kMask);
  EXPECT_EQ(d.policy_hash, p->hash);
  EXPECT_EQ(d.explanation,
            "rule 'conf': level confidential >= confidential: match\n"
            "decision: route super (transform mask; fallbacks nano) by rule 'conf'");

  const Decision internal = Explain(*p, AtLevel(Level::kInternal));
  EXPECT_EQ(internal.rule_id, "also-conf");
  EXPECT_EQ(internal.targets, std::vector<std::string>{"frontier"});
  EXPECT_EQ(internal.transform, Transform::kNone);
  EXPECT_EQ(internal.explanation,
            "rule 'conf': level internal < confidential: no match\n"
            "rule 'also-conf': level internal >= internal: match\n"
            "decision: route frontier (transform none) by rule 'also-conf'");
}

TEST(Decide, DefaultWhenNothingMatches) {
  auto p = Parse(
      "version: 1\n"
      "rules:\n"
      "  - id: band\n"
      "    when: { level_at_least: internal, level_at_most: confidential }\n"
      "    then: { route: super }\n"
      "default: { route: frontier, transform: pseudonymize, fallbacks: [super] }\n");
  ASSERT_NE(p, nullptr);
  const Decision d = Explain(*p, AtLevel(Level::kRestricted));
  EXPECT_EQ(d.rule_id, "default");
  EXPECT_EQ(d.targets, (std::vector<std::string>{"frontier", "super"}));
  EXPECT_EQ(d.transform, Transform::kPseudonymize);
  EXPECT_EQ(d.explanation,
            "rule 'band': level restricted >= internal, level restricted > confidential: no "
            "match\n"
            "default: no rule matched\n"
            "decision: route frontier (transform pseudonymize; fallbacks super) by rule "
            "'default'");
  const Decision pub = Decide(*p, AtLevel(Level::kPublic));
  EXPECT_EQ(pub.rule_id, "default");
  EXPECT_EQ(Decide(*p, AtLevel(Level::kConfidential)).rule_id, "band");
}

TEST(Decide, DenyAndEmptyWhen) {
  auto p = Parse(
      "version: 1\n"
      "rules:\n"
      "  - id: secrets\n"
      "    when: { level_at_least: restricted }\n"
      "    then: { deny: \"restricted content is not served\" }\n"
      "  - id: everything-else\n"
      "    when: {}\n"
      "    then: { route: nano }\n"
      "default: { route: frontier }\n");
  ASSERT_NE(p, nullptr);
  const Decision d = Explain(*p, AtLevel(Level::kRestricted));
  EXPECT_EQ(d.rule_id, "secrets");
  EXPECT_TRUE(d.deny);
  EXPECT_EQ(d.deny_message, "restricted content is not served");
  EXPECT_TRUE(d.targets.empty());
  EXPECT_EQ(d.explanation,
            "rule 'secrets': level restricted >= restricted: match\n"
            "decision: deny \"restricted content is not served\" by rule 'secrets'");
  const Decision e = Explain(*p, AtLevel(Level::kPublic));
  EXPECT_EQ(e.rule_id, "everything-else");
  EXPECT_FALSE(e.deny);
  EXPECT_EQ(e.targets, std::vector<std::string>{"nano"});
  EXPECT_EQ(e.explanation,
            "rule 'secrets': level public < restricted: no match\n"
            "rule 'everything-else': no conditions: match\n"
            "decision: route nano (transform none) by rule 'everything-else'");
}

// A policy with one rule per kind of condition, each routing to a target named after it.
constexpr const char* kConditions = R"(version: 1
rules:
  - id: secrets
    when: { categories: { any: ["secret.*"] } }
    then: { deny: "no secrets" }
  - id: research
    when: { principal: { tenant: research } }
    then: { route: nano }
  - id: hard-and-long
    when: { difficulty: { at_least: 0.6 }, tokens: { at_least: 100 } }
    then: { route: frontier }
  - id: tools
    when: { tools: { any: [shell, browser] } }
    then: { route: super, transform: mask }
  - id: labelled
    when: { labels: { env: prod }, principal: { labels: { role: admin } } }
    then: { route: super }
  - id: hinted
    when: { target_hint: frontier, categories: { none: ["pii.*"] } }
    then: { route: frontier }
  - id: combined
    when:
      any:
        - { categories: { all: [pii.email, pii.phone] } }
        - not: { level_at_most: confidential }
    then: { route: nano }
default: { route: super }
)";

Assessment WithFindings(std::vector<std::string> categories, float difficulty = 0,
                        uint32_t tokens = 0) {
  Assessment a;
  for (std::string& c : categories) {
    classifier::Finding f;
    f.category = std::move(c);
    f.level = Level::kConfidential;
    a.level = std::max(a.level, f.level);
    a.findings.push_back(std::move(f));
  }
  a.difficulty = difficulty;
  a.estimated_tokens = tokens;
  return a;
}

TEST(Decide, EveryKindOfCondition) {
  auto p = Parse(kConditions);
  ASSERT_NE(p, nullptr);
  auto rule = [&](const Assessment& a, const RequestFacts& f = {}) {
    const Decision fast = Decide(*p, a, f);
    EXPECT_EQ(Explain(*p, a, f).rule_id, fast.rule_id);
    return fast.rule_id;
  };
  EXPECT_EQ(rule(WithFindings({"pii.email", "secret.aws_access_key"})), "secrets");
  RequestFacts research;
  research.tenant = "research";
  EXPECT_EQ(rule(WithFindings({}), research), "research");
  EXPECT_EQ(rule(WithFindings({}, 0.7f, 150)), "hard-and-long");
  EXPECT_EQ(rule(WithFindings({}, 0.7f, 50)), "default");  // long enough it is not
  RequestFacts tools;
  tools.tools = {"calculator", "browser"};
  EXPECT_EQ(rule(WithFindings({}), tools), "tools");
  RequestFacts labelled;
  labelled.labels = {{"env", "prod"}, {"team", "x"}};
  EXPECT_EQ(rule(WithFindings({}), labelled), "default");  // the principal lacks role=admin
  labelled.principal_labels = {{"role", "admin"}};
  EXPECT_EQ(rule(WithFindings({}), labelled), "labelled");
  RequestFacts hinted;
  hinted.target_hint = "frontier";
  EXPECT_EQ(rule(WithFindings({"custom.project"}), hinted), "hinted");
  EXPECT_EQ(rule(WithFindings({"pii.email"}), hinted), "default");  // pii.* present
  EXPECT_EQ(rule(WithFindings({"pii.email", "pii.phone"})), "combined");
  EXPECT_EQ(rule(WithFindings({"pii.email"})), "default");
  Assessment restricted = WithFindings({});
  restricted.level = Level::kRestricted;
  EXPECT_EQ(rule(restricted), "combined");  // not (level <= confidential)
}

TEST(Decide, ExplainSaysWhatEachConditionFound) {
  auto p = Parse(kConditions);
  ASSERT_NE(p, nullptr);
  RequestFacts f;
  f.tenant = "acme";
  f.tools = {"calculator"};
  const Decision d = Explain(*p, WithFindings({"pii.email"}, 0.25f, 40), f);
  EXPECT_EQ(d.explanation,
            "rule 'secrets': categories any of [secret.*]: none found: no match\n"
            "rule 'research': tenant 'acme' not in [research]: no match\n"
            "rule 'hard-and-long': difficulty 0.25 < 0.60, tokens 40 < 100: no match\n"
            "rule 'tools': tools any of [shell, browser]: none defined: no match\n"
            "rule 'labelled': principal label role missing (want admin), label env missing "
            "(want prod): no match\n"
            "rule 'hinted': categories none of [pii.*]: found pii.email, target hint '' not in "
            "[frontier]: no match\n"
            "rule 'combined': any(categories all of [pii.email, pii.phone]: missing pii.phone; "
            "not(level confidential <= confidential)): no match\n"
            "default: no rule matched\n"
            "decision: route super (transform none) by rule 'default'");
}

TEST(ParsePolicy, ConditionsNestedTooDeepAreRefused) {
  std::string when = "{}";
  for (int i = 0; i < 20; ++i) when = "{ not: " + when + " }";
  const std::string text =
      "version: 1\ndefault: { route: nano }\nrules:\n  - id: a\n    when: " + when +
      "\n    then: { route: nano }\n";
  EXPECT_THAT(Error(text), ::testing::HasSubstr("conditions nested too deep (at most 16 levels"));
}

TEST(Decide, IsExplainWithoutTheText) {
  auto p = Parse(
      "version: 1\n"
      "rules:\n"
      "  - id: secrets\n"
      "    when: { level_at_least: restricted }\n"
      "    then: { deny: \"no\" }\n"
      "  - id: band\n"
      "    when: { level_at_least: internal, level_at_most: confidential }\n"
      "    then: { route: super, transform: mask, fallbacks: [nano] }\n"
      "default: { route: frontier, transform: pseudonymize }\n");
  ASSERT_NE(p, nullptr);
  for (Level level : {Level::kPublic, Level::kInternal, Level::kConfidential, Level::kRestricted}) {
    const Decision fast = Decide(*p, AtLevel(level));
    const Decision full = Explain(*p, AtLevel(level));
    EXPECT_TRUE(fast.explanation.empty());
    EXPECT_FALSE(full.explanation.empty());
    EXPECT_EQ(fast.rule_id, full.rule_id);
    EXPECT_EQ(fast.deny, full.deny);
    EXPECT_EQ(fast.deny_message, full.deny_message);
    EXPECT_EQ(fast.targets, full.targets);
    EXPECT_EQ(fast.transform, full.transform);
    EXPECT_EQ(fast.policy_hash, full.policy_hash);
  }
}

}  // namespace
}  // namespace airlock::router
