#include "router/policy.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "classifier/category.h"
#include "re2/re2.h"
#include "router/yaml_reader.h"
#include "yaml-cpp/yaml.h"

namespace airlock::router {
namespace {

using classifier::Level;
using classifier::LevelName;

// SHA-256 of the concatenation of parts, lowercase hex; empty if OpenSSL fails.
std::string Sha256Hex(const std::vector<std::string_view>& parts) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  for (std::string_view part : parts) {
    ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx, digest, &size) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

bool ValidId(std::string_view id) {
  if (id.empty()) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

class Parser : public YamlReader {
 public:
  Parser(std::string_view filename, const std::set<std::string>& known_targets)
      : YamlReader(filename), filename_(filename), known_targets_(known_targets) {}

  std::string Target(const YAML::Node& node, const YAML::Mark& mark,
                     const std::string& path) const {
    const std::string name = Scalar(node, mark, path, "a target name");
    if (known_targets_.count(name) == 0) {
      std::vector<std::string> known(known_targets_.begin(), known_targets_.end());
      Fail(mark, path,
           "unknown target '" + name + "' (" +
               (known.empty() ? std::string("no targets are configured")
                              : "expected one of " + Join(known, ", ")) +
               ")");
    }
    return name;
  }

  // Reads a terms file: one term per line, surrounding blanks trimmed, blank lines and lines
  // starting with '#' skipped. Its bytes are kept for the policy's hash.
  std::vector<std::string> TermsFile(const Entry& e, const std::string& path) {
    const std::string name = Scalar(e.value, e.where(), path, "a file path");
    if (name.empty()) Fail(e.where(), path, "expected a file path, found an empty string");
    std::filesystem::path file(name);
    if (file.is_relative()) file = std::filesystem::path(filename_).parent_path() / file;
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      const int err = errno;
      Fail(e.where(), path,
           "cannot open terms file '" + file.string() + "': " + std::strerror(err));
    }
    std::string bytes;
    char buffer[1 << 16];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
      bytes.append(buffer, static_cast<size_t>(in.gcount()));
      if (bytes.size() > kMaxTermsFileBytes) {
        Fail(e.where(), path,
             "terms file '" + file.string() + "' is larger than " +
                 std::to_string(kMaxTermsFileBytes >> 20) + " MiB");
      }
    }
    if (in.bad()) Fail(e.where(), path, "cannot read terms file '" + file.string() + "'");
    std::vector<std::string> terms;
    size_t start = 0;
    while (start < bytes.size()) {
      size_t nl = bytes.find('\n', start);
      if (nl == std::string::npos) nl = bytes.size();
      size_t b = start, end = nl;
      while (b < end && (bytes[b] == ' ' || bytes[b] == '\t' || bytes[b] == '\r')) ++b;
      while (end > b &&
             (bytes[end - 1] == ' ' || bytes[end - 1] == '\t' || bytes[end - 1] == '\r')) {
        --end;
      }
      if (end > b && bytes[b] != '#') terms.emplace_back(bytes, b, end - b);
      start = nl + 1;
    }
    if (terms.empty()) {
      Fail(e.where(), path,
           "terms file '" + file.string() +
               "' has no terms (expected one term "
               "per line; '#' starts a comment line)");
    }
    extra_bytes_.push_back(std::move(bytes));
    extra_files_.push_back(file.string());
    return terms;
  }

