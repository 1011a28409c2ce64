#include "router/policy_print.h"

#include <charconv>
#include <cstdio>
#include <string_view>
#include <vector>

#include "classifier/level.h"

namespace airlock::router {
namespace {

// A YAML double-quoted scalar. Bytes from 0x20 up (UTF-8 included) stand as they are; '"' and
// '\' and control bytes are escaped.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  return out + "\"";
}

std::string QuotedList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += Quote(items[i]);
  }
  return out + "]";
}

std::string Number(float v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest that reads back as v
  return ec == std::errc() ? std::string(buf, end) : "0";
}

std::string LevelText(classifier::Level l) { return std::string(classifier::LevelName(l)); }

// A block of "key: value" lines, each without its indentation; Indent places a block.
using Lines = std::vector<std::string>;

void Indent(const Lines& block, const std::string& first, const std::string& rest, Lines* out) {
  for (size_t i = 0; i < block.size(); ++i) out->push_back((i == 0 ? first : rest) + block[i]);
}

Lines StringMap(const std::map<std::string, std::string>& m) {
  Lines out;
  for (const auto& [k, v] : m) out.push_back(Quote(k) + ": " + Quote(v));
  return out;
}

Lines ConditionLines(const Condition& c);

// `key:` followed by a list of conditions, each a block item.
void ConditionList(const char* key, const std::vector<Condition>& list, Lines* out) {
  out->push_back(std::string(key) + ":");
  for (const Condition& item : list) {
    const Lines block = ConditionLines(item);
    if (block.empty()) {
      out->push_back("  - {}");
    } else {
      Indent(block, "  - ", "    ", out);
    }
  }
}

template <typename T>
void Range(const char* key, const std::optional<T>& lo, const std::optional<T>& hi,
           std::string (*text)(T), Lines* out) {
  if (!lo && !hi) return;
  out->push_back(std::string(key) + ":");
  if (lo) out->push_back("  at_least: " + text(*lo));
  if (hi) out->push_back("  at_most: " + text(*hi));
}

std::string FloatText(float v) { return Number(v); }
std::string IntText(uint64_t v) { return std::to_string(v); }

Lines ConditionLines(const Condition& c) {
  Lines out;
  if (c.level_at_least) out.push_back("level_at_least: " + LevelText(*c.level_at_least));
  if (c.level_at_most) out.push_back("level_at_most: " + LevelText(*c.level_at_most));
  if (!c.categories_any.empty() || !c.categories_all.empty() || !c.categories_none.empty()) {
    out.push_back("categories:");
    if (!c.categories_any.empty()) out.push_back("  any: " + QuotedList(c.categories_any));
    if (!c.categories_all.empty()) out.push_back("  all: " + QuotedList(c.categories_all));
    if (!c.categories_none.empty()) out.push_back("  none: " + QuotedList(c.categories_none));
  }
  Range<float>("difficulty", c.difficulty_at_least, c.difficulty_at_most, &FloatText, &out);
  Range<uint64_t>("tokens", c.tokens_at_least, c.tokens_at_most, &IntText, &out);
  if (!c.tenants.empty() || !c.subjects.empty() || !c.principal_labels.empty()) {
    out.push_back("principal:");
    if (!c.tenants.empty()) out.push_back("  tenant: " + QuotedList(c.tenants));
    if (!c.subjects.empty()) out.push_back("  subject: " + QuotedList(c.subjects));
    if (!c.principal_labels.empty()) {
      out.push_back("  labels:");
      Indent(StringMap(c.principal_labels), "    ", "    ", &out);
    }
  }
  if (!c.labels.empty()) {
    out.push_back("labels:");
    Indent(StringMap(c.labels), "  ", "  ", &out);
  }
  if (!c.tools_any.empty()) {
    out.push_back("tools:");
    out.push_back("  any: " + QuotedList(c.tools_any));
  }
  if (!c.target_hints.empty()) out.push_back("target_hint: " + QuotedList(c.target_hints));
  if (!c.all.empty()) ConditionList("all", c.all, &out);
  if (!c.any.empty()) ConditionList("any", c.any, &out);
  for (const Condition& n : c.not_) {  // the grammar gives one `not`
    const Lines block = ConditionLines(n);
    if (block.empty()) {
      out.push_back("not: {}");
    } else {
      out.push_back("not:");
      Indent(block, "  ", "  ", &out);
    }
  }
  return out;
}

Lines ActionLines(const Action& a) {
  if (a.deny) return {"deny: " + Quote(a.deny_message)};
  Lines out = {"route: " + Quote(a.route), "transform: " + std::string(TransformName(a.transform))};
  if (!a.fallbacks.empty()) out.push_back("fallbacks: " + QuotedList(a.fallbacks));
  return out;
}

