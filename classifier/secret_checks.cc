#include "classifier/secret_checks.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <vector>

namespace airlock::classifier::secrets {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLetter(char c) { return IsLower(c) || IsUpper(c); }
bool IsAlnum(char c) { return IsDigit(c) || IsLetter(c); }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool IsQuote(char c) { return c == '"' || c == '\'' || c == '`'; }
char Lower(char c) { return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

bool OneOf(std::string_view s, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), s) != words.end();
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Longest run of characters that each follow the previous one by +1 (or each by -1); digits
// wrap from 9 to 0 (and 0 to 9 going down). Letters compare case-insensitively.
size_t LongestRun(std::string_view s) {
  size_t best = s.empty() ? 0 : 1;
  for (int dir : {1, -1}) {
    size_t run = 1;
    for (size_t i = 1; i < s.size(); ++i) {
      const char a = Lower(s[i - 1]);
      const char b = Lower(s[i]);
      bool next = false;
      if (IsDigit(a) && IsDigit(b)) {
        next = ((a - '0' + 10 + dir) % 10) == b - '0';
      } else if (IsLower(a) && IsLower(b)) {
        next = b - a == dir;
      }
      run = next ? run + 1 : 1;
      best = std::max(best, run);
    }
  }
  return best;
}

int Base64Value(char c) {
  if (IsUpper(c)) return c - 'A';
  if (IsLower(c)) return c - 'a' + 26;
  if (IsDigit(c)) return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// A dotted reference to code: `env.PASSWORD`, `self.token`, `config.db.password`.
bool IsDottedPath(std::string_view v) {
  if (v.empty() || !(IsLetter(v[0]) || v[0] == '_')) return false;
  bool dot = false;
  bool segment_start = true;
  for (char c : v) {
    if (c == '.') {
      if (segment_start) return false;
      dot = true;
      segment_start = true;
    } else if (IsAlnum(c) || c == '_') {
      if (segment_start && IsDigit(c)) return false;
      segment_start = false;
    } else {
      return false;
    }
  }
  return dot && !segment_start;
}

bool IsIdentifier(std::string_view v) {
  if (v.empty() || !(IsLetter(v[0]) || v[0] == '_')) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return IsAlnum(c) || c == '_'; });
}

bool HasDigit(std::string_view v) { return std::any_of(v.begin(), v.end(), IsDigit); }

// Shell quoting nests quotes: "'$VAR'" is the variable, not a literal.
std::string_view StripQuotes(std::string_view v) {
  while (v.size() >= 2 && IsQuote(v.front()) && IsQuote(v.back())) v = v.substr(1, v.size() - 2);
  while (!v.empty() && IsQuote(v.front())) v.remove_prefix(1);
  while (!v.empty() && IsQuote(v.back())) v.remove_suffix(1);
  return v;
}

// A file name or path rather than a secret: ends in a short extension ("id_rsa.pem",
// "/run/secrets/db.txt") or starts like a path and has only path characters.
bool LooksLikePath(std::string_view v) {
  const size_t dot = v.rfind('.');
  if (dot != std::string_view::npos && dot + 1 < v.size() && v.size() - dot - 1 <= 5) {
    const std::string_view ext = v.substr(dot + 1);
    if (std::all_of(ext.begin(), ext.end(), IsLower) && ext.size() >= 2) return true;
  }
  if (v.starts_with("./") || v.starts_with("../") || v.starts_with("~/")) return true;
  return false;
}

const std::initializer_list<std::string_view> kPlaceholderWords = {
    "password", "passwd", "pass",      "pwd",     "none",     "null",     "nil",
    "true",     "false",  "undefined", "empty",   "required", "optional", "string",
    "str",      "text",   "value",     "default", "test",     "testing",  "hidden",
    "masked",   "unset",  "notset",    "not-set", "n/a"};

const std::initializer_list<std::string_view> kPlaceholderParts = {
    "example",  "sample", "placeholder", "changeme", "change_me", "change-me", "changeit", "your",
    "redacted", "dummy",  "insert",      "replace",  "todo",      "xxxx",      "****",     "...",
    "####",     "____",   "{{",          "}}",       "#{",        "<%",        "&lt;",     "&gt;"};

