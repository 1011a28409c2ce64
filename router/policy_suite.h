// PolicySuite: a policy's test file (policies/NAME_test.yaml next to policies/NAME.yaml),
// parsed, and run against the policy. `airlock policy test` prints what RunPolicySuite finds.
//
// Format (version 1). Example:
//
//   version: 1
//   cases:
//     - name: an AWS key never leaves Nano           # required, unique
//       text: "deploy with AKIAIOSFODNN7EXAMPLE"     # one user message ...
//       expect: { rule: secrets-stay-home, route: nano }
//     - name: research may not use the frontier
//       request:                                     # ... or a whole ChatRequest
//         messages:
//           - { role: system, content: "You are terse." }
//           - { role: user, content: "Prove the Collatz conjecture step by step." }
//         tools: [{ name: search }]
//         labels: { project: apollo }
//         target_hint: frontier
//       principal: { tenant: research, subject: alice, labels: { team: ml } }
//       expect: { deny: true, rule: research-no-frontier }
//     - name: what the model calls health data stays home
//       text: "How is she doing since the operation?"
//       model: { pii.health: { yes: 0.7 }, level: { public: 0.6, internal: 0.4 } }
//       expect: { level: restricted, route: nano }
//
// Top-level keys: version (required, 1), cases (required, a non-empty list).
// Case keys: name (required, unique among the cases), text or request (exactly one), principal
// (optional), model (optional), expect (required).
//   text        a string: the request is one USER message with it as content
//   request     a ChatRequest (airlock/v1/gateway.proto) written as YAML in the protobuf JSON
//               mapping: field names as in the proto or lowerCamelCase, enum names
//               case-insensitive ("user" = "USER"); unknown fields are errors
//   principal   { tenant: NAME, subject: NAME, labels: { KEY: VALUE, ... } }, each optional:
//               the authenticated principal the rules see (none: an empty one)
//   model       the model stage's answers (classifier/model_stage.h), as a gateway with
//               `classifier.model` would get them: { QUESTION: { LABEL: PROBABILITY, ... } }
//               with QUESTION level (labels public, internal, confidential, restricted),
//               difficulty (easy, hard) or a category (no, yes; at the level the default
//               questions give it, confidential otherwise). Labels not given share what the
//               given ones leave of 1. They are read through the policy's `model` section and
//               merged into the assessment as the gateway merges them (never lowering it).
//   expect      what the decision must be; each key given is checked, at least one is needed:
//                 rule: ID            the deciding rule's id ("default" for the default)
//                 route: TARGET       the first target (the request is not denied)
//                 transform: none|mask|pseudonymize
//                 fallbacks: [TARGET, ...]   the fallbacks, in order ([] for none)
//                 deny: true|false    whether the request is denied
//                 deny_message: TEXT  the deny message, exactly (implies deny: true)
//                 level: LEVEL        the assessment's overall level
// route / transform / fallbacks cannot be given with deny: true or deny_message.
//
// Errors are INVALID_ARGUMENT "FILE:LINE:COLUMN: PATH: what was expected" (router/yaml_reader.h).
//
// Each case is assessed with the policy's own classifier (and its model answers, if given) and
// decided with router::Explain, as the gateway would decide it (router/policy.h), so a test
// passes only if the detectors, the levels, the model thresholds and the rules together give
// what it expects.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "airlock/v1/gateway.pb.h"
#include "classifier/level.h"
#include "classifier/model_stage.h"
#include "router/policy.h"
#include "router/transform.h"

namespace airlock::router {

struct PolicyExpectation {
  std::optional<std::string> rule;
  std::optional<std::string> route;
  std::optional<Transform> transform;
  std::optional<std::vector<std::string>> fallbacks;
  std::optional<bool> deny;
  std::optional<std::string> deny_message;
  std::optional<classifier::Level> level;
};

struct PolicyCase {
  std::string name;
  int line = 0;  // 1-based line of the case in the test file
  v1::ChatRequest request;
  std::string tenant;
  std::string subject;
  std::map<std::string, std::string> principal_labels;
  std::optional<classifier::ModelVerdict> model;  // the model stage's answers, if given
  PolicyExpectation expect;
};

struct PolicySuite {
  std::string path;
  std::vector<PolicyCase> cases;
};

// Parses test-file text. `filename` is used in error messages only.
absl::StatusOr<PolicySuite> ParsePolicySuite(std::string_view text, std::string_view filename);
// Reads and parses the file at path (I/O errors carry the errno's code).
absl::StatusOr<PolicySuite> LoadPolicySuite(const std::string& path);
// "DIR/NAME_test.yaml" for "DIR/NAME.yaml" (or "DIR/NAME.yml"); PATH + "_test.yaml" otherwise.
std::string PolicySuitePathFor(const std::string& policy_path);

struct CaseResult {
  const PolicyCase* test = nullptr;
  classifier::Level level = classifier::Level::kPublic;  // the assessment's
  Decision decision;                                     // with its explanation
  // One entry per expectation that does not hold: {what, expected, got}, e.g.
  // {"route", "super", "nano"}. Empty: the case passes.
  struct Mismatch {
    std::string what;
    std::string expected;
    std::string got;
  };
  std::vector<Mismatch> mismatches;
  bool passed() const { return mismatches.empty(); }
};

struct SuiteResult {
  std::vector<CaseResult> cases;  // in the suite's order
  size_t failed = 0;
  // Rule coverage: every rule and the default, each reached (decided) by some case or not.
  struct RuleCoverage {
    const Rule* rule = nullptr;
    size_t cases = 0;  // how many cases it decided
  };
  std::vector<RuleCoverage> rules;  // the policy's rules in order, then the default
  size_t reached = 0;               // rules (and default) with cases > 0
  double coverage_percent() const {
    return rules.empty() ? 100.0 : 100.0 * static_cast<double>(reached) / rules.size();
  }
};

// Runs every case of suite against policy. Pure, apart from the classifier's work. The result
// points into both (CaseResult::test, RuleCoverage::rule): they must outlive it.
SuiteResult RunPolicySuite(const Policy& policy, const PolicySuite& suite);

}  // namespace airlock::router
