#include "classifier/pii_checks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace airlock::classifier::pii {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int PrefixValue(std::string_view digits, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n && i < digits.size(); ++i) v = v * 10 + (digits[i] - '0');
  return v;
}

// ISO 13616 IBAN registry: country -> length.
constexpr std::array<std::pair<std::string_view, int>, 82> kIbanLengths = {{
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28},
    {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30},
    {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LY", 25},
    {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30},
    {"NL", 18}, {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24},
    {"RS", 22}, {"RU", 33}, {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24},
    {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22},
    {"VG", 24}, {"XK", 20},
}};

}  // namespace

std::string DigitsOf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (IsDigit(c)) out.push_back(c);
  }
  return out;
}

bool LuhnValid(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool twice = false;
  for (size_t i = digits.size(); i-- > 0;) {
    if (!IsDigit(digits[i])) return false;
    int d = digits[i] - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

bool KnownCardIssuer(std::string_view d) {
  const size_t n = d.size();
  if (n < 12 || n > 19) return false;
  for (char c : d) {
    if (!IsDigit(c)) return false;
  }
  const int p1 = PrefixValue(d, 1), p2 = PrefixValue(d, 2), p3 = PrefixValue(d, 3),
            p4 = PrefixValue(d, 4);
  const bool long_card = n >= 16 && n <= 19;
  if (p1 == 4) return n == 13 || n == 16 || n == 19;                         // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16;  // Mastercard
  if (p2 == 34 || p2 == 37) return n == 15;                                  // Amex
  if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) {        // Diners
    return n >= 14 && n <= 19;
  }
  if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65) return long_card;  // Discover
  if (p4 >= 3528 && p4 <= 3589) return long_card;                            // JCB
  if (p4 == 1800 || p4 == 2131) return n == 15;                              // JCB (old)
  if (p2 == 62) return long_card;                                            // UnionPay
  if (p2 == 50 || (p2 >= 56 && p2 <= 69)) return true;                       // Maestro 12-19
  return false;
}

int IbanLength(std::string_view country) {
  for (const auto& [code, length] : kIbanLengths) {
    if (code == country) return length;
  }
  return 0;
}

bool IbanValid(std::string_view iban) {
  if (iban.size() < 15 || iban.size() > 34) return false;
  std::string upper(iban);
  for (char& c : upper) {
    if (!IsAlnum(c)) return false;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  if (static_cast<size_t>(IbanLength(upper.substr(0, 2))) != upper.size()) return false;
  if (!IsDigit(upper[2]) || !IsDigit(upper[3])) return false;
  // Move the first four characters to the end, letters become 10..35, remainder mod 97 is 1.
  const std::string rotated = upper.substr(4) + upper.substr(0, 4);
  int remainder = 0;
  for (char c : rotated) {
    if (IsDigit(c)) {
      remainder = (remainder * 10 + (c - '0')) % 97;
    } else {
      const int v = c - 'A' + 10;
      remainder = (remainder * 100 + v) % 97;
    }
  }
  return remainder == 1;
}

bool SsnPartsValid(std::string_view area, std::string_view group, std::string_view serial) {
  if (area.size() != 3 || group.size() != 2 || serial.size() != 4) return false;
  for (std::string_view part : {area, group, serial}) {
    for (char c : part) {
      if (!IsDigit(c)) return false;
    }
  }
  const int a = PrefixValue(area, 3);
  if (a == 0 || a == 666 || a >= 900) return false;
  if (group == "00") return false;
  return serial != "0000";
}

bool ParseIpv4(std::string_view s, unsigned char octets[4]) {
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (pos >= s.size() || s[pos] != '.') return false;
      ++pos;
    }
    const size_t start = pos;
    int value = 0;
    while (pos < s.size() && IsDigit(s[pos]) && pos - start < 3) {
      value = value * 10 + (s[pos] - '0');
      ++pos;
    }
    const size_t len = pos - start;
    if (len == 0 || value > 255 || (len > 1 && s[start] == '0')) return false;
    octets[i] = static_cast<unsigned char>(value);
  }
  return pos == s.size();
}

bool ParseIpv6(std::string_view s, unsigned char bytes[16]) {
  if (s.size() < 2 || s.size() > 45) return false;
  const std::string z(s);  // inet_pton needs a NUL-terminated string
  return inet_pton(AF_INET6, z.c_str(), bytes) == 1;
}

bool NearWord(std::string_view text, size_t begin, size_t end, size_t before, size_t after,
              std::span<const std::string_view> words) {
  begin = std::min(begin, text.size());
  end = std::min(std::max(end, begin), text.size());
  const size_t lo = begin > before ? begin - before : 0;
  const size_t hi = std::min(text.size(), end + after);
  for (const auto& [from, to] : {std::pair{lo, begin}, std::pair{end, hi}}) {
    const std::string_view window = text.substr(from, to - from);
    for (size_t i = 0; i < window.size(); ++i) {
      if (i > 0 && IsAlnum(window[i - 1])) continue;  // a word starts here
      for (std::string_view w : words) {
        size_t k = i, j = 0;
        while (j < w.size() && k < window.size()) {
          if (w[j] == ' ') {
            if (!IsSpace(window[k])) break;
            while (k < window.size() && IsSpace(window[k])) ++k;
            ++j;
          } else if (Lower(window[k]) == w[j]) {
            ++k;
            ++j;
          } else {
            break;
          }
        }
        if (j == w.size() && (k == window.size() || !IsAlnum(window[k]) || !IsAlnum(w.back()))) {
          return true;
        }
      }
    }
  }
  return false;
}

}  // namespace airlock::classifier::pii
