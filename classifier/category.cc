#include "classifier/category.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace airlock::classifier {
namespace {

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsSegmentChar(char c) { return IsLower(c) || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

}  // namespace

bool IsValidCategory(std::string_view name) {
  int segments = 0;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    const std::string_view segment = name.substr(start, dot - start);
    if (segment.empty() || !IsLower(segment[0])) return false;
    for (char c : segment) {
      if (!IsSegmentChar(c)) return false;
    }
    ++segments;
    start = dot + 1;
  }
  return segments >= 2;
}

absl::Status ValidateCategoryGlob(std::string_view glob) {
  if (glob.empty()) {
    return absl::InvalidArgumentError(
        "empty category glob (expected a category or a glob such "
        "as 'secret.*')");
  }
  for (size_t i = 0; i < glob.size(); ++i) {
    const char c = glob[i];
    if (!IsSegmentChar(c) && c != '.' && c != '*') {
      const unsigned char u = static_cast<unsigned char>(c);
      const std::string shown =
          u >= 0x21 && u < 0x7f ? std::string(1, c) : absl::StrCat("\\x", absl::Hex(u));
      return absl::InvalidArgumentError(
          absl::StrCat("invalid character '", shown, "' at offset ", i, " of category glob '",
                       std::string(glob), "' (expected a-z, 0-9, '_', '-', '.' and '*')"));
    }
  }
  if (glob.find('*') == std::string_view::npos && !IsValidCategory(glob)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(glob),
                     "' is not a category (expected dotted lower-case segments such as "
                     "'pii.phone', or a glob with '*')"));
  }
  return absl::OkStatus();
}

bool CategoryGlobMatches(std::string_view glob, std::string_view category) {
  // Iterative wildcard matching with one backtrack point: linear for a single '*', and
  // O(|glob| * |category|) at worst, both tiny here.
  size_t g = 0, c = 0;
  size_t star = std::string_view::npos, resume = 0;
  while (c < category.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = c;
    } else if (g < glob.size() && glob[g] == category[c]) {
      ++g;
      ++c;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      c = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

int CategoryGlobSpecificity(std::string_view glob) {
  int n = 0;
  for (char c : glob) n += c != '*';
  return n;
}

}  // namespace airlock::classifier
