#include "router/yaml_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <optional>

namespace airlock::router {

using classifier::Level;

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.append(sep);
    out.append(items[i]);
  }
  return out;
}

std::string LevelNames() {
  std::vector<std::string> names;
  for (Level l : {Level::kPublic, Level::kInternal, Level::kConfidential, Level::kRestricted}) {
    names.emplace_back(classifier::LevelName(l));
  }
  return Join(names, ", ");
}

void YamlReader::Fail(const YAML::Mark& mark, std::string_view path, std::string_view what) const {
  // yaml-cpp marks are 0-based; a node without a mark (-1) is reported at 1:1.
  const int line = mark.line < 0 ? 1 : mark.line + 1;
  const int column = mark.column < 0 ? 1 : mark.column + 1;
  std::string msg =
      std::string(filename_) + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!path.empty()) msg.append(path).append(": ");
  msg.append(what);
  throw YamlError{absl::InvalidArgumentError(msg)};
}

YAML::Node YamlReader::Load(std::string_view text) const {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    Fail(e.mark, "", "invalid YAML: " + e.msg);
  }
}

YamlReader::Entries YamlReader::Mapping(const YAML::Node& node, const YAML::Mark& mark,
                                        const std::string& path,
                                        const std::vector<std::string>& allowed,
                                        std::string_view expected) const {
  if (!node.IsMap()) Fail(mark, path, "expected " + std::string(expected));
  Entries entries;
  for (const auto& kv : node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) Fail(key.Mark(), path, "expected a key name");
    const std::string name = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      Fail(key.Mark(), path, "unknown key '" + name + "' (expected " + Join(allowed, ", ") + ")");
    }
    if (entries.count(name) != 0) {
      Fail(key.Mark(), path,
           "duplicate key '" + name + "' (first given at line " +
               std::to_string(entries[name].key.Mark().line + 1) + ")");
    }
    entries.emplace(name, Entry{key, kv.second});
  }
  return entries;
}

const YamlReader::Entry& YamlReader::Required(const Entries& entries, const YAML::Node& map,
                                              const std::string& path, const std::string& key,
                                              std::string_view hint) const {
  auto it = entries.find(key);
  if (it == entries.end()) {
    Fail(map.Mark(), path, "missing required key '" + key + "' (" + std::string(hint) + ")");
  }
  return it->second;
}

std::string YamlReader::Scalar(const YAML::Node& node, const YAML::Mark& mark,
                               const std::string& path, std::string_view expected) const {
  if (!node.IsScalar()) Fail(mark, path, "expected " + std::string(expected));
  return node.Scalar();
}

bool YamlReader::Bool(const Entry& e, const std::string& path) const {
  const std::string v = Scalar(e.value, e.where(), path, "true or false");
  if (v != "true" && v != "false")
    Fail(e.where(), path, "expected true or false, found '" + v + "'");
  return v == "true";
}

Level YamlReader::ParseLevelNode(const Entry& e, const std::string& path) const {
  const std::string name = Scalar(e.value, e.where(), path, "a level (" + LevelNames() + ")");
  std::optional<Level> level = classifier::ParseLevel(name);
  if (!level) Fail(e.where(), path, "unknown level '" + name + "' (expected " + LevelNames() + ")");
  return *level;
}

std::vector<std::string> YamlReader::Names(const Entry& e, const std::string& path,
                                           std::string_view what, bool allow_scalar) const {
  const std::string expected =
      "a list of " + std::string(what) + (allow_scalar ? " (or one as a scalar)" : "");
  std::vector<std::string> names;
  if (allow_scalar && e.value.IsScalar()) {
    names.push_back(e.value.Scalar());
  } else {
    if (!e.value.IsSequence()) Fail(e.where(), path, "expected " + expected);
    for (const auto& item : e.value) names.push_back(Scalar(item, item.Mark(), path, what));
  }
  if (names.empty()) Fail(e.where(), path, "expected " + expected + ", found an empty list");
  for (const std::string& n : names) {
    if (n.empty()) Fail(e.where(), path, "expected " + expected + ", found an empty name");
  }
  return names;
}

double YamlReader::Number(const Entry& e, const std::string& path, double lo, double hi,
                          bool integer) const {
  const std::string what = integer ? "an integer >= 0" : "a number from 0 to 1";
  const std::string text = Scalar(e.value, e.where(), path, what);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  const bool whole = !integer || (text.find_first_not_of("0123456789") == std::string::npos);
  if (text.empty() || *end != '\0' || errno != 0 || !whole || !(v >= lo && v <= hi)) {
    Fail(e.where(), path, "expected " + what + ", found '" + text + "'");
  }
  return v;
}

std::map<std::string, std::string> YamlReader::StringMap(const Entry& e,
                                                         const std::string& path) const {
  if (!e.value.IsMap() || e.value.size() == 0) {
    Fail(e.where(), path, "expected a non-empty mapping of label names to values");
  }
  std::map<std::string, std::string> out;
  for (const auto& kv : e.value) {
    const std::string key = Scalar(kv.first, kv.first.Mark(), path, "a label name");
    if (!out.emplace(key, Scalar(kv.second, kv.second.Mark(), path + "." + key, "a label value"))
             .second) {
      Fail(kv.first.Mark(), path, "duplicate label '" + key + "'");
    }
  }
  return out;
}

}  // namespace airlock::router