// Template and variable syntax inside a value: ${NAME}, $(cmd ...), %(name)s, <name>.
bool HasTemplate(std::string_view v) {
  for (size_t i = 0; i + 2 < v.size(); ++i) {
    const char a = v[i], b = v[i + 1], c = v[i + 2];
    const bool name_start = IsLetter(c) || c == '_';
    if (a == '$' && (b == '{' || b == '(') && name_start) return true;
    if (a == '%' && b == '(' && name_start) {
      const size_t close = v.find(')', i);
      if (close != std::string_view::npos &&
          std::all_of(v.begin() + i + 2, v.begin() + close,
                      [](char ch) { return IsAlnum(ch) || ch == '_'; })) {
        return true;
      }
    }
  }
  const size_t open = v.find('<');
  return open != std::string_view::npos && v.find('>', open) != std::string_view::npos;
}

// Words after a secret's name that make the key name something about the secret.
const std::initializer_list<std::string_view> kAboutWords = {
    "id",        "ids",        "name",        "names",     "type",       "types",     "kind",
    "label",     "labels",     "url",         "uri",       "urls",       "endpoint",  "host",
    "path",      "paths",      "file",        "files",     "filename",   "dir",       "length",
    "len",       "size",       "count",       "min",       "max",        "header",    "headers",
    "prefix",    "suffix",     "expiry",      "expires",   "expiration", "exp",       "expire",
    "expired",   "ttl",        "lifetime",    "timeout",   "format",     "field",     "fields",
    "hint",      "prompt",     "placeholder", "regex",     "pattern",    "error",     "errors",
    "message",   "msg",        "policy",      "policies",  "provider",   "providers", "method",
    "mode",      "enabled",    "enable",      "disabled",  "required",   "version",   "algorithm",
    "alg",       "scheme",     "ref",         "reference", "index",      "idx",       "manager",
    "service",   "client",     "handler",     "helper",    "factory",    "builder",   "class",
    "validator", "validation", "input",       "button",    "link",       "reset",     "rule",
    "rules",     "strength",   "generator",   "request",   "response",   "resp",      "req",
    "cache",     "callback",   "fn",          "func",      "function",   "var",       "env",
    "source",    "location",   "param",       "params",    "arg",        "args",      "option",
    "options",   "config",     "settings",    "list",      "map",        "dict",      "set",
    "table",     "column",     "col",         "store",     "storage",    "check",     "verify",
    "verified",  "changed",    "updated",     "created",   "at",         "date",      "time",
    "issuer",    "audience",   "usage",       "uses",      "db",         "schema",    "lookup",
    "mgr",       "util",       "utils",       "test",      "tests",      "spec"};

// Words before a secret's name that make the key a UI action or a check about it.
const std::initializer_list<std::string_view> kActionWords = {
    "forgot",     "reset",        "change",   "confirm",  "show",    "hide",   "toggle", "validate",
    "check",      "verify",       "enter",    "missing",  "invalid", "wrong",  "no",     "has",
    "is",         "require",      "requires", "use",      "uses",    "allow",  "get",    "set",
    "load",       "read",         "fetch",    "generate", "refresh", "revoke", "rotate", "parse",
    "hashed",     "hash",         "sha1",     "sha256",   "md5",     "digest", "masked", "page",
    "pagination", "continuation", "next",     "sync",     "cursor"};

bool IsPasswordWord(std::string_view w) {
  return OneOf(w, {"password", "passwd", "pwd", "pass", "passphrase", "passcode", "pw",
                   "passwords"}) ||
         EndsWith(w, "password") || EndsWith(w, "passwd");
}

bool IsTokenWord(std::string_view w) {
  return OneOf(w, {"secret", "secrets", "token", "tokens", "credential", "credentials", "creds",
                   "auth", "authorization", "apikey", "apikeys", "secretkey", "privatekey",
                   "accesskey"}) ||
         EndsWith(w, "secret") || EndsWith(w, "token") || EndsWith(w, "apikey") ||
         EndsWith(w, "secretkey");
}

bool IsKeyQualifier(std::string_view w) {
  return OneOf(w, {"api",     "access", "private", "secret",  "signing",  "encryption", "master",
                   "license", "app",    "auth",    "client",  "consumer", "account",    "storage",
                   "shared",  "sas",    "hmac",    "webhook", "deploy",   "admin",      "service"});
}

}  // namespace