  // One entry of `detectors`, added to options.
  void DetectorEntry(const YAML::Node& node, const std::string& path,
                     std::map<std::string, int>* categories,
                     classifier::ClassifierOptions* options) {
    const Entries e = Mapping(
        node, node.Mark(), path,
        {"category", "level", "terms", "terms_file", "pattern", "case_sensitive", "word_boundary"},
        "a detector: a mapping with category, level and terms, terms_file or pattern");
    const Entry& cat = Required(e, node, path, "category",
                                "expected a category such as "
                                "custom.project");
    const std::string category = Scalar(cat.value, cat.where(), path + ".category", "a category");
    if (!classifier::IsValidCategory(category)) {
      Fail(cat.where(), path + ".category",
           "invalid category '" + category +
               "' (expected dotted lower-case segments such as custom.project: a-z, 0-9, '_', "
               "'-', each segment starting with a letter)");
    }
    for (const char* reserved : {"pii.", "secret."}) {
      if (category.rfind(reserved, 0) == 0) {
        Fail(cat.where(), path + ".category",
             "category '" + category + "' is in the built-in namespace '" + reserved +
                 "' (expected a category of your own, such as custom." +
                 category.substr(std::string_view(reserved).size()) +
                 "; to change a built-in category's level use 'levels')");
      }
    }
    const int line = cat.key.Mark().line + 1;
    if (auto [prev, inserted] = categories->emplace(category, line); !inserted) {
      Fail(cat.where(), path + ".category",
           "duplicate category '" + category + "' (first defined at line " +
               std::to_string(prev->second) + "; expected each category once)");
    }
    const Entry& level_entry = Required(e, node, path, "level", "expected one of " + LevelNames());
    const Level level = ParseLevelNode(level_entry, path + ".level");
    bool case_sensitive = false;
    if (auto it = e.find("case_sensitive"); it != e.end()) {
      case_sensitive = Bool(it->second, path + ".case_sensitive");
    }

    const auto pattern = e.find("pattern");
    const auto terms = e.find("terms");
    const auto terms_file = e.find("terms_file");
    if (pattern == e.end() && terms == e.end() && terms_file == e.end()) {
      Fail(node.Mark(), path, "expected 'terms', 'terms_file' or 'pattern'; found none");
    }
    if (pattern != e.end()) {
      for (auto other : {terms, terms_file, e.find("word_boundary")}) {
        if (other == e.end()) continue;
        Fail(other->second.key.Mark(), path,
             "'" + other->first +
                 "' cannot be given with 'pattern' (expected a pattern or "
                 "terms, one detector each)");
      }
      classifier::PatternRule rule;
      rule.name = category;
      rule.category = category;
      rule.level = level;
      rule.case_insensitive = !case_sensitive;
      rule.confidence = 1.0f;
      rule.pattern = Scalar(pattern->second.value, pattern->second.where(), path + ".pattern",
                            "an RE2 pattern");
      if (rule.pattern.empty()) {
        Fail(pattern->second.where(), path + ".pattern", "expected a non-empty RE2 pattern");
      }
      RE2::Options o;
      o.set_encoding(RE2::Options::EncodingLatin1);  // as PatternSetDetector compiles it
      o.set_case_sensitive(case_sensitive);
      o.set_log_errors(false);
      RE2 re(rule.pattern, o);
      if (!re.ok()) {
        Fail(pattern->second.where(), path + ".pattern",
             "invalid RE2 pattern: " + re.error() +
                 " (RE2 syntax, see "
                 "https://github.com/google/re2/wiki/Syntax)");
      }
      if (RE2::FullMatch("", re)) {
        Fail(pattern->second.where(), path + ".pattern",
             "pattern matches the empty string (expected a pattern that needs at least one "
             "character)");
      }
      options->custom_patterns.push_back(std::move(rule));
      return;
    }

    classifier::TermList list;
    list.category = category;
    list.name = category;
    list.level = level;
    list.case_sensitive = case_sensitive;
    if (auto it = e.find("word_boundary"); it != e.end()) {
      list.word_boundary = Bool(it->second, path + ".word_boundary");
    }
    if (terms != e.end()) {
      const std::string tpath = path + ".terms";
      const YAML::Node& seq = terms->second.value;
      if (!seq.IsSequence()) Fail(terms->second.where(), tpath, "expected a list of terms");
      if (seq.size() == 0) {
        Fail(terms->second.where(), tpath, "expected at least one term, found an empty list");
      }
      for (size_t i = 0; i < seq.size(); ++i) {
        const std::string ipath = tpath + "[" + std::to_string(i) + "]";
        std::string term = Scalar(seq[i], seq[i].Mark(), ipath, "a term (text)");
        if (term.find_first_not_of(" \t\r\n") == std::string::npos) {
          Fail(seq[i].Mark(), ipath, "expected a non-empty term");
        }
        list.terms.push_back(std::move(term));
      }
    }
    if (terms_file != e.end()) {
      std::vector<std::string> more = TermsFile(terms_file->second, path + ".terms_file");
      list.terms.insert(list.terms.end(), std::make_move_iterator(more.begin()),
                        std::make_move_iterator(more.end()));
    }
    options->term_lists.push_back(std::move(list));
  }

