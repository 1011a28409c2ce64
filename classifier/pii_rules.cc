#include "classifier/pii_rules.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "classifier/pii_checks.h"
#include "classifier/pii_names.h"
#include "classifier/pii_phone.h"

namespace airlock::classifier {
namespace {

using pii::DigitsOf;
using pii::NearWord;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool IsAlnum(char c) { return IsDigit(c) || IsLetter(c); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// The candidate is the middle of a longer number: "3.14159..." or "12-34-56-78" glued by '.',
// ',' or '-' to more digits (or by any digit or letter directly).
bool GluedToNumber(std::string_view text, size_t begin, size_t end) {
  if (begin > 0) {
    const char p = text[begin - 1];
    if (IsAlnum(p)) return true;
    if ((p == '.' || p == ',' || p == '-') && begin > 1 && IsDigit(text[begin - 2])) return true;
  }
  if (end < text.size()) {
    const char n = text[end];
    if (IsAlnum(n)) return true;
    if ((n == '.' || n == ',' || n == '-') && end + 1 < text.size() && IsDigit(text[end + 1])) {
      return true;
    }
  }
  return false;
}

// ----------------------------------------------------------------------------------- e-mail

constexpr size_t kMaxLocal = 64;
constexpr size_t kMaxDomain = 253;
constexpr size_t kMaxAddress = 254;
constexpr size_t kMaxLabel = 63;

bool ValidLocal(std::string_view local) {
  if (local.empty() || local.size() > kMaxLocal) return false;
  if (local.front() == '.' || local.back() == '.') return false;
  return local.find("..") == std::string_view::npos;
}

bool ValidTld(std::string_view label) {
  if (label.size() < 2) return false;
  return std::all_of(label.begin(), label.end(), IsLetter);
}

// Length of the valid domain at the start of `domain` (as matched by the pattern): labels of 1
// to 63 bytes, 253 bytes in all; the domain ends with the last label, from the second on, that
// is a valid TLD ("example.com.2" -> "example.com"). 0 when there is none.
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

bool ValidateEmail(std::string_view text, Candidate* c) {
  if (c->end < text.size() && text[c->end] == '@') return false;  // "a@b.cd@e.fg"
  const std::string_view s = text.substr(c->begin, c->end - c->begin);
  const size_t at = s.find('@');
  if (at == std::string_view::npos) return false;
  std::string_view local = s.substr(0, at);
  size_t begin = c->begin;
  while (!local.empty() && local.front() == '.') {  // "..a@b.cd": the address is "a@b.cd"
    local.remove_prefix(1);
    ++begin;
  }
  if (!ValidLocal(local)) return false;
  const size_t domain_length = ValidDomainLength(s.substr(at + 1));
  if (domain_length == 0) return false;
  const size_t end = c->begin + at + 1 + domain_length;
  if (end - begin > kMaxAddress) return false;
  c->begin = begin;
  c->end = end;
  return true;
}

// ------------------------------------------------------------------------------------ phone

constexpr std::string_view kPhoneWords[] = {
    "phone",    "phones", "telephone", "tel",    "tel.", "mobile",   "cell",    "cellphone",
    "fax",      "call",   "calling",   "called", "dial", "text",     "sms",     "whatsapp",
    "contact",  "reach",  "desk",      "office", "home", "landline", "hotline", "message",
    "messages", "ring",   "voicemail", "ph",     "mob",
};

constexpr std::string_view kWeakPhoneWords[] = {"number", "no.", "#"};
constexpr std::string_view kOtherNumberWords[] = {
    "license",  "licence", "account",   "order",    "invoice", "passport",
    "serial",   "policy",  "ticket",    "tracking", "card",    "id",
    "customer", "member",  "reference", "ref",      "case",
};

// The digits of the main number (before an extension "x12" / "ext. 12"), and whether the
// candidate is written with separators, parentheses or a "+".
struct PhoneShape {
  std::string digits;
  std::vector<size_t> groups;  // digit-group lengths of the main number
  bool formatted = false;
};

PhoneShape ShapeOf(std::string_view s) {
  PhoneShape shape;
  size_t run = 0;
  for (char ch : s) {
    if (ch == 'x' || ch == 'X' || ch == 'e' || ch == 'E') break;  // extension
    if (IsDigit(ch)) {
      shape.digits.push_back(ch);
      ++run;
    } else {
      shape.formatted = true;
      if (run > 0) shape.groups.push_back(run);
      run = 0;
    }
  }
  if (run > 0) shape.groups.push_back(run);
  return shape;
}

int Number(std::string_view digits) {
  int v = 0;
  for (char ch : digits) v = v * 10 + (ch - '0');
  return v;
}

// "2020-06-20", "20.06.2020", "06-20-2020 ...": a date written with the phone separators.
bool LooksLikeDate(const PhoneShape& shape) {
  if (shape.groups.size() < 3) return false;
  const std::string& d = shape.digits;
  const size_t g0 = shape.groups[0], g1 = shape.groups[1], g2 = shape.groups[2];
  if (g0 == 4 && g1 <= 2 && g2 <= 2) {
    const int y = Number(d.substr(0, 4)), m = Number(d.substr(4, g1)),
              day = Number(d.substr(4 + g1, g2));
    return y >= 1800 && y <= 2199 && m >= 1 && m <= 12 && day >= 1 && day <= 31;
  }
  if (g0 <= 2 && g1 <= 2 && g2 == 4) {
    const int a = Number(d.substr(0, g0)), b = Number(d.substr(g0, g1)),
              y = Number(d.substr(g0 + g1, 4));
    return y >= 1800 && y <= 2199 && a >= 1 && b >= 1 && a <= 31 && b <= 31 && (a <= 12 || b <= 12);
  }
  return false;
}

bool ValidatePhone(std::string_view text, Candidate* c) {
  const std::string_view s = text.substr(c->begin, c->end - c->begin);
  if (GluedToNumber(text, c->begin, c->end)) return false;
  if (c->begin > 0 && text[c->begin - 1] == '/') return false;  // a path or a fraction
  const PhoneShape shape = ShapeOf(s);
  const size_t n = shape.digits.size();
  if (n < 7 || n > 15) return false;
  // Shapes that belong to other rules.
  if (shape.groups == std::vector<size_t>{3, 2, 4} && s.find('-') != std::string_view::npos) {
    return false;  // US SSN
  }
  unsigned char octets[4];
  if (pii::ParseIpv4(s, octets)) return false;
  if (LooksLikeDate(shape)) return false;
  if (!shape.formatted && pii::KnownCardIssuer(shape.digits) && pii::LuhnValid(shape.digits)) {
    return false;  // a payment card
  }
  // Only dots: "03.93.92.16.85" or "259.735.7502", not a decimal number like "6.02214076".
  if (s.find('.') != std::string_view::npos && s.find_first_of(" -()") == std::string_view::npos &&
      shape.groups.size() < 3 && s.front() != '+') {
    return false;
  }
  // "number" alone is weak evidence: not when the number is a licence, account, order, ... one.
  const bool context = NearWord(text, c->begin, c->end, 40, 16, kPhoneWords) ||
                       (NearWord(text, c->begin, c->end, 40, 16, kWeakPhoneWords) &&
                        !NearWord(text, c->begin, c->end, 40, 16, kOtherNumberWords));
  if (s.front() == '+') {
    if (pii::IsValidPhone(s, "ZZ")) {
      c->confidence = 0.9f;
      return true;
    }
    if (context && pii::IsPossiblePhone(s, "ZZ")) {
      c->confidence = 0.5f;
      return true;
    }
    return false;
  }
  if (!shape.formatted && !context) return false;  // a bare digit run: an id, a count, a time
  if (shape.formatted && pii::IsValidPhone(s, "US")) {
    c->confidence = 0.8f;
    return true;
  }
  if (!context) return false;
  if (pii::IsValidPhoneInSomeRegion(s)) {
    c->confidence = 0.7f;
    return true;
  }
  if (pii::IsPossiblePhoneInSomeRegion(s)) {
    c->confidence = 0.5f;
    return true;
  }
  return false;
}

// ------------------------------------------------------------------------------ credit card

constexpr std::string_view kCardWords[] = {
    "card",    "cards",    "credit", "debit", "cc",      "visa", "mastercard", "amex",
    "maestro", "discover", "jcb",    "pan",   "payment", "pay",  "charge",     "billing",
};

bool ValidateCard(std::string_view text, Candidate* c) {
  const std::string_view s = text.substr(c->begin, c->end - c->begin);
  if (GluedToNumber(text, c->begin, c->end)) return false;
  char separator = 0;
  size_t group = 0;
  for (char ch : s) {
    if (IsDigit(ch)) {
      ++group;
      continue;
    }
    if (separator != 0 && ch != separator) return false;  // "4111 1111-1111 1111"
    separator = ch;
    if (group < 3 || group > 6) return false;
    group = 0;
  }
  if (separator != 0 && (group < 3 || group > 6)) return false;
  const std::string digits = DigitsOf(s);
  if (!pii::LuhnValid(digits)) return false;
  const bool context = NearWord(text, c->begin, c->end, 40, 16, kCardWords);
  if (!pii::KnownCardIssuer(digits)) {
    // An issuer outside the table (a new range, a private-label card): a card word near and
    // the checksum are the evidence.
    if (!context || digits.size() < 13) return false;
    c->confidence = 0.7f;
    return true;
  }
  if (digits.size() < 14 && separator == 0 && !context) return false;
  c->confidence = (separator != 0 || context) ? 0.95f : 0.85f;
  return true;
}

// ------------------------------------------------------------------------------------- IBAN

bool ValidateIban(std::string_view text, Candidate* c) {
  if (c->begin > 0 && IsAlnum(text[c->begin - 1])) return false;
  std::string country(text.substr(c->begin, 2));
  for (char& ch : country) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  const size_t length = static_cast<size_t>(pii::IbanLength(country));
  if (length == 0) return false;
  std::string compact;
  size_t pos = c->begin;
  while (pos < text.size() && compact.size() < length) {
    if (IsAlnum(text[pos])) {
      compact.push_back(text[pos]);
    } else if (text[pos] != ' ' || compact.size() % 4 != 0 || pos + 1 >= text.size() ||
               !IsAlnum(text[pos + 1])) {
      break;  // spaces only between groups of four
    }
    ++pos;
  }
  if (compact.size() != length) return false;
  if (pos < text.size() && IsAlnum(text[pos])) return false;
  if (!pii::IbanValid(compact)) return false;
  c->end = pos;
  c->confidence = 0.95f;
  return true;
}

// ------------------------------------------------------------------------------------- SSN

constexpr std::string_view kSsnWords[] = {
    "ssn",        "ssns",    "ss#",      "ss #", "ss no", "social security",
    "social sec", "soc sec", "taxpayer", "tin",
};

bool ValidateSsn(std::string_view text, Candidate* c) {
  const std::string_view s = text.substr(c->begin, c->end - c->begin);
  if (GluedToNumber(text, c->begin, c->end)) return false;
  const std::string digits = DigitsOf(s);
  if (digits.size() != 9) return false;
  if (s.size() == 11 && s[3] != s[6]) return false;  // "123-45 6789"
  if (!pii::SsnPartsValid(std::string_view(digits).substr(0, 3),
                          std::string_view(digits).substr(3, 2),
                          std::string_view(digits).substr(5, 4))) {
    return false;
  }
  const bool context = NearWord(text, c->begin, c->end, 40, 16, kSsnWords);
  const bool dashed = s.size() == 11 && s[3] == '-';
  if (!dashed && !context) return false;
  c->confidence = context ? 0.95f : 0.8f;
  return true;
}

// --------------------------------------------------------------------------------------- IP

bool ValidateIpv4(std::string_view text, Candidate* c) {
  const std::string_view s = text.substr(c->begin, c->end - c->begin);
  if (GluedToNumber(text, c->begin, c->end)) return false;
  if (c->begin > 0 && (text[c->begin - 1] == 'v' || text[c->begin - 1] == 'V')) return false;
  unsigned char o[4];
  if (!pii::ParseIpv4(s, o)) return false;
  if (o[0] == 0 || o[0] == 127 || (o[0] == 255 && o[1] == 255 && o[2] == 255 && o[3] == 255)) {
    return false;  // unspecified, loopback, broadcast
  }
  const bool private_range = o[0] == 10 || (o[0] == 172 && o[1] >= 16 && o[1] <= 31) ||
                             (o[0] == 192 && o[1] == 168) || (o[0] == 169 && o[1] == 254) ||
                             (o[0] == 100 && o[1] >= 64 && o[1] <= 127);
  c->confidence = private_range ? 0.6f : 0.85f;
  return true;
}

bool ValidateIpv6(std::string_view text, Candidate* c) {
  if (c->begin > 0 && (IsAlnum(text[c->begin - 1]) || text[c->begin - 1] == ':')) return false;
  size_t end = c->end;
  unsigned char b[16];
  std::string_view s = text.substr(c->begin, end - c->begin);
  // Trailing sentence punctuation ("at fe80::1." or "2001:db8::1:") is not part of it.
  int trims = 0;
  while (!pii::ParseIpv6(s, b)) {
    if (trims++ == 2 || s.empty() || (s.back() != '.' && s.back() != ':')) return false;
    s.remove_suffix(1);
    --end;
  }
  if (end < text.size() && (IsAlnum(text[end]) || text[end] == ':')) return false;
  if (std::count(s.begin(), s.end(), ':') < 2) return false;
  bool zero_to_14 = true;
  for (int i = 0; i < 15; ++i) zero_to_14 = zero_to_14 && b[i] == 0;
  if (zero_to_14 && b[15] <= 1) return false;  // :: and ::1
  // Enough structure to be an address, not "ab::cd" in code: three groups, or a full one.
  int groups = 0;
  size_t longest = 0, run = 0;
  for (char ch : s) {
    if (IsHex(ch)) {
      if (run == 0) ++groups;
      longest = std::max(longest, ++run);
    } else {
      run = 0;
    }
  }
  if (groups < 3 && longest < 4) return false;
  const bool private_range = (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
  c->end = end;
  c->confidence = private_range ? 0.6f : 0.85f;
  return true;
}

// -------------------------------------------------------------------------------------- MAC

bool ValidateMac(std::string_view text, Candidate* c) {
  const std::string_view s = text.substr(c->begin, c->end - c->begin);
  // Part of a longer colon-, dash- or dot-separated hex run (IPv6, a hash, a UUID).
  auto separator = [](char ch) { return ch == ':' || ch == '-' || ch == '.'; };
  if (c->begin > 0) {
    const char p = text[c->begin - 1];
    if (IsAlnum(p) || (separator(p) && c->begin >= 2 && IsHex(text[c->begin - 2]))) return false;
  }
  if (c->end < text.size()) {
    const char n = text[c->end];
    if (IsAlnum(n) || (separator(n) && c->end + 1 < text.size() && IsHex(text[c->end + 1]))) {
      return false;
    }
  }
  std::string hex;
  bool letter = false;
  for (char ch : s) {
    if (IsHex(ch)) {
      hex.push_back(ch);
      letter = letter || !IsDigit(ch);
    }
  }
  if (hex.find_first_not_of('0') == std::string::npos) return false;
  if (hex.find_first_not_of("fF") == std::string::npos) return false;
  if (s.find(':') == std::string_view::npos && !letter) return false;
  c->confidence = 0.85f;
  return true;
}

// ---------------------------------------------------------------------------- date of birth

constexpr std::string_view kBirthWords[] = {
    "born",     "dob",   "d.o.b", "d.o.b.", "date of birth", "birth date", "birthdate",
    "birthday", "birth", "né",    "née",    "geboren",       "geb.",
};

constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                        "jul", "aug", "sep", "oct", "nov", "dec"};

// 1-12 when word starts with a month's name (3 letters at least), else 0.
int MonthOf(std::string_view word) {
  if (word.size() < 3) return 0;
  std::string lower(word.substr(0, 3));
  for (char& ch : lower) ch = static_cast<char>(ch | 0x20);
  for (int m = 0; m < 12; ++m) {
    if (lower == kMonths[m]) return m + 1;
  }
  return 0;
}

// A word of 3 to 9 letters that starts like a month (MonthOf accepts it): "Mar", "March",
// "marzo". Spelled out rather than [a-z]{3,9} so that a prefilter finds it by its literals.
constexpr std::string_view kMonthWord =
    "(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}";

bool ValidateBirthDate(std::string_view text, Candidate* c) {
  const std::string_view s = text.substr(c->begin, c->end - c->begin);
  if (GluedToNumber(text, c->begin, c->end)) return false;
  // Numbers and the month word, in order.
  std::vector<int> numbers;
  std::vector<size_t> widths;
  int month_word = 0;
  for (size_t i = 0; i < s.size();) {
    if (IsDigit(s[i])) {
      size_t j = i;
      while (j < s.size() && IsDigit(s[j])) ++j;
      numbers.push_back(Number(s.substr(i, std::min<size_t>(j - i, 6))));
      widths.push_back(j - i);
      i = j;
    } else if (IsLetter(s[i])) {
      size_t j = i;
      while (j < s.size() && IsLetter(s[j])) ++j;
      if (month_word == 0) month_word = MonthOf(s.substr(i, j - i));
      i = j;
    } else {
      ++i;
    }
  }
  auto year_ok = [](int y, size_t w) { return w == 2 || (y >= 1870 && y <= 2100); };
  bool ok = false;
  if (month_word != 0 && numbers.size() == 2) {  // "3 March 1985", "March 3rd, 1985"
    ok = numbers[0] >= 1 && numbers[0] <= 31 && widths[1] == 4 && year_ok(numbers[1], 4);
  } else if (month_word == 0 && numbers.size() == 3) {
    if (widths[0] == 4) {  // 1985-03-21
      ok = year_ok(numbers[0], 4) && numbers[1] >= 1 && numbers[1] <= 12 && numbers[2] >= 1 &&
           numbers[2] <= 31;
    } else {  // 21/03/1985 or 03/21/1985
      const int a = numbers[0], b = numbers[1];
      ok = year_ok(numbers[2], widths[2]) && a >= 1 && b >= 1 && a <= 31 && b <= 31 &&
           (a <= 12 || b <= 12);
    }
  }
  if (!ok || !NearWord(text, c->begin, c->end, 48, 16, kBirthWords)) return false;
  c->confidence = 0.85f;
  return true;
}

// --------------------------------------------------------------------------- street address

// Letters as bytes: ASCII letters and every byte of a multi-byte UTF-8 sequence.
constexpr const char* kWordChar = R"([A-Za-z\x80-\xff])";

std::string StreetPattern() {
  const std::string cap = std::string(R"((?:[A-Z]|[\xc3-\xc5][\x80-\xbf]))") + kWordChar + "*";
  // USPS Publication 28 suffixes (the common ones), written out and abbreviated.
  const std::string suffix =
      "(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|"
      "Terrace|Ter|Parkway|Pkwy|Circle|Cir|Square|Sq|Highway|Hwy|Trail|Trl|Crescent|Cres|Close|"
      "Grove|Gardens|Gdns|Row|Alley|Plaza|Walk|Heights|Hts|Loop|Pike|Ridge|Route|Rte|Expressway|"
      "Freeway|Turnpike|Crossing|Junction|Mews|Parade|Esplanade|Embankment|Quay|Wharf|Green|"
      "Hill|Park|Forge|Forges|Mill|Mills|Springs|Station|View|Village|Vista|Estates|Falls|"
      "Harbor|Harbour|Haven|Landing|Manor|Meadows|Orchard|Point|Shores|Valley|Creek|Cove)";
  // Street words of other languages, as a prefix ("Rue de la Paix 12") or a suffix
  // ("Koskikatu 25", "Hauptstraße 5").
  const std::string prefix_word =
      "(?:Rue|Avenue|Boulevard|Via|Viale|Piazza|Corso|Calle|Avenida|Paseo|Plaza|Carrer|Rua|"
      "Travessa|Largo|Praça|Strada|Ulica|Aleja|Rambla)";
  const std::string suffix_word =
      "(?:stra(?:ss|\\xc3\\x9f)e|str\\.|weg|gasse|platz|allee|ring|damm|katu|tie|gatan|"
      "v\\xc3\\xa4gen|v\\xc3\\xa4g|vej|gade|veien|gata|laan|straat|gracht|kade|utca|t\\xc3\\xa9r|"
      "ulica|aleja)";
  const std::string unit =
      R"((?:,? (?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|#) ?\d{1,5}[A-Za-z]?)?)";
  const std::string number = R"(\d{1,6}[A-Za-z]?)";
  const std::string us = "\\b" + number + " (?:" + cap + " ){1,4}" + suffix + "\\b\\.?" + unit;
  const std::string eu_prefix = "\\b" + prefix_word +
                                " (?:(?:de|do|da|dos|das|des|du|la|le|del|di|della|dei) ){0,2}" +
                                "(?:" + cap + " ){0,3}" + cap + ",? " + number + "\\b" + unit;
  const std::string eu_suffix = "\\b" + cap + suffix_word + " " + number + "\\b" + unit;
  const std::string box = R"(\b(?:P\.? ?O\.? Box|PSC \d{1,5},? Box|Unit \d{1,5},? Box) \d{1,6}\b)";
  return us + "|" + eu_prefix + "|" + eu_suffix + "|" + box;
}

}  // namespace

PatternRule EmailRule() {
  PatternRule rule;
  rule.name = "email";
  rule.category = "pii.email";
  rule.level = Level::kConfidential;
  // A local part, "@", and two or more domain labels (a label never starts or ends with '-').
  // Greedy quantifiers make the local part as long as possible to the left (leftmost match) and
  // the domain as long as possible to the right; validation happens in code.
  rule.pattern =
      "[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\\.)+"
      "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?";
  rule.confidence = 0.95f;
  rule.validate = ValidateEmail;
  // Every match has a local-part character, '@' and a label's first character in a row; the
  // prefilter looks for that instead of tracking the open-ended local part through prose.
  rule.prefilter = "[A-Za-z0-9._%+-]@[A-Za-z0-9]";
  return rule;
}

std::vector<PatternRule> PiiPatternRules() {
  std::vector<PatternRule> rules;
  rules.push_back(EmailRule());
  auto add = [&rules](std::string name, std::string category, Level level, std::string pattern,
                      Validator validate, bool case_insensitive = false) {
    PatternRule rule;
    rule.name = std::move(name);
    rule.category = std::move(category);
    rule.level = level;
    rule.pattern = std::move(pattern);
    rule.case_insensitive = case_insensitive;
    rule.validate = std::move(validate);
    rules.push_back(std::move(rule));
  };
  // "+41 (0)96 471 07 95", "(579)888-3058", "345-899-3560x4587", "03.93.92.16.85".
  add("phone", "pii.phone", Level::kConfidential,
      R"((?:\+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?|\(\d{1,5}\)[ .-]?|\b)\d[\d .-]{4,20}\d)"
      R"((?:(?: ?(?:x|ext\.?|extension) ?)\d{1,6})?\b)",
      ValidatePhone);
  rules.back().prefilter = R"(\d[\d .-]{4,20}\d)";  // the part every match has
  add("credit_card", "pii.credit_card", Level::kRestricted, R"(\b\d(?:[ -]?\d){11,18}\b)",
      ValidateCard);
  add("iban", "pii.iban", Level::kRestricted,
      R"(\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,4})?\b)", ValidateIban,
      /*case_insensitive=*/true);
  add("us_ssn", "pii.us_ssn", Level::kRestricted,
      R"(\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b|\b\d{9}\b)", ValidateSsn);
  add("ipv4", "pii.ip_address", Level::kConfidential, R"(\b\d{1,3}(?:\.\d{1,3}){3}\b)",
      ValidateIpv4);
  add("ipv6", "pii.ip_address", Level::kConfidential, R"((?:\b[0-9A-Fa-f]{1,4}:|::)[0-9A-Fa-f:.]*)",
      ValidateIpv6);
  add("mac_address", "pii.mac_address", Level::kInternal,
      R"(\b[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\b|\b[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}\b|)"
      R"(\b[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\b)",
      ValidateMac);
  add("date_of_birth", "pii.date_of_birth", Level::kConfidential,
      std::string(R"(\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b|)") +
          R"(\b\d{4}[/.-]\d{1,2}[/.-]\d{1,2}\b|)" + R"(\b\d{1,2}(?:st|nd|rd|th)? (?:of )?)" +
          std::string(kMonthWord) + R"(\.?,? \d{4}\b|)" + R"(\b)" + std::string(kMonthWord) +
          R"(\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}\b)",
      ValidateBirthDate, /*case_insensitive=*/true);
  // The month words' literals ("mar", "may", "th", "of ") occur all over prose and slowed the
  // whole prefilter; what every match has instead, one piece per form: numeric dates; the day
  // (and ordinal, "of", month, '.' and ',') 5 to 18 bytes before the year; the month's last
  // byte, the day, the year.
  rules.back().prefilter =
      R"(\d[/.-]\d\d?[/.-]\d|\d[ ,.a-z]{5,18}\d\d\d\d|[a-z.] \d\d?[a-z]{0,2},? \d\d\d\d)";
  add("street_address", "pii.street_address", Level::kConfidential, StreetPattern(),
      [](std::string_view, Candidate* c) {
        c->confidence = 0.7f;
        return true;
      });
  return rules;
}

std::vector<std::unique_ptr<Detector>> PiiContextDetectors() {
  std::vector<std::unique_ptr<Detector>> detectors;
  detectors.push_back(std::make_unique<PersonNameDetector>());
  return detectors;
}

}  // namespace airlock::classifier
