#include "classifier/email_detector.h"

#include <cstdio>
#include <cstdlib>

namespace airlock::classifier {
namespace {

constexpr size_t kMaxLocal = 64;
constexpr size_t kMaxDomain = 253;
constexpr size_t kMaxAddress = 254;
constexpr size_t kMaxLabel = 63;

// A local part, "@", and two or more domain labels (a label never starts or ends with '-').
// Greedy quantifiers make the local part as long as possible to the left (leftmost match) and
// the domain as long as possible to the right; validation happens in code.
constexpr const char* kPattern =
    "([A-Za-z0-9._%+-]+)@((?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\\.)+"
    "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)";

RE2::Options PatternOptions() {
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingLatin1);  // bytes, whatever the encoding
  options.set_log_errors(false);
  return options;
}

bool IsLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

bool ValidLocal(std::string_view local) {
  if (local.empty() || local.size() > kMaxLocal) return false;
  if (local.front() == '.' || local.back() == '.') return false;
  return local.find("..") == std::string_view::npos;
}

bool ValidTld(std::string_view label) {
  if (label.size() < 2) return false;
  for (char c : label) {
    if (!IsLetter(c)) return false;
  }
  return true;
}

// Length of the valid domain at the start of `domain` (as matched by the pattern): the labels
// must be 1 to 63 bytes and the whole at most 253 bytes; the domain then ends with the last
// label, from the second on, that is a valid TLD ("example.com.2" -> "example.com"). 0 when
// there is none.
size_t ValidDomainLength(std::string_view domain) {
  if (domain.size() > kMaxDomain) return 0;
  size_t valid = 0;
  size_t start = 0;
  int labels = 0;
  while (start <= domain.size()) {
    size_t dot = domain.find('.', start);
    if (dot == std::string_view::npos) dot = domain.size();
    const std::string_view label = domain.substr(start, dot - start);
    if (label.empty() || label.size() > kMaxLabel) return 0;
    ++labels;
    if (labels >= 2 && ValidTld(label)) valid = dot;
    start = dot + 1;
  }
  return valid;
}

}  // namespace

EmailDetector::EmailDetector() : candidate_(kPattern, PatternOptions()) {
  if (!candidate_.ok()) {
    std::fprintf(stderr, "airlock: e-mail pattern does not compile: %s\n",
                 candidate_.error().c_str());
    std::abort();
  }
}

void EmailDetector::Scan(std::string_view text, std::vector<Match>* out) const {
  re2::StringPiece input(text.data(), text.size());
  re2::StringPiece groups[3];
  size_t pos = 0;
  while (pos < text.size() &&
         candidate_.Match(input, pos, text.size(), RE2::UNANCHORED, groups, 3)) {
    size_t begin = static_cast<size_t>(groups[0].data() - text.data());
    const size_t candidate_end = begin + groups[0].size();
    pos = candidate_end;  // the next candidate starts after this one, whatever the outcome
    if (candidate_end < text.size() && text[candidate_end] == '@') continue;  // "a@b.cd@e.fg"

    std::string_view local(groups[1].data(), groups[1].size());
    while (!local.empty() && local.front() == '.') {  // "..a@b.cd": the address is "a@b.cd"
      local.remove_prefix(1);
      ++begin;
    }
    if (!ValidLocal(local)) continue;
    const size_t domain_length =
        ValidDomainLength(std::string_view(groups[2].data(), groups[2].size()));
    if (domain_length == 0) continue;
    const size_t end = static_cast<size_t>(groups[2].data() - text.data()) + domain_length;
    if (end - begin > kMaxAddress) continue;
    out->push_back(Match{std::string(kCategory), kLevel, begin, end, kConfidence});
  }
}

}  // namespace airlock::classifier