  // A mapping of category (or glob) to a value, `what`: each key a valid glob, given once;
  // read(glob, entry, path) reads each value, path naming it ("levels.pii.phone").
  template <typename Read>
  void CategoryMap(const Entry& entry, const std::string& path, const std::string& what,
                   Read read) const {
    const YAML::Node& map = entry.value;
    if (!map.IsMap()) {
      Fail(entry.where(), path,
           "expected a mapping of category (or glob such as 'secret.*') to " + what);
    }
    std::map<std::string, int> seen;
    for (const auto& kv : map) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) Fail(key.Mark(), path, "expected a category or category glob");
      const std::string glob = key.Scalar();
      if (absl::Status valid = classifier::ValidateCategoryGlob(glob); !valid.ok()) {
        Fail(key.Mark(), path, std::string(valid.message()));
      }
      if (auto [prev, inserted] = seen.emplace(glob, key.Mark().line + 1); !inserted) {
        Fail(key.Mark(), path,
             "duplicate key '" + glob + "' (first given at line " + std::to_string(prev->second) +
                 ")");
      }
      read(glob, Entry{key, kv.second}, path + "." + glob);
    }
  }

  void Levels(const Entry& entry, classifier::ClassifierOptions* options) const {
    CategoryMap(entry, "levels", "level",
                [&](const std::string& glob, const Entry& value, const std::string& path) {
                  options->level_overrides.push_back(
                      classifier::LevelOverride{glob, ParseLevelNode(value, path)});
                });
  }

  // `model`: how the model stage's answers are read (classifier::ModelThresholds).
  void Model(const Entry& entry, classifier::ClassifierOptions* options) const {
    const Entries e = Mapping(entry.value, entry.where(), "model", {"level_at", "categories"},
                              "a mapping with level_at and/or categories");
    classifier::ModelThresholds& m = options->model;
    if (auto it = e.find("level_at"); it != e.end()) {
      const Entries at =
          Mapping(it->second.value, it->second.where(), "model.level_at",
                  {"internal", "confidential", "restricted"},
                  "a mapping of internal, confidential and/or restricted to a probability");
      const char* names[] = {"internal", "confidential", "restricted"};
      for (size_t k = 0; k < 3; ++k) {
        if (auto l = at.find(names[k]); l != at.end()) {
          m.level_at[k] = static_cast<float>(
              Number(l->second, std::string("model.level_at.") + names[k], 0, 1, false));
        }
      }
    }
    if (auto it = e.find("categories"); it != e.end()) {
      CategoryMap(it->second, "model.categories", "a probability",
                  [&](const std::string& glob, const Entry& value, const std::string& path) {
                    m.categories.emplace_back(glob,
                                              static_cast<float>(Number(value, path, 0, 1, false)));
                  });
    }
  }

  std::vector<std::string> Globs(const Entry& e, const std::string& path) const {
    std::vector<std::string> globs = Names(e, path, "category globs", false);
    for (const std::string& g : globs) {
      if (absl::Status valid = classifier::ValidateCategoryGlob(g); !valid.ok()) {
        Fail(e.where(), path, std::string(valid.message()));
      }
    }
    return globs;
  }

  // The range keys at_least / at_most of a mapping.
  template <typename T>
  void Range(const Entry& e, const std::string& path, bool integer, std::optional<T>* at_least,
             std::optional<T>* at_most) const {
    const Entries r = Mapping(e.value, e.where(), path, {"at_least", "at_most"},
                              "a mapping with at_least and/or at_most");
    const double hi = integer ? 1e18 : 1.0;
    if (auto it = r.find("at_least"); it != r.end()) {
      *at_least = static_cast<T>(Number(it->second, path + ".at_least", 0, hi, integer));
    }
    if (auto it = r.find("at_most"); it != r.end()) {
      *at_most = static_cast<T>(Number(it->second, path + ".at_most", 0, hi, integer));
    }
    if (r.empty()) Fail(e.where(), path, "expected at_least and/or at_most, found neither");
    if (*at_least && *at_most && **at_least > **at_most) {
      Fail(e.where(), path, "at_least is above at_most (this condition could never hold)");
    }
  }

  static constexpr int kMaxWhenDepth = 16;

  Condition When(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
                 int depth = 0) const {
    if (depth > kMaxWhenDepth) {
      Fail(mark, path,
           "conditions nested too deep (at most " + std::to_string(kMaxWhenDepth) +
               " levels of all / any / not)");
    }
    const Entries e =
        Mapping(node, mark, path,
                {"level_at_least", "level_at_most", "categories", "difficulty", "tokens",
                 "principal", "labels", "tools", "target_hint", "all", "any", "not"},
                "a mapping of conditions (use {} to match every request)");
    Condition c;
    if (auto it = e.find("level_at_least"); it != e.end()) {
      c.level_at_least = ParseLevelNode(it->second, path + ".level_at_least");
    }
    if (auto it = e.find("level_at_most"); it != e.end()) {
      c.level_at_most = ParseLevelNode(it->second, path + ".level_at_most");
    }
    if (c.level_at_least && c.level_at_most && *c.level_at_least > *c.level_at_most) {
      Fail(mark, path,
           "level_at_least " + std::string(LevelName(*c.level_at_least)) +
               " is above level_at_most " + std::string(LevelName(*c.level_at_most)) +
               " (expected level_at_least <= level_at_most; this rule could never match)");
    }
    if (auto it = e.find("categories"); it != e.end()) {
      const std::string p = path + ".categories";
      const Entries cat = Mapping(it->second.value, it->second.where(), p, {"any", "all", "none"},
                                  "a mapping with any, all and/or none (lists of globs)");
      if (cat.empty()) Fail(it->second.where(), p, "expected any, all and/or none; found none");
      if (auto g = cat.find("any"); g != cat.end()) c.categories_any = Globs(g->second, p + ".any");
      if (auto g = cat.find("all"); g != cat.end()) c.categories_all = Globs(g->second, p + ".all");
      if (auto g = cat.find("none"); g != cat.end()) {
        c.categories_none = Globs(g->second, p + ".none");
      }
    }
    if (auto it = e.find("difficulty"); it != e.end()) {
      Range(it->second, path + ".difficulty", false, &c.difficulty_at_least, &c.difficulty_at_most);
    }
    if (auto it = e.find("tokens"); it != e.end()) {
      Range(it->second, path + ".tokens", true, &c.tokens_at_least, &c.tokens_at_most);
    }
    if (auto it = e.find("principal"); it != e.end()) {
      const std::string p = path + ".principal";
      const Entries pr =
          Mapping(it->second.value, it->second.where(), p, {"tenant", "subject", "labels"},
                  "a mapping with tenant, subject and/or labels");
      if (pr.empty()) Fail(it->second.where(), p, "expected tenant, subject and/or labels");
      if (auto t = pr.find("tenant"); t != pr.end()) {
        c.tenants = Names(t->second, p + ".tenant", "tenant names", true);
      }
      if (auto t = pr.find("subject"); t != pr.end()) {
        c.subjects = Names(t->second, p + ".subject", "subject names", true);
      }
      if (auto t = pr.find("labels"); t != pr.end()) {
        c.principal_labels = StringMap(t->second, p + ".labels");
      }
    }
    if (auto it = e.find("labels"); it != e.end()) {
      c.labels = StringMap(it->second, path + ".labels");
    }
    if (auto it = e.find("tools"); it != e.end()) {
      const std::string p = path + ".tools";
      const Entries t = Mapping(it->second.value, it->second.where(), p, {"any"},
                                "a mapping with any (a list of tool names)");
      auto any = t.find("any");
      if (any == t.end()) Fail(it->second.where(), p, "expected any (a list of tool names)");
      c.tools_any = Names(any->second, p + ".any", "tool names", false);
    }
    if (auto it = e.find("target_hint"); it != e.end()) {
      c.target_hints = Names(it->second, path + ".target_hint", "target names", true);
    }
    for (const char* key : {"all", "any"}) {
      auto it = e.find(key);
      if (it == e.end()) continue;
      const std::string p = path + "." + key;
      if (!it->second.value.IsSequence() || it->second.value.size() == 0) {
        Fail(it->second.where(), p, "expected a non-empty list of conditions");
      }
      std::vector<Condition>& out = std::string_view(key) == "all" ? c.all : c.any;
      size_t i = 0;
      for (const auto& item : it->second.value) {
        out.push_back(When(item, item.Mark(), p + "[" + std::to_string(i++) + "]", depth + 1));
      }
    }
    if (auto it = e.find("not"); it != e.end()) {
      c.not_.push_back(When(it->second.value, it->second.where(), path + ".not", depth + 1));
    }
    return c;
  }

  Action Then(const YAML::Node& node, const YAML::Mark& mark, const std::string& path) const {
    const Entries e = Mapping(node, mark, path, {"route", "transform", "fallbacks", "deny"},
                              "a mapping with 'route' (and optional transform, fallbacks) or "
                              "'deny'");
    const auto route = e.find("route");
    const auto deny = e.find("deny");
    if (route != e.end() && deny != e.end()) {
      Fail(deny->second.key.Mark(), path,
           "'route' and 'deny' cannot both be given (expected one of them)");
    }
    if (route == e.end() && deny == e.end()) {
      Fail(mark, path,
           "expected 'route' (with optional transform, fallbacks) or 'deny'; found neither");
    }
    Action a;
    if (deny != e.end()) {
      for (const char* other : {"transform", "fallbacks"}) {
        if (auto it = e.find(other); it != e.end()) {
          Fail(it->second.key.Mark(), path,
               "'" + std::string(other) + "' applies to 'route' only (expected no " + other +
                   " with 'deny')");
        }
      }
      a.deny = true;
      a.deny_message =
          Scalar(deny->second.value, deny->second.where(), path + ".deny", "a message (text)");
      if (a.deny_message.empty()) {
        Fail(deny->second.where(), path + ".deny", "expected a non-empty message");
      }
      return a;
    }
    a.route = Target(route->second.value, route->second.where(), path + ".route");
    if (auto it = e.find("transform"); it != e.end()) {
      const std::string name = Scalar(it->second.value, it->second.where(), path + ".transform",
                                      "none, mask or pseudonymize");
      std::optional<Transform> t = ParseTransform(name);
      if (!t) {
        Fail(it->second.where(), path + ".transform",
             "unknown transform '" + name + "' (expected none, mask, pseudonymize)");
      }
      a.transform = *t;
    }
    if (auto it = e.find("fallbacks"); it != e.end()) {
      const YAML::Node& list = it->second.value;
      const std::string fpath = path + ".fallbacks";
      if (!list.IsSequence()) Fail(it->second.where(), fpath, "expected a list of target names");
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string ipath = fpath + "[" + std::to_string(i) + "]";
        std::string name = Target(list[i], list[i].Mark(), ipath);
        if (name == a.route || std::count(a.fallbacks.begin(), a.fallbacks.end(), name) != 0) {
          Fail(list[i].Mark(), ipath,
               "target '" + name + "' is already listed (expected each target once)");
        }
        a.fallbacks.push_back(std::move(name));
      }
    }
    return a;
  }

  std::shared_ptr<const Policy> Parse(std::string_view text) {
    const YAML::Node root = Load(text);
    auto policy = std::make_shared<Policy>();
    policy->path = std::string(filename_);
    static const char* kTop =
        "a mapping with keys version, detectors, levels, model, rules, default";
    const Entries top =
        Mapping(root, root.Mark(), "",
                {"version", "detectors", "levels", "model", "rules", "default"}, kTop);

    const Entry& version = Required(top, root, "", "version", "expected version: 1");
    if (!version.value.IsScalar() || version.value.Scalar() != "1") {
      Fail(version.where(), "version",
           "unsupported version" +
               (version.value.IsScalar() ? " '" + version.value.Scalar() + "'" : std::string()) +
               " (expected 1)");
    }

    if (auto it = top.find("rules"); it != top.end()) {
      const YAML::Node& rules = it->second.value;
      if (!rules.IsSequence()) Fail(it->second.where(), "rules", "expected a list of rules");
      std::map<std::string, int> ids;  // id -> line
      for (size_t i = 0; i < rules.size(); ++i) {
        const YAML::Node& node = rules[i];
        const std::string path = "rules[" + std::to_string(i) + "]";
        const Entries e = Mapping(node, node.Mark(), path, {"id", "description", "when", "then"},
                                  "a rule: a mapping with id, when, then");
        Rule rule;
        rule.line = node.Mark().line + 1;
        const Entry& id = Required(e, node, path, "id", "expected a rule id");
        rule.id = Scalar(id.value, id.where(), path + ".id", "a rule id");
        if (!ValidId(rule.id)) {
          Fail(id.where(), path + ".id",
               "invalid id '" + rule.id + "' (expected letters, digits, '_', '.', '-')");
        }
        if (rule.id == "default") {
          Fail(id.where(), path + ".id",
               "id 'default' is reserved for the default rule (expected another id)");
        }
        if (auto [prev, inserted] = ids.emplace(rule.id, rule.line); !inserted) {
          Fail(id.where(), path + ".id",
               "duplicate rule id '" + rule.id + "' (first used by the rule at line " +
                   std::to_string(prev->second) + "; expected unique ids)");
        }
        if (auto d = e.find("description"); d != e.end()) {
          rule.description =
              Scalar(d->second.value, d->second.where(), path + ".description", "text");
        }
        const Entry& when = Required(e, node, path, "when", "use when: {} to match every request");
        rule.when = When(when.value, when.where(), path + ".when");
        const Entry& then = Required(e, node, path, "then", "expected route or deny");
        rule.then = Then(then.value, then.where(), path + ".then");
        policy->rules.push_back(std::move(rule));
      }
    }

    const Entry& def = Required(top, root, "", "default", "the rule applied when no rule matches");
    policy->default_rule.id = "default";
    policy->default_rule.description = "applies when no rule matches";
    policy->default_rule.line = def.key.Mark().line + 1;
    policy->default_rule.then = Then(def.value, def.where(), "default");

    classifier::ClassifierOptions options;
    YAML::Mark detectors_mark = root.Mark();
    if (auto it = top.find("detectors"); it != top.end()) {
      const YAML::Node& list = it->second.value;
      detectors_mark = it->second.key.Mark();
      if (!list.IsSequence()) {
        Fail(it->second.where(), "detectors", "expected a list of detectors");
      }
      std::map<std::string, int> categories;  // category -> line
      for (size_t i = 0; i < list.size(); ++i) {
        DetectorEntry(list[i], "detectors[" + std::to_string(i) + "]", &categories, &options);
      }
    }
    if (auto it = top.find("levels"); it != top.end()) Levels(it->second, &options);
    if (auto it = top.find("model"); it != top.end()) Model(it->second, &options);
    auto classifier = classifier::Classifier::Create(options);
    if (!classifier.ok()) {  // checked above entry by entry; what is left is size
      Fail(detectors_mark, "detectors", std::string(classifier.status().message()));
    }
    policy->classifier = std::move(*classifier);
    policy->detectors = std::move(options);

    std::vector<std::string_view> hashed = {text};
    hashed.insert(hashed.end(), extra_bytes_.begin(), extra_bytes_.end());
    policy->hash = Sha256Hex(hashed);
    policy->files = {std::string(filename_)};
    policy->files.insert(policy->files.end(), extra_files_.begin(), extra_files_.end());
    return policy;
  }

 private:
  static constexpr size_t kMaxTermsFileBytes = size_t{64} << 20;

  std::string_view filename_;
  const std::set<std::string>& known_targets_;
  std::vector<std::string> extra_bytes_;  // terms files, in order of appearance, for the hash
  std::vector<std::string> extra_files_;  // their paths
};

