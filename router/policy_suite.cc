#include "router/policy_suite.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "classifier/category.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "router/yaml_reader.h"

namespace airlock::router {
namespace {

using classifier::Level;

// A YAML node as JSON for protobuf's JSON parser. Every scalar becomes a JSON string: the
// parser reads numbers and booleans from strings too, while a string field given a JSON number
// would be an error ("content: 42").
nlohmann::json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& kv : node) object[kv.first.Scalar()] = ToJson(kv.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& item : node) array.push_back(ToJson(item));
      return array;
    }
    case YAML::NodeType::Scalar:
      return node.Scalar();
    default:
      return nullptr;
  }
}

class SuiteReader : public YamlReader {
 public:
  using YamlReader::YamlReader;

  PolicySuite Read(std::string_view text) const {
    const YAML::Node root = Load(text);
    const Entries top =
        Mapping(root, root.Mark(), "", {"version", "cases"}, "a mapping with keys version, cases");
    const Entry& version = Required(top, root, "", "version", "expected version: 1");
    if (!version.value.IsScalar() || version.value.Scalar() != "1") {
      Fail(version.where(), "version", "unsupported version (expected 1)");
    }
    const Entry& cases = Required(top, root, "", "cases", "a list of test cases");
    if (!cases.value.IsSequence() || cases.value.size() == 0) {
      Fail(cases.where(), "cases", "expected a non-empty list of test cases");
    }
    PolicySuite suite;
    suite.path = std::string(filename());
    std::map<std::string, int> names;  // name -> line
    for (size_t i = 0; i < cases.value.size(); ++i) {
      const std::string path = "cases[" + std::to_string(i) + "]";
      PolicyCase c = Case(cases.value[i], path);
      if (auto [prev, inserted] = names.emplace(c.name, c.line); !inserted) {
        Fail(cases.value[i].Mark(), path + ".name",
             "duplicate case name '" + c.name + "' (first used at line " +
                 std::to_string(prev->second) + ")");
      }
      suite.cases.push_back(std::move(c));
    }
    return suite;
  }

 private:
  PolicyCase Case(const YAML::Node& node, const std::string& path) const {
    const Entries e = Mapping(
        node, node.Mark(), path, {"name", "text", "request", "principal", "model", "expect"},
        "a test case: a mapping with name, text or request, principal, model and "
        "expect");
    PolicyCase c;
    c.line = node.Mark().line + 1;
    const Entry& name = Required(e, node, path, "name", "a name for the case");
    c.name = Scalar(name.value, name.where(), path + ".name", "a name");
    if (c.name.empty()) Fail(name.where(), path + ".name", "expected a non-empty name");

    const auto text = e.find("text");
    const auto request = e.find("request");
    if ((text == e.end()) == (request == e.end())) {
      Fail(node.Mark(), path,
           text == e.end() ? "expected 'text' or 'request' (the request to decide); found neither"
                           : "expected 'text' or 'request', not both");
    }
    if (text != e.end()) {
      v1::Message* m = c.request.add_messages();
      m->set_role(v1::Message::USER);
      m->set_content(Scalar(text->second.value, text->second.where(), path + ".text", "text"));
    } else {
      c.request = Request(request->second, path + ".request");
    }
    if (auto it = e.find("principal"); it != e.end()) Principal(it->second, path, &c);
    if (auto it = e.find("model"); it != e.end()) c.model = Model(it->second, path + ".model");
    const Entry& expect = Required(e, node, path, "expect", "what the decision must be");
    c.expect = Expect(expect, path + ".expect");
    return c;
  }

  v1::ChatRequest Request(const Entry& e, const std::string& path) const {
    if (!e.value.IsMap()) Fail(e.where(), path, "expected a ChatRequest (a mapping)");
    const std::string json = ToJson(e.value).dump();
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    options.case_insensitive_enum_parsing = true;
    v1::ChatRequest request;
    const auto status = google::protobuf::util::JsonStringToMessage(json, &request, options);
    if (!status.ok()) {
      std::string reason(status.message());
      for (char& ch : reason) {  // protobuf's message may span lines: keep one
        if (ch == '\n' || ch == '\r') ch = ' ';
      }
      Fail(e.where(), path,
           "not a ChatRequest: " + reason +
               " (expected the API's fields: messages, tools, sampling, labels, target_hint)");
    }
    return request;
  }