double ShannonEntropy(std::string_view s) {
  if (s.empty()) return 0;
  std::array<size_t, 256> counts{};
  for (char c : s) ++counts[static_cast<unsigned char>(c)];
  double h = 0;
  const double n = static_cast<double>(s.size());
  for (size_t count : counts) {
    if (count == 0) continue;
    const double p = static_cast<double>(count) / n;
    h -= p * std::log2(p);
  }
  return h;
}

bool IsHexString(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsHexDigit);
}

int CharClassCount(std::string_view s) {
  bool lower = false, upper = false, digit = false, other = false;
  for (char c : s) {
    if (IsLower(c)) {
      lower = true;
    } else if (IsUpper(c)) {
      upper = true;
    } else if (IsDigit(c)) {
      digit = true;
    } else {
      other = true;
    }
  }
  return int{lower} + int{upper} + int{digit} + int{other};
}

double EntropyThreshold(std::string_view s, double ratio, double cap) {
  const double alphabet = IsHexString(s) ? 16.0 : 64.0;
  const double n = std::min(static_cast<double>(s.size()), alphabet);
  if (n <= 1) return 0;
  return std::min(cap, ratio * std::log2(n));
}

bool LooksSequential(std::string_view s) {
  constexpr size_t kRun = 6;
  if (LongestRun(s) >= kRun) return true;
  std::string letters, digits;
  for (char c : s) {
    if (IsLetter(c)) letters.push_back(c);
    if (IsDigit(c)) digits.push_back(c);
  }
  return LongestRun(letters) >= kRun || LongestRun(digits) >= kRun;
}

bool LooksPlaceholder(std::string_view value) {
  if (value.empty()) return true;
  std::string v = ToLower(value);
  // One byte repeated, or one byte making up most of a longer value ("aaaa...end").
  std::array<size_t, 256> counts{};
  for (char c : v) ++counts[static_cast<unsigned char>(c)];
  const size_t most = *std::max_element(counts.begin(), counts.end());
  if (most == v.size()) return true;
  if (v.size() >= 8 && most * 10 >= v.size() * 6) return true;
  if (v[0] == '$' || v[0] == '%') return true;
  if (HasTemplate(v)) return true;
  for (std::string_view part : kPlaceholderParts) {
    if (Contains(v, part)) return true;
  }
  // Surrounding brackets do not change the word: "[password]", "(none)".
  std::string_view word = v;
  while (word.size() >= 2 && (word.front() == '[' || word.front() == '(') &&
         (word.back() == ']' || word.back() == ')')) {
    word = word.substr(1, word.size() - 2);
  }
  return OneOf(word, kPlaceholderWords);
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHexDigit(s[i])) return false;
  }
  return true;
}

bool LooksLikeCode(std::string_view v, bool allow_snake_case) {
  if (Contains(v, "(") || Contains(v, "[") || Contains(v, "->") || Contains(v, "::")) return true;
  if (IsDottedPath(v)) return true;
  // Interpolation: shells, .env files, docker-compose and make expand $NAME, ${NAME}, $(cmd).
  for (size_t i = 0; i + 1 < v.size(); ++i) {
    const char n = v[i + 1];
    if (v[i] == '$' && (IsLetter(n) || n == '_' || n == '{' || n == '(')) return true;
  }
  // An ALL-CAPS constant or environment variable name: DB_PASSWORD, SOME_TOKEN.
  const bool caps =
      !v.empty() && (IsUpper(v[0]) || v[0] == '_') &&
      std::all_of(v.begin(), v.end(), [](char c) { return IsUpper(c) || IsDigit(c) || c == '_'; });
  if (caps && (Contains(v, "_") || !HasDigit(v))) return true;
  // A snake_case name without digits: user_password, open_sesame.
  if (!allow_snake_case && IsIdentifier(v) && Contains(v, "_") && !HasDigit(v)) return true;
  return false;
}