std::string Fixed2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string List(const std::vector<std::string>& names) { return "[" + Join(names, ", ") + "]"; }

bool AnyFindingMatches(const classifier::Assessment& a, const std::string& glob,
                       std::string* found) {
  for (const classifier::Finding& f : a.findings) {
    if (classifier::CategoryGlobMatches(glob, f.category)) {
      if (found != nullptr) *found = f.category;
      return true;
    }
  }
  return false;
}

bool In(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Each label of `want` is in `have` with its value; *why (when given) says which is not.
bool HasLabels(const std::map<std::string, std::string>& have,
               const std::map<std::string, std::string>& want, const std::string& what,
               std::vector<std::string>* why) {
  bool ok = true;
  for (const auto& [key, value] : want) {
    auto it = have.find(key);
    const bool match = it != have.end() && it->second == value;
    if (why != nullptr) {
      why->push_back(match ? what + " " + key + "=" + value
                     : it == have.end()
                         ? what + " " + key + " missing (want " + value + ")"
                         : what + " " + key + " is '" + it->second + "', not '" + value + "'");
    } else if (!match) {
      return false;
    }
    ok = ok && match;
  }
  return ok;
}

// Whether c holds. With why == nullptr it stops at the first condition that fails (the path
// of every request); otherwise it checks them all and appends what each found.
bool Holds(const Condition& c, const classifier::Assessment& a, const RequestFacts& f,
           std::vector<std::string>* why) {
  bool match = true;
  auto note = [&](bool ok, std::string text) {
    if (why != nullptr) why->push_back(std::move(text));
    match = match && ok;
    return ok || why != nullptr;  // keep going?
  };
  const Level level = a.level;
  const std::string have = why != nullptr ? std::string(LevelName(level)) : std::string();
  if (c.level_at_least &&
      !note(level >= *c.level_at_least,
            why == nullptr ? ""
                           : "level " + have + (level >= *c.level_at_least ? " >= " : " < ") +
                                 std::string(LevelName(*c.level_at_least)))) {
    return false;
  }
  if (c.level_at_most &&
      !note(level <= *c.level_at_most,
            why == nullptr ? ""
                           : "level " + have + (level <= *c.level_at_most ? " <= " : " > ") +
                                 std::string(LevelName(*c.level_at_most)))) {
    return false;
  }
  if (!c.categories_any.empty()) {
    std::string found;
    bool ok = false;
    for (const std::string& g : c.categories_any) {
      if (AnyFindingMatches(a, g, &found)) {
        ok = true;
        break;
      }
    }
    if (!note(ok, why == nullptr ? ""
                                 : "categories any of " + List(c.categories_any) + ": " +
                                       (ok ? "found " + found : "none found"))) {
      return false;
    }
  }
  if (!c.categories_all.empty()) {
    std::string missing;
    for (const std::string& g : c.categories_all) {
      if (!AnyFindingMatches(a, g, nullptr)) {
        missing = g;
        break;
      }
    }
    if (!note(missing.empty(), why == nullptr
                                   ? ""
                                   : "categories all of " + List(c.categories_all) + ": " +
                                         (missing.empty() ? "all found" : "missing " + missing))) {
      return false;
    }
  }
  if (!c.categories_none.empty()) {
    std::string found;
    bool hit = false;
    for (const std::string& g : c.categories_none) {
      if (AnyFindingMatches(a, g, &found)) {
        hit = true;
        break;
      }
    }
    if (!note(!hit, why == nullptr ? ""
                                   : "categories none of " + List(c.categories_none) + ": " +
                                         (hit ? "found " + found : "none found"))) {
      return false;
    }
  }
  if (c.difficulty_at_least &&
      !note(a.difficulty >= *c.difficulty_at_least,
            why == nullptr ? ""
                           : "difficulty " + Fixed2(a.difficulty) +
                                 (a.difficulty >= *c.difficulty_at_least ? " >= " : " < ") +
                                 Fixed2(*c.difficulty_at_least))) {
    return false;
  }
  if (c.difficulty_at_most &&
      !note(a.difficulty <= *c.difficulty_at_most,
            why == nullptr ? ""
                           : "difficulty " + Fixed2(a.difficulty) +
                                 (a.difficulty <= *c.difficulty_at_most ? " <= " : " > ") +
                                 Fixed2(*c.difficulty_at_most))) {
    return false;
  }
  const uint64_t tokens = a.estimated_tokens;
  if (c.tokens_at_least &&
      !note(tokens >= *c.tokens_at_least,
            why == nullptr ? ""
                           : "tokens " + std::to_string(tokens) +
                                 (tokens >= *c.tokens_at_least ? " >= " : " < ") +
                                 std::to_string(*c.tokens_at_least))) {
    return false;
  }
  if (c.tokens_at_most &&
      !note(tokens <= *c.tokens_at_most, why == nullptr
                                             ? ""
                                             : "tokens " + std::to_string(tokens) +
                                                   (tokens <= *c.tokens_at_most ? " <= " : " > ") +
                                                   std::to_string(*c.tokens_at_most))) {
    return false;
  }
  if (!c.tenants.empty() &&
      !note(In(c.tenants, f.tenant),
            why == nullptr ? ""
                           : "tenant '" + f.tenant + "' " +
                                 (In(c.tenants, f.tenant) ? "in " : "not in ") + List(c.tenants))) {
    return false;
  }
  if (!c.subjects.empty() &&
      !note(In(c.subjects, f.subject), why == nullptr
                                           ? ""
                                           : "subject '" + f.subject + "' " +
                                                 (In(c.subjects, f.subject) ? "in " : "not in ") +
                                                 List(c.subjects))) {
    return false;
  }
  if (!c.principal_labels.empty()) {
    const bool ok = HasLabels(f.principal_labels, c.principal_labels, "principal label", why);
    match = match && ok;
    if (!ok && why == nullptr) return false;
  }
  if (!c.labels.empty()) {
    const bool ok = HasLabels(f.labels, c.labels, "label", why);
    match = match && ok;
    if (!ok && why == nullptr) return false;
  }
  if (!c.tools_any.empty()) {
    std::string found;
    for (const std::string& t : f.tools) {
      if (In(c.tools_any, t)) {
        found = t;
        break;
      }
    }
    if (!note(!found.empty(), why == nullptr
                                  ? ""
                                  : "tools any of " + List(c.tools_any) + ": " +
                                        (found.empty() ? "none defined" : found + " defined"))) {
      return false;
    }
  }
  if (!c.target_hints.empty() &&
      !note(In(c.target_hints, f.target_hint),
            why == nullptr ? ""
                           : "target hint '" + f.target_hint + "' " +
                                 (In(c.target_hints, f.target_hint) ? "in " : "not in ") +
                                 List(c.target_hints))) {
    return false;
  }
  // Nested conditions: described as all(...) / any(...) / not(...).
  auto nested = [&](const Condition& n) {
    if (why == nullptr) return std::pair<bool, std::string>(Holds(n, a, f, nullptr), "");
    std::vector<std::string> parts;
    const bool ok = Holds(n, a, f, &parts);
    return std::pair<bool, std::string>(ok, parts.empty() ? "no conditions" : Join(parts, ", "));
  };
  if (!c.all.empty()) {
    bool ok = true;
    std::vector<std::string> parts;
    for (const Condition& n : c.all) {
      auto [holds, text] = nested(n);
      ok = ok && holds;
      if (why != nullptr) parts.push_back(text);
      if (!ok && why == nullptr) break;
    }
    if (!note(ok, why == nullptr ? "" : "all(" + Join(parts, "; ") + ")")) return false;
  }
  if (!c.any.empty()) {
    bool ok = false;
    std::vector<std::string> parts;
    for (const Condition& n : c.any) {
      auto [holds, text] = nested(n);
      ok = ok || holds;
      if (why != nullptr) parts.push_back(text);
      if (ok && why == nullptr) break;
    }
    if (!note(ok, why == nullptr ? "" : "any(" + Join(parts, "; ") + ")")) return false;
  }
  for (const Condition& n : c.not_) {
    auto [holds, text] = nested(n);
    if (!note(!holds, why == nullptr ? "" : "not(" + text + ")")) return false;
  }
  return match;
}

std::string Describe(const Action& a) {
  if (a.deny) return "deny \"" + a.deny_message + "\"";
  std::string s = "route " + a.route + " (transform " + std::string(TransformName(a.transform));
  if (!a.fallbacks.empty()) s += "; fallbacks " + Join(a.fallbacks, ", ");
  return s + ")";
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Policy>> ParsePolicy(
    std::string_view text, std::string_view filename, const std::set<std::string>& known_targets) {
  return YamlReader::Catch<std::shared_ptr<const Policy>>(
      filename, [&] { return Parser(filename, known_targets).Parse(text); });
}

absl::StatusOr<std::shared_ptr<const Policy>> LoadPolicy(
    const std::string& path, const std::set<std::string>& known_targets) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return absl::Status(absl::ErrnoToStatusCode(err),
                        path + ": cannot open policy file: " + std::strerror(err));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(path + ": cannot read policy file");
  }
  return ParsePolicy(bytes.str(), path, known_targets);
}

