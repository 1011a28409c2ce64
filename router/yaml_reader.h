// YamlReader: reads a YAML document that people write by hand (policies, policy tests) and
// reports every mistake as "FILE:LINE:COLUMN: PATH: what was expected".
//
// The read methods throw YamlError; Catch turns it (and any exception yaml-cpp throws while
// walking a document) into an INVALID_ARGUMENT status at the reader's boundary:
//
//   absl::StatusOr<T> Parse(text, filename) {
//     return YamlReader::Catch<T>(filename, [&] { return MyReader(filename).Read(text); });
//   }
//
// Lines and columns are 1-based; PATH is like "rules[1].when" and is left out when empty.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "classifier/level.h"
#include "yaml-cpp/yaml.h"

namespace airlock::router {

// Thrown by YamlReader's methods only; carries the INVALID_ARGUMENT status to report.
struct YamlError {
  absl::Status status;
};

class YamlReader {
 public:
  explicit YamlReader(std::string_view filename) : filename_(filename) {}

  std::string_view filename() const { return filename_; }

  // Runs read() and returns its value, or the status of the YamlError it threw; any other
  // exception becomes "FILE:1:1: invalid YAML document: what".
  template <typename T>
  static absl::StatusOr<T> Catch(std::string_view filename, const std::function<T()>& read) {
    try {
      return read();
    } catch (const YamlError& e) {
      return e.status;
    } catch (const std::exception& e) {  // yaml-cpp may throw while walking a document
      return absl::InvalidArgumentError(std::string(filename) +
                                        ":1:1: invalid YAML document: " + e.what());
    }
  }

  [[noreturn]] void Fail(const YAML::Mark& mark, std::string_view path,
                         std::string_view what) const;

  // The document in text; a syntax error fails with yaml-cpp's message and position.
  YAML::Node Load(std::string_view text) const;

  // A mapping's entry with its key node (for the key's position).
  struct Entry {
    YAML::Node key;
    YAML::Node value;
    // Where the value is reported: an empty value ("when:") has no position of its own
    // (yaml-cpp gives it the next token's), so it is reported at its key.
    YAML::Mark where() const { return value.IsNull() ? key.Mark() : value.Mark(); }
  };
  using Entries = std::map<std::string, Entry>;

  // The entries of a mapping, keyed by name. Not a mapping, unknown and duplicate keys and
  // keys that are not scalars fail; `expected` describes the mapping ("a mapping with ...").
  Entries Mapping(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
                  const std::vector<std::string>& allowed, std::string_view expected) const;
  // entries[key], or a failure at map naming the missing key and `hint`.
  const Entry& Required(const Entries& entries, const YAML::Node& map, const std::string& path,
                        const std::string& key, std::string_view hint) const;
  // A scalar's text; anything else fails with "expected <expected>".
  std::string Scalar(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
                     std::string_view expected) const;
  bool Bool(const Entry& e, const std::string& path) const;
  // A number in [lo, hi] ("expected a number from 0 to 1"), or with `integer` a whole one
  // ("expected an integer >= 0").
  double Number(const Entry& e, const std::string& path, double lo, double hi, bool integer) const;
  classifier::Level ParseLevelNode(const Entry& e, const std::string& path) const;
  // A non-empty list of non-empty names (or, with allow_scalar, one name as a scalar); `what`
  // names them ("tenant names").
  std::vector<std::string> Names(const Entry& e, const std::string& path, std::string_view what,
                                 bool allow_scalar) const;
  // A non-empty mapping of label names to values.
  std::map<std::string, std::string> StringMap(const Entry& e, const std::string& path) const;

 private:
  std::string_view filename_;
};

// "public, internal, confidential, restricted", for messages.
std::string LevelNames();
// items joined by sep.
std::string Join(const std::vector<std::string>& items, std::string_view sep);

}  // namespace airlock::router