std::optional<std::string> DecodeBase64(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = Base64Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

bool IsJwtHeader(std::string_view first_part) {
  const std::optional<std::string> json = DecodeBase64(first_part);
  if (!json) return false;
  std::string_view j = *json;
  while (!j.empty() && IsSpace(j.front())) j.remove_prefix(1);
  if (j.empty() || j.front() != '{') return false;
  size_t at = 0;
  while ((at = j.find("\"alg\"", at)) != std::string_view::npos) {
    size_t k = at + 5;
    while (k < j.size() && IsSpace(j[k])) ++k;
    if (k < j.size() && j[k] == ':') return true;
    at += 5;
  }
  return false;
}

uint32_t Crc32(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (char ch : data) {
    crc ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

bool GithubChecksumValid(std::string_view token) {
  constexpr std::string_view kAlphabet =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  if (token.size() != 40 || token[3] != '_') return false;
  if (!OneOf(token.substr(0, 3), {"ghp", "gho", "ghu", "ghs", "ghr"})) return false;
  const std::string_view body = token.substr(4);
  if (!std::all_of(body.begin(), body.end(), IsAlnum)) return false;
  uint32_t crc = Crc32(body.substr(0, 30));
  std::string check(6, '0');
  for (size_t i = 6; i-- > 0 && crc > 0;) {
    check[i] = kAlphabet[crc % 62];
    crc /= 62;
  }
  return body.substr(30) == check;
}

std::string KeyWords(std::string_view key, char separator) {
  std::string out;
  auto boundary = [&]() {
    if (!out.empty() && out.back() != separator) out.push_back(separator);
  };
  for (size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    if (!IsAlnum(c)) {
      boundary();
      continue;
    }
    if (IsUpper(c) && i > 0) {
      const char p = key[i - 1];
      const bool after_lower = IsLower(p) || IsDigit(p);
      const bool end_of_caps = IsUpper(p) && i + 1 < key.size() && IsLower(key[i + 1]);
      if (after_lower || end_of_caps) boundary();
    }
    out.push_back(Lower(c));
  }
  if (!out.empty() && out.back() == separator) out.pop_back();
  return out;
}

KeyKind ClassifyKey(std::string_view key) {
  const std::string joined = KeyWords(key, ' ');
  std::vector<std::string_view> words;
  std::string_view rest = joined;
  while (!rest.empty()) {
    const size_t sp = rest.find(' ');
    words.push_back(rest.substr(0, sp));
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  // The last word that names a secret decides; words after it must not describe the secret.
  for (size_t i = words.size(); i-- > 0;) {
    KeyKind kind = KeyKind::kNone;
    if (IsPasswordWord(words[i])) {
      kind = KeyKind::kPassword;
    } else if (IsTokenWord(words[i])) {
      kind = KeyKind::kToken;
    } else if ((words[i] == "key" || words[i] == "keys") && i > 0 && IsKeyQualifier(words[i - 1])) {
      kind = KeyKind::kToken;
    }
    if (kind == KeyKind::kNone) continue;
    for (size_t k = i + 1; k < words.size(); ++k) {
      if (OneOf(words[k], kAboutWords)) return KeyKind::kNone;
    }
    for (size_t k = 0; k < i; ++k) {
      if (OneOf(words[k], kActionWords)) return KeyKind::kNone;
    }
    return kind;
  }
  return KeyKind::kNone;
}

std::optional<Assignment> ParseAssignment(std::string_view text, size_t value_begin) {
  // Bounds that keep the work per candidate constant: no secret value or key is longer.
  constexpr size_t kMaxValue = 400;
  constexpr size_t kMaxKey = 128;
  if (value_begin >= text.size()) return std::nullopt;
  Assignment a;
  // ------------------------------------------------------------------ the value, forwards
  size_t i = value_begin;
  bool escaped = false;
  if (text[i] == '\\' && i + 1 < text.size() && IsQuote(text[i + 1])) {
    escaped = true;
    ++i;
  }
  size_t after = 0;
  if (IsQuote(text[i])) {
    a.quote = text[i];
    const size_t open = i + 1;
    size_t close = open;
    for (; close < text.size(); ++close) {
      const char c = text[close];
      if (c == '\n' || c == '\r' || close - open > kMaxValue) return std::nullopt;
      if (escaped) {
        if (c == '\\' && close + 1 < text.size() && text[close + 1] == a.quote) break;
      } else if (c == a.quote) {
        break;
      }
    }
    if (close >= text.size()) return std::nullopt;
    a.begin = open;
    a.end = close;
    after = close + (escaped ? 2 : 1);
  } else {
    if (escaped) return std::nullopt;
    size_t end = i;
    while (end < text.size()) {
      if (end - i > kMaxValue) return std::nullopt;
      const char c = text[end];
      if (IsSpace(c) || IsQuote(c) || c == ',' || c == ';' || c == '&' || c == ')' || c == ']' ||
          c == '}' || c == '<' || c == '>') {
        break;
      }
      ++end;
    }
    a.begin = i;
    a.end = end;
    after = end;
  }
  // Nothing but blanks, a separator and a comment up to the end of the line.
  size_t k = after;
  while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
  if (k < text.size() && (text[k] == ',' || text[k] == ';')) ++k;
  while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
  a.line_end = k >= text.size() || text[k] == '\n' || text[k] == '\r' || text[k] == '#' ||
               text.substr(k).starts_with("//");

  // --------------------------------------------------------- operator and key, backwards
  size_t j = value_begin;
  auto skip_blanks = [&]() {
    while (j > 0 && (text[j - 1] == ' ' || text[j - 1] == '\t')) --j;
  };
  skip_blanks();
  constexpr std::string_view kBinary = "!!binary";
  if (j >= kBinary.size() && text.substr(j - kBinary.size(), kBinary.size()) == kBinary) {
    j -= kBinary.size();
    skip_blanks();
  }
  const size_t op_end = j;
  while (j > 0 && op_end - j < 3 && Contains("=:!<>,", std::string_view(&text[j - 1], 1))) --j;
  a.op = text.substr(j, op_end - j);
  skip_blanks();
  for (int q = 0; q < 2 && j > 0 && (IsQuote(text[j - 1]) || text[j - 1] == ']'); ++q) --j;
  const size_t key_end = j;
  while (j > 0 && key_end - j < kMaxKey) {
    const char c = text[j - 1];
    if (!(IsAlnum(c) || c == '_' || c == '.' || c == '-' || c == '$')) break;
    --j;
  }
  a.key = text.substr(j, key_end - j);
  // The key opens its line, after blanks, a quote, or one of: export, set, -, #, //.
  size_t line = j;
  while (line > 0 && (text[line - 1] == ' ' || text[line - 1] == '\t' || IsQuote(text[line - 1])))
    --line;
  size_t bol = line;
  while (bol > 0 && text[bol - 1] != '\n' && text[bol - 1] != '\r' && line - bol <= kMaxKey) --bol;
  std::string_view prefix = text.substr(bol, line - bol);
  while (!prefix.empty() && (prefix.back() == ' ' || prefix.back() == '\t')) {
    prefix.remove_suffix(1);
  }
  while (!prefix.empty() && (prefix.front() == ' ' || prefix.front() == '\t')) {
    prefix.remove_prefix(1);
  }
  a.line_start = OneOf(prefix, {"", "export", "set", "-", "#", "//", ";", "SET", "EXPORT"});
  return a;
}

bool PasswordValueOk(const Assignment& a, std::string_view v) {
  v = StripQuotes(v);
  if (v.size() < 5 || v.size() > 200) return false;
  if (LooksPlaceholder(v)) return false;
  if (Contains("$<%@.,+(){}&/#-*[:=", std::string_view(&v[0], 1))) return false;
  if (std::any_of(v.begin(), v.end(), IsSpace)) return false;
  if (IsDottedPath(v) || Contains(v, "://")) return false;
  if (a.quote != 0) return true;
  if (LooksLikeCode(v, false)) return false;
  if (std::all_of(v.begin(), v.end(), IsLetter)) {
    return v.size() >= 8 && a.line_start && a.line_end;
  }
  return true;
}

bool TokenValueOk(const Assignment& a, std::string_view v) {
  v = StripQuotes(v);
  if (v.size() < 16 || v.size() > 400) return false;
  if (std::any_of(v.begin(), v.end(), IsSpace)) return false;
  if (LooksPlaceholder(v) || LooksSequential(v) || IsUuid(v)) return false;
  if (Contains("$<%@.,(){}&#*[:=", std::string_view(&v[0], 1))) return false;
  if (IsDottedPath(v) || Contains(v, "://") || LooksLikePath(v)) return false;
  if (a.quote == 0 && LooksLikeCode(v, false)) return false;
  if (IsIdentifier(v) && !HasDigit(v)) return false;
  const bool symbol = std::any_of(
      v.begin(), v.end(), [](char c) { return !IsAlnum(c) && c != '_' && c != '-' && c != '.'; });
  if (!HasDigit(v) && !symbol) return false;
  if (CharClassCount(v) < 2) return false;
  return ShannonEntropy(v) >= EntropyThreshold(v, 0.65, 4.0);
}

}  // namespace airlock::classifier::secrets