namespace {

// The first rule whose `when` holds, else the default rule.
const Rule& FirstMatch(const Policy& policy, const classifier::Assessment& assessment,
                       const RequestFacts& facts) {
  for (const Rule& rule : policy.rules) {
    if (Holds(rule.when, assessment, facts, nullptr)) return rule;
  }
  return policy.default_rule;
}

Decision DecisionOf(const Policy& policy, const Rule& chosen) {
  Decision d;
  d.policy_hash = policy.hash;
  const Action& a = chosen.then;
  d.rule_id = chosen.id;
  d.deny = a.deny;
  d.transform = a.deny ? Transform::kNone : a.transform;
  if (a.deny) {
    d.deny_message = a.deny_message;
  } else {
    d.targets.push_back(a.route);
    d.targets.insert(d.targets.end(), a.fallbacks.begin(), a.fallbacks.end());
  }
  return d;
}

}  // namespace

RequestFacts RequestFactsOf(const v1::ChatRequest& request, std::string tenant, std::string subject,
                            std::map<std::string, std::string> principal_labels) {
  RequestFacts facts;
  facts.tenant = std::move(tenant);
  facts.subject = std::move(subject);
  facts.principal_labels = std::move(principal_labels);
  facts.labels.insert(request.labels().begin(), request.labels().end());
  for (const v1::Tool& tool : request.tools()) facts.tools.push_back(tool.name());
  facts.target_hint = request.target_hint();
  return facts;
}