bool SameRule(const Rule& a, const Rule& b) {
  return a.id == b.id && a.description == b.description && a.when == b.when && a.then == b.then;
}

}  // namespace

std::string PrintPolicy(const Policy& policy) {
  Lines out = {"version: 1"};
  const classifier::ClassifierOptions& d = policy.detectors;
  if (!d.term_lists.empty() || !d.custom_patterns.empty()) {
    out.push_back("detectors:");
    for (const classifier::TermList& t : d.term_lists) {
      Lines block = {"category: " + Quote(t.category), "level: " + LevelText(t.level),
                     std::string("case_sensitive: ") + (t.case_sensitive ? "true" : "false"),
                     std::string("word_boundary: ") + (t.word_boundary ? "true" : "false"),
                     "terms:"};
      for (const std::string& term : t.terms) block.push_back("  - " + Quote(term));
      Indent(block, "  - ", "    ", &out);
    }
    for (const classifier::PatternRule& p : d.custom_patterns) {
      const Lines block = {
          "category: " + Quote(p.category), "level: " + LevelText(p.level),
          std::string("case_sensitive: ") + (p.case_insensitive ? "false" : "true"),
          "pattern: " + Quote(p.pattern)};
      Indent(block, "  - ", "    ", &out);
    }
  }
  if (!d.level_overrides.empty()) {
    out.push_back("levels:");
    for (const classifier::LevelOverride& o : d.level_overrides) {
      out.push_back("  " + Quote(o.category_glob) + ": " + LevelText(o.level));
    }
  }
  if (d.model != classifier::ModelThresholds{}) {
    const classifier::ModelThresholds& m = d.model;
    out.push_back("model:");
    out.push_back("  level_at:");
    out.push_back("    internal: " + Number(m.level_at[0]));
    out.push_back("    confidential: " + Number(m.level_at[1]));
    out.push_back("    restricted: " + Number(m.level_at[2]));
    if (!m.categories.empty()) {
      out.push_back("  categories:");
      for (const auto& [glob, p] : m.categories) {
        out.push_back("    " + Quote(glob) + ": " + Number(p));
      }
    }
  }
  if (!policy.rules.empty()) {
    out.push_back("rules:");
    for (const Rule& r : policy.rules) {
      Lines block = {"id: " + Quote(r.id)};
      if (!r.description.empty()) block.push_back("description: " + Quote(r.description));
      const Lines when = ConditionLines(r.when);
      if (when.empty()) {
        block.push_back("when: {}");
      } else {
        block.push_back("when:");
        Indent(when, "  ", "  ", &block);
      }
      block.push_back("then:");
      Indent(ActionLines(r.then), "  ", "  ", &block);
      Indent(block, "  - ", "    ", &out);
    }
  }
  out.push_back("default:");
  Indent(ActionLines(policy.default_rule.then), "  ", "  ", &out);
  std::string text;
  for (const std::string& line : out) text += line + "\n";
  return text;
}

bool EquivalentPolicies(const Policy& a, const Policy& b) {
  if (a.rules.size() != b.rules.size() || !SameRule(a.default_rule, b.default_rule)) return false;
  for (size_t i = 0; i < a.rules.size(); ++i) {
    if (!SameRule(a.rules[i], b.rules[i])) return false;
  }
  const classifier::ClassifierOptions &x = a.detectors, &y = b.detectors;
  if (x.term_lists.size() != y.term_lists.size() ||
      x.custom_patterns.size() != y.custom_patterns.size() ||
      x.level_overrides.size() != y.level_overrides.size() || x.model != y.model) {
    return false;
  }
  for (size_t i = 0; i < x.term_lists.size(); ++i) {
    const classifier::TermList &s = x.term_lists[i], &t = y.term_lists[i];
    if (s.category != t.category || s.level != t.level || s.terms != t.terms ||
        s.case_sensitive != t.case_sensitive || s.word_boundary != t.word_boundary ||
        s.name != t.name) {
      return false;
    }
  }
  for (size_t i = 0; i < x.custom_patterns.size(); ++i) {
    const classifier::PatternRule &s = x.custom_patterns[i], &t = y.custom_patterns[i];
    if (s.name != t.name || s.category != t.category || s.level != t.level ||
        s.pattern != t.pattern || s.confidence != t.confidence ||
        s.case_insensitive != t.case_insensitive) {
      return false;
    }
  }
  for (size_t i = 0; i < x.level_overrides.size(); ++i) {
    if (x.level_overrides[i].category_glob != y.level_overrides[i].category_glob ||
        x.level_overrides[i].level != y.level_overrides[i].level) {
      return false;
    }
  }
  return true;
}

}  // namespace airlock::router