  void Principal(const Entry& e, const std::string& case_path, PolicyCase* c) const {
    const std::string path = case_path + ".principal";
    const Entries p = Mapping(e.value, e.where(), path, {"tenant", "subject", "labels"},
                              "a mapping with tenant, subject and/or labels");
    if (auto it = p.find("tenant"); it != p.end()) {
      c->tenant = Scalar(it->second.value, it->second.where(), path + ".tenant", "a tenant name");
    }
    if (auto it = p.find("subject"); it != p.end()) {
      c->subject =
          Scalar(it->second.value, it->second.where(), path + ".subject", "a subject name");
    }
    if (auto it = p.find("labels"); it != p.end()) {
      c->principal_labels = StringMap(it->second, path + ".labels");
    }
  }

  // `model`: the model stage's answers, question -> label -> probability.
  classifier::ModelVerdict Model(const Entry& e, const std::string& path) const {
    if (!e.value.IsMap() || e.value.size() == 0) {
      Fail(e.where(), path,
           "expected a mapping of question (level, difficulty or a category) to its answer, "
           "such as pii.health: { yes: 0.8 }");
    }
    auto questions = std::make_shared<std::vector<classifier::ModelQuestion>>();
    classifier::ModelVerdict verdict;
    for (const auto& kv : e.value) {
      const YAML::Node& key = kv.first;
      const std::string id = Scalar(key, key.Mark(), path, "a question");
      const std::string at = path + "." + id;
      const std::vector<std::string> classes = classifier::DefaultClasses(id);
      if (id != "level" && id != "difficulty" && !classifier::IsValidCategory(id)) {
        Fail(key.Mark(), path,
             "'" + id +
                 "' is not a question (expected level, difficulty or a category such as "
                 "pii.health)");
      }
      for (const classifier::ModelQuestion& q : *questions) {
        if (q.id == id) Fail(key.Mark(), path, "duplicate question '" + id + "'");
      }
      const Entry answer{key, kv.second};
      const Entries given = Mapping(kv.second, answer.where(), at, classes,
                                    "a mapping of " + Join(classes, ", ") + " to probabilities");
      if (given.empty()) Fail(answer.where(), at, "expected at least one probability");
      std::vector<float> p(classes.size(), 0.0f);
      double sum = 0;
      for (size_t k = 0; k < classes.size(); ++k) {
        if (auto it = given.find(classes[k]); it != given.end()) {
          p[k] = static_cast<float>(Number(it->second, at + "." + classes[k], 0, 1, false));
          sum += p[k];
        }
      }
      const size_t missing = classes.size() - given.size();
      if (sum > 1 + 1e-6 || (missing == 0 && sum < 1 - 1e-3)) {
        Fail(answer.where(), at,
             "the probabilities add up to " + std::to_string(sum) +
                 (missing == 0 ? " (expected 1)" : " (expected at most 1)"));
      }
      for (size_t k = 0; k < classes.size(); ++k) {  // the labels not given share the rest
        if (given.count(classes[k]) == 0) {
          p[k] = static_cast<float>((1 - sum) / static_cast<double>(missing));
        }
      }
      questions->push_back(*classifier::QuestionOf(id, classes));
      verdict.probabilities.push_back(std::move(p));
    }
    verdict.questions = std::move(questions);
    return verdict;
  }

  PolicyExpectation Expect(const Entry& entry, const std::string& path) const {
    const Entries e = Mapping(
        entry.value, entry.where(), path,
        {"rule", "route", "transform", "fallbacks", "deny", "deny_message", "level"},
        "a mapping with rule, route, transform, fallbacks, deny, deny_message and/or level");
    if (e.empty()) Fail(entry.where(), path, "expected at least one expectation; found none");
    PolicyExpectation x;
    auto text = [&](const char* key) {
      const Entry& v = e.at(key);
      std::string s = Scalar(v.value, v.where(), path + "." + key, "text");
      if (s.empty()) Fail(v.where(), path + "." + key, "expected a non-empty value");
      return s;
    };
    if (e.count("rule")) x.rule = text("rule");
    if (e.count("route")) x.route = text("route");
    if (auto it = e.find("transform"); it != e.end()) {
      const std::string name = text("transform");
      x.transform = ParseTransform(name);
      if (!x.transform) {
        Fail(it->second.where(), path + ".transform",
             "unknown transform '" + name + "' (expected none, mask, pseudonymize)");
      }
    }
    if (auto it = e.find("fallbacks"); it != e.end()) {
      const std::string fpath = path + ".fallbacks";
      if (!it->second.value.IsSequence()) {
        Fail(it->second.where(), fpath, "expected a list of target names ([] for none)");
      }
      x.fallbacks.emplace();
      for (const auto& item : it->second.value) {
        x.fallbacks->push_back(Scalar(item, item.Mark(), fpath, "a target name"));
      }
    }
    if (auto it = e.find("deny"); it != e.end()) x.deny = Bool(it->second, path + ".deny");
    if (e.count("deny_message")) {
      x.deny_message = text("deny_message");
      if (x.deny == false) {
        Fail(e.at("deny_message").key.Mark(), path,
             "deny_message cannot be given with deny: false");
      }
      x.deny = true;
    }
    if (auto it = e.find("level"); it != e.end()) {
      x.level = ParseLevelNode(it->second, path + ".level");
    }
    if (x.deny == true) {
      for (const char* key : {"route", "transform", "fallbacks"}) {
        if (auto it = e.find(key); it != e.end()) {
          Fail(it->second.key.Mark(), path,
               std::string("'") + key +
                   "' cannot be expected of a denied request (expected deny or a route, not "
                   "both)");
        }
      }
    }
    return x;
  }
};