bool Condition::LevelsOnly() const {
  return categories_any.empty() && categories_all.empty() && categories_none.empty() &&
         !difficulty_at_least && !difficulty_at_most && !tokens_at_least && !tokens_at_most &&
         tenants.empty() && subjects.empty() && principal_labels.empty() && labels.empty() &&
         tools_any.empty() && target_hints.empty() && all.empty() && any.empty() && not_.empty();
}

Decision Decide(const Policy& policy, const classifier::Assessment& assessment,
                const RequestFacts& facts) {
  return DecisionOf(policy, FirstMatch(policy, assessment, facts));
}

Decision Explain(const Policy& policy, const classifier::Assessment& assessment,
                 const RequestFacts& facts) {
  const Rule& chosen = FirstMatch(policy, assessment, facts);
  Decision d = DecisionOf(policy, chosen);
  std::vector<std::string> lines;
  for (const Rule& rule : policy.rules) {
    std::vector<std::string> parts;
    const bool match = Holds(rule.when, assessment, facts, &parts);
    lines.push_back("rule '" + rule.id +
                    "': " + (parts.empty() ? "no conditions" : Join(parts, ", ")) +
                    (match ? ": match" : ": no match"));
    if (&rule == &chosen) break;
  }
  if (&chosen == &policy.default_rule) lines.push_back("default: no rule matched");
  lines.push_back("decision: " + Describe(chosen.then) + " by rule '" + chosen.id + "'");
  d.explanation = Join(lines, "\n");
  return d;
}

}  // namespace airlock::router