std::string ListText(const std::vector<std::string>& names) {
  return "[" + Join(names, ", ") + "]";
}

}  // namespace

absl::StatusOr<PolicySuite> ParsePolicySuite(std::string_view text, std::string_view filename) {
  return YamlReader::Catch<PolicySuite>(filename, [&] { return SuiteReader(filename).Read(text); });
}

absl::StatusOr<PolicySuite> LoadPolicySuite(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return absl::Status(absl::ErrnoToStatusCode(err),
                        path + ": cannot open policy test file: " + std::strerror(err));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return absl::DataLossError(path + ": cannot read policy test file");
  return ParsePolicySuite(bytes.str(), path);
}

std::string PolicySuitePathFor(const std::string& policy_path) {
  for (std::string_view ext : {".yaml", ".yml"}) {
    if (policy_path.size() > ext.size() &&
        policy_path.compare(policy_path.size() - ext.size(), ext.size(), ext) == 0) {
      return policy_path.substr(0, policy_path.size() - ext.size()) + "_test.yaml";
    }
  }
  return policy_path + "_test.yaml";
}

SuiteResult RunPolicySuite(const Policy& policy, const PolicySuite& suite) {
  SuiteResult result;
  std::map<std::string, size_t> index;  // rule id -> position in result.rules
  for (const Rule& rule : policy.rules) {
    index[rule.id] = result.rules.size();
    result.rules.push_back({&rule, 0});
  }
  index[policy.default_rule.id] = result.rules.size();
  result.rules.push_back({&policy.default_rule, 0});

  for (const PolicyCase& c : suite.cases) {
    CaseResult r;
    r.test = &c;
    classifier::Assessment assessment = policy.classifier->Assess(c.request);
    if (c.model) MergeModelVerdict(*c.model, *policy.classifier, true, &assessment);
    r.level = assessment.level;
    r.decision = Explain(policy, assessment,
                         RequestFactsOf(c.request, c.tenant, c.subject, c.principal_labels));
    const Decision& d = r.decision;
    if (auto it = index.find(d.rule_id); it != index.end()) ++result.rules[it->second].cases;

    const PolicyExpectation& x = c.expect;
    auto check = [&](const char* what, const std::string& expected, const std::string& got) {
      if (expected != got) r.mismatches.push_back({what, expected, got});
    };
    const std::string route = d.deny ? "(denied)" : d.targets.front();
    const std::vector<std::string> fallbacks =
        d.deny ? std::vector<std::string>{}
               : std::vector<std::string>(d.targets.begin() + 1, d.targets.end());
    if (x.rule) check("rule", *x.rule, d.rule_id);
    if (x.deny) check("deny", *x.deny ? "true" : "false", d.deny ? "true" : "false");
    if (x.deny_message) check("deny_message", *x.deny_message, d.deny_message);
    if (x.route) check("route", *x.route, route);
    if (x.transform) {
      check("transform", std::string(TransformName(*x.transform)),
            d.deny ? "(denied)" : std::string(TransformName(d.transform)));
    }
    if (x.fallbacks) {
      check("fallbacks", ListText(*x.fallbacks), d.deny ? "(denied)" : ListText(fallbacks));
    }
    if (x.level) {
      check("level", std::string(classifier::LevelName(*x.level)),
            std::string(classifier::LevelName(r.level)));
    }
    if (!r.passed()) ++result.failed;
    result.cases.push_back(std::move(r));
  }
  for (const SuiteResult::RuleCoverage& rc : result.rules) result.reached += rc.cases > 0;
  return result;
}

}  // namespace airlock::router
