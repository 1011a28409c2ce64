#include "classifier/secret_rules.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "classifier/secret_checks.h"

namespace airlock::classifier {
namespace {

using secrets::Assignment;
using secrets::KeyKind;

bool IsAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsBase64Char(char c) { return IsAlnum(c) || c == '+' || c == '/' || c == '='; }

std::string_view Span(std::string_view text, const Candidate& c) {
  return text.substr(c.begin, c.end - c.begin);
}

// Confidence levels: a documented prefix or checksum; a documented shape in its context; a
// keyword assignment; a high-entropy string with no keyword.
constexpr float kFormat = 0.95f;
constexpr float kContext = 0.85f;
constexpr float kKeyword = 0.7f;
constexpr float kEntropy = 0.6f;

PatternRule Rule(std::string name, std::string kind, std::string pattern, float confidence,
                 Validator validate = nullptr) {
  PatternRule r;
  r.name = std::move(name);
  r.category = "secret." + kind;
  r.level = Level::kRestricted;
  r.pattern = std::move(pattern);
  r.confidence = confidence;
  r.validate = std::move(validate);
  return r;
}

// ------------------------------------------------------------------------------ validators

// The candidate is not a placeholder ("<password>", "${TOKEN}", "changeme", "xxxx").
bool NotPlaceholder(std::string_view text, Candidate* c) {
  return !secrets::LooksPlaceholder(Span(text, *c));
}

// A context-found value that must also look generated: not a placeholder, not a sequence, two
// or more character classes.
bool Generated(std::string_view text, Candidate* c) {
  const std::string_view v = Span(text, *c);
  return !secrets::LooksPlaceholder(v) && !secrets::LooksSequential(v) &&
         secrets::CharClassCount(v) >= 2;
}

// Finds `needle` in text[from, from + limit).
size_t FindWithin(std::string_view text, size_t from, size_t limit, std::string_view needle) {
  const std::string_view window = text.substr(from, std::min(limit, text.size() - from));
  const size_t at = window.find(needle);
  return at == std::string_view::npos ? std::string_view::npos : from + at;
}

// Key files are a few KB; a PGP private key block with subkeys stays well under this.
constexpr size_t kMaxKeyBlock = 32 * 1024;

// PEM private key. The pattern finds the BEGIN line; the span extends through the matching
// END line when there is one within kMaxKeyBlock bytes, else through the base64 body that
// follows up to the next armour line (a truncated paste is still a key). The body must hold a
// run of 32 or more base64 characters and have the entropy of random data (4 bits per
// character), so that a sentence naming the header line, or filler, is not a key.
bool PemBlock(std::string_view text, Candidate* c) {
  const std::string_view header = Span(text, *c);  // -----BEGIN <type> PRIVATE KEY[ BLOCK]-----
  const std::string_view label = header.substr(11, header.size() - 16);  // <type> PRIVATE KEY
  const size_t end_line = FindWithin(text, c->end, kMaxKeyBlock, "-----END " + std::string(label));
  size_t body_end = 0;
  if (end_line != std::string_view::npos) {
    body_end = end_line;
    const size_t close = FindWithin(text, end_line + 9, label.size() + 6, "-----");
    c->end = close == std::string_view::npos ? end_line + 9 + label.size() : close + 5;
  } else {
    const size_t armour = FindWithin(text, c->end, kMaxKeyBlock, "-----");
    const size_t limit =
        armour == std::string_view::npos ? std::min(text.size(), c->end + kMaxKeyBlock) : armour;
    body_end = c->end;
    while (body_end < limit &&
           (IsBase64Char(text[body_end]) ||
            std::string_view(" \t\r\n\"',:\\.-").find(text[body_end]) != std::string_view::npos)) {
      ++body_end;
    }
    while (body_end > c->end && !IsBase64Char(text[body_end - 1])) --body_end;
  }
  // Key material: a run of 32+ base64 characters ('=' only pads the end) and the entropy of
  // random data over the body's first 4 KB.
  size_t run = 0, longest = 0;
  std::string material;
  for (size_t i = c->begin + header.size(); i < body_end; ++i) {
    const bool b64 = IsBase64Char(text[i]) && text[i] != '=';
    run = b64 ? run + 1 : 0;
    longest = std::max(longest, run);
    if (b64 && material.size() < 4096) material.push_back(text[i]);
  }
  if (longest < 32 || secrets::ShannonEntropy(material) < 4.0) return false;
  if (end_line == std::string_view::npos) c->end = body_end;
  return true;
}

// PuTTY key file: from the header line through "Private-MAC: <hex>", with "Private-Lines:" in
// between, within kMaxKeyBlock bytes.
bool PuttyKey(std::string_view text, Candidate* c) {
  const size_t lines = FindWithin(text, c->end, kMaxKeyBlock, "Private-Lines:");
  if (lines == std::string_view::npos) return false;
  const size_t mac = FindWithin(text, lines, kMaxKeyBlock, "Private-MAC: ");
  if (mac == std::string_view::npos) return false;
  size_t end = mac + 13;
  while (end < text.size() && std::isxdigit(static_cast<unsigned char>(text[end]))) ++end;
  c->end = end;
  return true;
}

// A base64-encoded PEM private key: the decoded text starts "-----BEGIN" and names a PRIVATE
// KEY on its first line.
bool PemBase64(std::string_view text, Candidate* c) {
  std::string_view b64 = Span(text, *c);
  b64 = b64.substr(0, std::min<size_t>(b64.size(), 120) / 4 * 4);
  const std::optional<std::string> decoded = secrets::DecodeBase64(b64);
  if (!decoded || !decoded->starts_with("-----BEGIN ")) return false;
  const std::string_view first_line = std::string_view(*decoded).substr(0, decoded->find('\n'));
  return first_line.find("PRIVATE KEY") != std::string_view::npos;
}

// JWT: the first part decodes to a JSON object header with "alg".
bool Jwt(std::string_view text, Candidate* c) {
  const std::string_view token = Span(text, *c);
  return secrets::IsJwtHeader(token.substr(0, token.find('.')));
}

// GitHub tokens: a valid CRC-32 checksum raises the confidence; tokens without one (older or
// edited) are still GitHub's documented format.
bool Github(std::string_view text, Candidate* c) {
  c->confidence = secrets::GithubChecksumValid(Span(text, *c)) ? 0.99f : 0.9f;
  return true;
}

// HTTP Basic credentials: the base64 decodes to "user:password".
bool BasicAuth(std::string_view text, Candidate* c) {
  const std::optional<std::string> decoded = secrets::DecodeBase64(Span(text, *c));
  if (!decoded) return false;
  const size_t colon = decoded->find(':');
  return colon != std::string::npos && colon + 1 < decoded->size() &&
         !secrets::LooksPlaceholder(decoded->substr(colon + 1));
}

// The password of scheme://user:password@host: not a placeholder; the host part is a name or
// an address.
bool UrlPassword(std::string_view text, Candidate* c) {
  const std::string_view v = Span(text, *c);
  if (secrets::LooksPlaceholder(v) || v.starts_with("$") || v.starts_with("{")) return false;
  return c->end < text.size() && text[c->end] == '@';
}

// A `Password=...` pair of a connection string: no white space or code in the value, a ';'
// right after it or before its key, and another connection-string key within 200 bytes.
bool ConnectionString(std::string_view text, Candidate* c) {
  std::string_view v = Span(text, *c);
  if (v.size() < 3 || secrets::LooksPlaceholder(v)) return false;
  if (std::any_of(v.begin(), v.end(), [](char ch) { return ch == ' ' || ch == '\t'; })) {
    return false;
  }
  if (v.starts_with("#{") || v.starts_with("{") || v.starts_with("$") || v.starts_with("(")) {
    return false;
  }
  size_t key = c->begin;
  while (key > 0 && text[key - 1] != ';' && text[key - 1] != '\n' && c->begin - key < 40) --key;
  const bool semicolon =
      (c->end < text.size() && text[c->end] == ';') || (key > 0 && text[key - 1] == ';');
  if (!semicolon) return false;
  const size_t lo = c->begin > 200 ? c->begin - 200 : 0;
  const size_t hi = std::min(text.size(), c->end + 200);
  std::string window(text.substr(lo, hi - lo));
  for (char& ch : window) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (std::string_view name :
       {"server", "data source", "host", "user id", "userid", "uid", "user", "username", "database",
        "initial catalog", "provider", "driver", "dsn", "port"}) {
    for (const char* sep : {"=", " ="}) {
      if (window.find(std::string(name) + sep) != std::string::npos) return true;
    }
  }
  return false;
}

// `password = "secret"`, `token: token`, `api_key = "API_KEY"`: a value that is a word naming a
// secret, or one of the key's own words, stands for the secret.
bool NamesTheSecret(std::string_view key, std::string_view value) {
  const std::string v = secrets::KeyWords(value, '_');
  for (std::string_view word : {"secret", "secrets", "token", "tokens", "key", "keys", "apikey",
                                "api_key", "credential", "credentials", "auth"}) {
    if (v == word) return true;
  }
  const std::string k = secrets::KeyWords(key, '_');
  if (v == k) return true;
  size_t start = 0;
  while (start <= k.size()) {
    const size_t end = std::min(k.find('_', start), k.size());
    if (k.substr(start, end - start) == v) return true;
    start = end + 1;
  }
  return false;
}

// The value of `key <op> value` when the key names a secret of kind `want` and the value looks
// like one (secrets::ClassifyKey, PasswordValueOk, TokenValueOk). A comparison with a literal
// (`if password == "..."`, `if creds.Secret != "..."`) is held to the password standard.
Validator KeywordAssignment(KeyKind want) {
  return [want](std::string_view text, Candidate* c) {
    const std::optional<Assignment> a = secrets::ParseAssignment(text, c->begin);
    if (!a || a->end <= a->begin) return false;
    if (secrets::ClassifyKey(a->key) != want) return false;
    const std::string_view value = text.substr(a->begin, a->end - a->begin);
    if (NamesTheSecret(a->key, value)) return false;
    if (a->op == "," && a->quote == 0) return false;  // f("password-stdin", action=...)
    const bool comparison = a->op == "==" || a->op == "!=" || a->op == "===" || a->op == "!==";
    if (comparison && a->quote == 0) return false;
    const bool ok = (comparison || want == KeyKind::kPassword) ? secrets::PasswordValueOk(*a, value)
                                                               : secrets::TokenValueOk(*a, value);
    if (!ok) return false;
    c->begin = a->begin;
    c->end = a->end;
    return true;
  };
}

// A long random-looking value assigned on its own line to any key that does not name an
// identifier, a digest or a cursor: base64 / base62 of 32 to 128 bytes with upper case, lower
// case and digits, no run of 8 digits, not base64 of JSON, entropy near that of random data.
bool HighEntropyAssignment(std::string_view text, Candidate* c) {
  const std::optional<Assignment> a = secrets::ParseAssignment(text, c->begin);
  if (!a || a->end <= a->begin) return false;
  const std::string_view v = text.substr(a->begin, a->end - a->begin);
  const std::string words = secrets::KeyWords(a->key, ' ');
  const std::string_view last = std::string_view(words).substr(words.rfind(' ') + 1);
  for (std::string_view id :
       {"id",     "ids",    "uuid",     "guid",    "hash",        "sha",        "sha1",
        "sha256", "sha512", "md5",      "digest",  "checksum",    "integrity",  "etag",
        "commit", "rev",    "revision", "version", "fingerprint", "thumbprint", "image",
        "name",   "path",   "url",      "nonce",   "salt",        "iv",         "hmac",
        "sig",    "cursor", "page",     "state",   "continuation"}) {
    if (last == id) return false;
  }
  if (v.starts_with("sha") || secrets::LooksPlaceholder(v) || secrets::LooksSequential(v)) {
    return false;
  }
  // Base64 of a JSON object or array is serialized state (a pagination cursor), not a key.
  if (const std::optional<std::string> decoded = secrets::DecodeBase64(v)) {
    const size_t first = decoded->find_first_not_of(" \t\r\n");
    if (first != std::string::npos && ((*decoded)[first] == '{' || (*decoded)[first] == '[')) {
      return false;
    }
  }
  bool lower = false, upper = false, digit = false;
  for (char ch : v) {
    lower |= ch >= 'a' && ch <= 'z';
    upper |= ch >= 'A' && ch <= 'Z';
    digit |= ch >= '0' && ch <= '9';
  }
  if (!(lower && upper && digit)) return false;
  // Ids and timestamps embed long digit runs ("126031192_Igv...", "req_20240101123456_..."):
  // generated secrets essentially never hold eight digits in a row.
  size_t run = 0, longest = 0;
  for (char ch : v) {
    run = (ch >= '0' && ch <= '9') ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  if (longest >= 8) return false;
  if (secrets::ShannonEntropy(v) < secrets::EntropyThreshold(v, 0.85, 4.5)) return false;
  c->begin = a->begin;
  c->end = a->end;
  return true;
}

// Keys that name a password next to `value=` in .NET configuration (<add key=... value=...>).
bool DotnetSetting(std::string_view text, Candidate* c) {
  const std::string_view v = Span(text, *c);
  if (secrets::LooksPlaceholder(v) || v.starts_with("$") || v.starts_with("{")) return false;
  // The setting's own name, found by the pattern, is earlier on the line; require that it names
  // a password or token.
  const size_t lo = c->begin > 200 ? c->begin - 200 : 0;
  const size_t line = text.substr(lo, c->begin - lo).rfind('\n');
  const size_t from = line == std::string_view::npos ? lo : lo + line + 1;
  const std::string_view before = text.substr(from, c->begin - from);
  const size_t key_at = before.find("key");
  if (key_at == std::string_view::npos) return false;
  const size_t q1 = before.find('"', key_at);
  const size_t q2 = q1 == std::string_view::npos ? q1 : before.find('"', q1 + 1);
  if (q2 == std::string_view::npos) return false;
  return secrets::ClassifyKey(before.substr(q1 + 1, q2 - q1 - 1)) != KeyKind::kNone;
}

// ----------------------------------------------------------------------------------- rules

// The generic assignment rules: a secret word somewhere in the key, more key characters, an
// optional closing quote or bracket, an assignment (or comparison) operator, and the first
// byte of the value (a quote, \" or \', or the value's first byte). The validators parse the
// assignment around it (secrets::ParseAssignment), which bounds the key and the value; keeping
// the pattern this short keeps its automaton small and the scan fast.
constexpr const char* kPasswordWord = "(?:pass(?:word|wd|phrase|code)?|pwd)";
constexpr const char* kTokenWord =
    "(?:secrets?|tokens?|api[_.-]?keys?|apikey|"
    "(?:access|private|signing|encryption|master|license|app|client|account|storage|shared)[_.-]?"
    "keys?|auth(?:orization)?|credentials?|creds)";
constexpr const char* kAssignedValue =
    R"re([A-Za-z0-9_.-]*["'`\]]{0,2}[ \t]*(?:=>|:=|===?|!==?|=|:|,)[ \t]*(?:!!binary[ \t]+)?)re"
    R"re((\\?["'`]|[^\s"'`]))re";

}  // namespace

std::vector<PatternRule> SecretPatternRules() {
  std::vector<PatternRule> r;
  const std::string kUuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
  const std::string kUuidCi =
      "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
  // Operator between a key and its value: = : => := and spaces, with optional quotes.
  const std::string kAssign = R"re(["'`]?[ \t]*(?:=>|:=|=|:)[ \t]*["'`]?)re";

  // ---------------------------------------------------------------------- private keys
  r.push_back(Rule("private_key", "private_key",
                   R"re(-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----)re", 0.99f,
                   PemBlock));
  r.push_back(Rule("private_key_base64", "private_key",
                   R"re(\bLS0tLS1CRUdJTi[A-Za-z0-9+/]{60,}={0,2})re", 0.95f, PemBase64));
  r.push_back(Rule("putty_private_key", "private_key", R"re(PuTTY-User-Key-File-[23]: [^\r\n]+)re",
                   0.99f, PuttyKey));
  r.push_back(
      Rule("age_secret_key", "private_key", R"re(\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b)re", 0.99f));
  r.push_back(Rule("wireguard_key", "private_key",
                   R"re((?i)\b(?:PrivateKey|PresharedKey)[ \t]*=[ \t]*([A-Za-z0-9+/]{43}=))re",
                   kContext));

  // ----------------------------------------------------------------------------- JWT
  r.push_back(Rule("jwt", "jwt",
                   R"re(\b(ey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*))re"
                   R"re((?:[^A-Za-z0-9_.-]|$))re",
                   0.9f, Jwt));

  // ----------------------------------------------------------------------------- AWS
  r.push_back(Rule("aws_access_key", "aws_access_key",
                   R"re(\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b)re", 0.9f));
  r.push_back(Rule("aws_secret_key", "aws_secret_key",
                   R"re((?i)\b(?:aws[_.-]?(?:secret[_.-]?)?(?:access[_.-]?)?(?:key)?|)re"
                   R"re(secret[_.-]?access[_.-]?key))re" +
                       kAssign + R"re(([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$))re",
                   kContext));
  r.push_back(Rule("aws_secret_key_near_id", "aws_secret_key",
                   R"re(\b(?:A3T[A-Z0-9]|AKIA|ASIA)[A-Z0-9]{16}\b[\s\S]{0,60}?)re"
                   R"re(\b([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$))re",
                   kContext, [](std::string_view text, Candidate* c) {
                     const std::string_view v = Span(text, *c);
                     return secrets::CharClassCount(v) >= 3 && !secrets::LooksSequential(v) &&
                            secrets::ShannonEntropy(v) >= 4.0;
                   }));
  r.push_back(Rule(
      "aws_session_token", "aws_session_token",
      R"re((?i)\baws[_.-]?(?:session[_.-]?)?token)re" + kAssign + R"re(([A-Za-z0-9/+=]{64,}))re",
      kContext));
  r.push_back(
      Rule("aws_mws_token", "aws_mws_token", R"re((?i)\bamzn\.mws\.)re" + kUuidCi, kFormat));
  r.push_back(Rule("aws_appsync_key", "aws_appsync_key", R"re(\bda2-[a-z0-9]{26}\b)re", kContext));

  // --------------------------------------------------------------------- Google / GCP
  r.push_back(Rule("gcp_api_key", "gcp_api_key",
                   R"re(\b(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$))re", kFormat));
  r.push_back(Rule("gcp_service_account_key_id", "gcp_service_account_key",
                   R"re("private_key_id"\s*:\s*"([0-9a-f]{40})")re", kFormat));
  r.push_back(Rule("google_oauth_secret", "google_oauth_secret",
                   R"re(\b(GOCSPX-[A-Za-z0-9_-]{28})(?:[^A-Za-z0-9_-]|$))re", kFormat));
  r.push_back(Rule("google_oauth_token", "google_oauth_token",
                   R"re(\b(ya29\.[0-9A-Za-z_-]{20,})(?:[^0-9A-Za-z_-]|$))re", kFormat));
  r.push_back(Rule("google_refresh_token", "google_oauth_token", R"re(\b1//0[0-9A-Za-z_-]{40,})re",
                   kContext));

  // --------------------------------------------------------------------------- Azure
  r.push_back(Rule("azure_storage_key", "azure_storage_key",
                   R"re((?i)\b(?:AccountKey|SharedAccessKey|SharedSecretValue)\s*=\s*)re"
                   R"re(([A-Za-z0-9/+]{20,100}={0,3})(?:[^A-Za-z0-9/+=]|$))re",
                   kContext, Generated));
  r.push_back(Rule("azure_sas_token", "azure_sas_token",
                   R"re((?i)\bsv=\d{4}-\d\d-\d\d&[^\s"'<>]{0,400}?\bsig=([A-Za-z0-9%+/]{30,}))re",
                   kContext));
  r.push_back(
      Rule("azure_app_config_secret", "azure_app_config_secret",
           R"re((?i)\.azconfig\.io;\s*Id=[^;\s]{4,60};\s*Secret=([A-Za-z0-9+/]{36,50}={0,2}))re",
           kFormat));
  r.push_back(Rule("azure_client_secret", "azure_client_secret",
                   R"re((?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}))re"
                   R"re((?:$|[^A-Za-z0-9_~.-]))re",
                   kContext, Generated));
  r.push_back(Rule("azure_devops_pat", "azure_devops_pat",
                   R"re(\b([A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4})\b)re", kFormat));
  r.push_back(Rule("azure_devops_pat_legacy", "azure_devops_pat",
                   R"re((?i)(?:ado[_.-]?pat|pat[_.-]?token|personal[_.-]?access[_.-]?token|)re"
                   R"re(devops[_.-]?(?:pat|token)|\$token)\s*[=:]\s*["'`]([a-z0-9]{52})["'`])re",
                   kContext));

  // ------------------------------------------------------------------ GitHub / GitLab
  r.push_back(
      Rule("github_token", "github_token", R"re(\bgh[pous]_[A-Za-z0-9]{36}\b)re", 0.9f, Github));
  r.push_back(Rule("github_refresh_token", "github_token", R"re(\bghr_[A-Za-z0-9]{36,76}\b)re",
                   0.9f, Github));
  r.push_back(Rule("github_fine_grained_token", "github_token",
                   R"re(\bgithub_pat_[A-Za-z0-9_]{82}\b)re", kFormat));
  r.push_back(
      Rule("gitlab_token", "gitlab_token",
           R"re(\b(?:glpat|gldt|glrt|glsoat|glcbt|glft|glimt|gloas|glffct)-[0-9A-Za-z_-]{20,})re",
           kFormat));
  r.push_back(
      Rule("gitlab_trigger_token", "gitlab_token", R"re(\bglptt-[0-9a-f]{40}\b)re", kFormat));
  r.push_back(
      Rule("gitlab_runner_token", "gitlab_token", R"re(\bGR1348941[0-9A-Za-z_-]{20})re", kFormat));
  r.push_back(
      Rule("gitlab_agent_token", "gitlab_token", R"re(\bglagent-[0-9A-Za-z_-]{50,})re", kFormat));
  r.push_back(Rule("bitbucket_app_password", "bitbucket_app_password",
                   R"re(\bATBB[A-Za-z0-9]{32}\b)re", kFormat));

  // -------------------------------------------------------------------------- Slack
  r.push_back(Rule("slack_token", "slack_token",
                   R"re(\bxox[abeoprs]-(?:[0-9]+-)+[0-9A-Za-z]{6,}(?:-[0-9A-Za-z]+)*)re", kFormat));
  r.push_back(Rule("slack_refresh_token", "slack_token",
                   R"re(\bxoxe\.xox[bp]-\d-[A-Za-z0-9]{50,})re", kFormat));
  r.push_back(Rule("slack_app_token", "slack_token", R"re(\bxapp-[0-9A-Za-z/+-]{20,})re", kFormat));
  r.push_back(Rule("slack_webhook", "slack_webhook",
                   R"re((?i)https://hooks\.slack\.com/(?:services|workflows|triggers)/)re"
                   R"re([A-Za-z0-9_/+-]{20,})re",
                   kFormat));
  r.push_back(
      Rule("msteams_webhook", "msteams_webhook",
           R"re((?i)https://[a-z0-9.-]*(?:outlook\.office(?:365)?\.com|webhook\.office\.com))re"
           R"re(/webhook(?:b2)?/)re" +
               kUuid + "@" + kUuid + "/IncomingWebhook/[a-f0-9]{32}/" + kUuid,
           kFormat));

  // ------------------------------------------------------------- payments, AI, packages
  r.push_back(Rule("stripe_key", "stripe_key",
                   R"re(\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,}\b)re", kFormat));
  r.push_back(
      Rule("stripe_webhook_secret", "stripe_key", R"re(\bwhsec_[A-Za-z0-9]{32,}\b)re", kFormat));
  r.push_back(Rule("square_token", "square_token",
                   R"re((?i)\bsq0(?:atp|csp)-[a-z0-9_-]{22,43}\b)re", kFormat));
  r.push_back(Rule("openai_api_key", "openai_api_key",
                   R"re(\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,})re", kFormat));
  r.push_back(Rule("openai_api_key_legacy", "openai_api_key",
                   R"re(\bsk-(?:[A-Za-z0-9]{48}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})\b)re",
                   kFormat));
  r.push_back(Rule("anthropic_api_key", "anthropic_api_key",
                   R"re(\bsk-ant-(?:api|admin|sid|oat)\d{2}-[A-Za-z0-9_-]{32,})re", 0.99f));
  r.push_back(Rule("huggingface_token", "huggingface_token",
                   R"re(\b(?:hf|api_org)_[A-Za-z]{34}\b)re", kFormat));
  r.push_back(Rule("groq_api_key", "groq_api_key", R"re(\bgsk_[A-Za-z0-9]{48,54}\b)re", kFormat));
  r.push_back(Rule("tavily_api_key", "tavily_api_key", R"re(\btvly-[A-Za-z0-9]{32}\b)re", kFormat));
  r.push_back(Rule("jina_api_key", "jina_api_key", R"re(\bjina_[A-Za-z0-9]{60}\b)re", kFormat));
  r.push_back(
      Rule("firecrawl_api_key", "firecrawl_api_key", R"re(\bfc-[a-f0-9]{32}\b)re", kContext));
  r.push_back(Rule("npm_token", "npm_token", R"re(\bnpm_[A-Za-z0-9]{36}\b)re", kFormat));
  r.push_back(Rule("pypi_token", "pypi_token",
                   R"re(\bpypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,})re",
                   0.99f));
  r.push_back(
      Rule("rubygems_api_key", "rubygems_api_key", R"re(\brubygems_[a-f0-9]{48}\b)re", kFormat));
  r.push_back(Rule("nuget_api_key", "nuget_api_key", R"re(\boy2[a-z0-9]{43}\b)re", kContext));
  r.push_back(Rule("cratesio_api_key", "cratesio_api_key", R"re(\bcio[A-Za-z0-9]{32}\b)re",
                   kContext, Generated));
  r.push_back(Rule("dockerhub_token", "dockerhub_token",
                   R"re(\bdckr_(?:pat|oat)_[A-Za-z0-9_-]{27,})re", kFormat));
  r.push_back(Rule("artifactory_api_key", "artifactory_api_key",
                   R"re(\bAKCp[A-Za-z0-9]{60,80}\b)re", kContext));
  r.push_back(Rule("dependency_track_api_key", "dependency_track_api_key",
                   R"re(\bodt_[A-Za-z0-9]{32,255}\b)re", kFormat));

  // --------------------------------------------------------------- messaging, e-mail, SMS
  r.push_back(Rule("twilio_key", "twilio_key", R"re(\b(?:SK|AC)[0-9a-f]{32}\b)re", kContext));
  r.push_back(Rule("sendgrid_api_key", "sendgrid_api_key",
                   R"re(\bSG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43}\b)re", 0.99f));
  r.push_back(Rule("mailchimp_api_key", "mailchimp_api_key", R"re(\b[a-f0-9]{32}-us[0-9]{1,2}\b)re",
                   kContext));
  r.push_back(Rule("mailgun_api_key", "mailgun_api_key", R"re(\bkey-[a-f0-9]{32}\b)re", kContext));
  r.push_back(Rule("postmark_token", "postmark_token",
                   R"re((?i)postmark[a-z0-9_-]{0,20}.{0,10}\b()re" + kUuidCi + R"re()\b)re",
                   kContext));
  r.push_back(Rule("telegram_bot_token", "telegram_bot_token",
                   R"re(\b(\d{8,10}:AA[A-Za-z0-9_-]{32,33})(?:[^A-Za-z0-9_-]|$))re", kFormat));

  // ------------------------------------------------------------------- cloud and devops
  r.push_back(Rule("digitalocean_token", "digitalocean_token", R"re(\bdo[opr]_v1_[a-f0-9]{64}\b)re",
                   kFormat));
  r.push_back(
      Rule("doppler_token", "doppler_token",
           R"re(\bdp\.(?:ct|pt|st|sa|scim|audit)\.(?:[a-z0-9_-]{2,35}\.)?[A-Za-z0-9]{40,44}\b)re",
           kFormat));
  r.push_back(Rule("databricks_token", "databricks_token",
                   R"re(\bdapi[a-f0-9]{32}(?:-[0-9]+)?\b)re", kFormat));
  r.push_back(Rule("dynatrace_token", "dynatrace_token",
                   R"re(\bdt0[a-zA-Z][0-9]{2}\.[A-Z0-9]{24}\.[A-Z0-9]{64}\b)re", kFormat));
  r.push_back(Rule("hashicorp_vault_token", "hashicorp_vault_token",
                   R"re(\bhv[sbr]\.[A-Za-z0-9_-]{24,})re", kFormat));
  r.push_back(Rule("hashicorp_vault_token_legacy", "hashicorp_vault_token",
                   R"re((?i:vault|token|hashicorp)["':= ]{0,5}\b([sbr]\.[A-Za-z0-9_-]{24,128}))re"
                   R"re((?:[^A-Za-z0-9_-]|$))re",
                   kContext, Generated));
  r.push_back(Rule("hashicorp_vault_unseal_key", "hashicorp_vault_token",
                   R"re((?i)\bunseal\b.{1,10}\b([A-Za-z0-9+/]{44})(?:[^A-Za-z0-9+/]|$))re",
                   kContext));
  r.push_back(Rule("terraform_cloud_token", "terraform_token",
                   R"re(\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,})re", kFormat));
  r.push_back(Rule("heroku_api_key", "heroku_api_key",
                   R"re((?i)heroku.{0,20}key.{0,20}\b()re" + kUuid + R"re()\b)re", kContext));
  r.push_back(
      Rule("heroku_api_key_v2", "heroku_api_key", R"re(\bHRKU-AA[0-9A-Za-z_-]{58}\b)re", kFormat));
  r.push_back(
      Rule("grafana_token", "grafana_token", R"re(\beyJrIjoi[A-Za-z0-9]{60,100})re", kFormat));
  r.push_back(Rule("grafana_cloud_token", "grafana_token", R"re(\bglc_[A-Za-z0-9+/]{32,}={0,2})re",
                   kFormat));
  r.push_back(Rule("grafana_service_account_token", "grafana_token",
                   R"re(\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b)re", kFormat));
  r.push_back(Rule("newrelic_key", "newrelic_key",
                   R"re((?i)\b(?:nrak-[a-z0-9]{27}|nraa-[a-f0-9]{27}|nrra-[a-f0-9]{42}|)re"
                   R"re([a-z0-9]{6}[a-f0-9]{30}nral)\b)re",
                   kFormat));
  r.push_back(Rule("newrelic_insights_key", "newrelic_key",
                   R"re((?i)\b(nri[iq]-[a-z0-9_-]{32})(?:[^a-z0-9_-]|$))re", kFormat));
  r.push_back(Rule("newrelic_pixie_key", "newrelic_key",
                   R"re((?i)\bpx-(?:api|dep)-)re" + kUuid + R"re(\b)re", kFormat));
  r.push_back(Rule("jenkins_token", "jenkins_token",
                   R"re((?i)jenkins.{0,12}(?:(?:crumb|token).{0,10})?\b([0-9a-f]{32,36}|)re" +
                       kUuid + R"re()(?:[^0-9a-f-]|$))re",
                   kContext));
  r.push_back(Rule("jenkins_setup_password", "jenkins_token",
                   R"re(Please use the following password to proceed to installation:\r?\n\r?\n)re"
                   R"re(([a-f0-9]{30,36})\b)re",
                   kFormat));
  r.push_back(Rule("teamcity_token", "teamcity_token",
                   R"re(\beyJ0eXAiOiAiVENWMiJ9\.[A-Za-z0-9_-]{36}\.[A-Za-z0-9_-]{48})re", kFormat));
  r.push_back(Rule("sonarqube_token", "sonarqube_token",
                   R"re((?i)sonar.{0,5}login.{0,5}\s*\b([a-f0-9]{40})\b)re", kContext));
  r.push_back(
      Rule("sonarqube_token_v2", "sonarqube_token", R"re(\bsq[apu]_[a-f0-9]{40}\b)re", kFormat));
  r.push_back(
      Rule("codeclimate_token", "codeclimate_token",
           R"re(\b(?:CODECLIMATE_REPO_TOKEN|CC_TEST_REPORTER_ID)\s*[:=]\s*([a-f0-9]{64})\b)re",
           kContext));
  r.push_back(
      Rule("kubernetes_bootstrap_token", "kubernetes_bootstrap_token",
           R"re((?:token|Token|TOKEN|bootstrap|BOOTSTRAP).{0,8}\b([a-z0-9]{6}\.[a-z0-9]{16})\b)re",
           kContext));
  r.push_back(Rule("kubernetes_bootstrap_secret", "kubernetes_bootstrap_token",
                   R"re(token-id:\s+[a-z0-9]{6}\s+token-secret:\s+([a-z0-9]{16})\b)re", kContext));
  r.push_back(Rule("okta_api_token", "okta_api_token",
                   R"re((?is)(?:okta|ssws).{0,40}\b(00[a-z0-9_-]{39}[a-z0-9_])\b)re", kContext,
                   NotPlaceholder));
  r.push_back(Rule("atlassian_api_token", "atlassian_api_token",
                   R"re(\bATATT3[A-Za-z0-9_=-]{30,})re", kFormat));
  r.push_back(Rule("salesforce_token", "salesforce_token",
                   R"re(\b00[A-Za-z0-9]{13}![A-Za-z0-9._]{96})re", kFormat));
  r.push_back(Rule("sourcegraph_token", "sourcegraph_token",
                   R"re(\bsgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40}\b)re", kFormat));
  r.push_back(Rule("segment_token", "segment_token", R"re(\bsgp_[A-Za-z0-9]{64}\b)re", kFormat));
  r.push_back(Rule("postman_api_key", "postman_api_key",
                   R"re(\bPMAK-[A-Za-z0-9]{24}-[A-Za-z0-9]{34}\b)re", kFormat));
  r.push_back(Rule("shopify_token", "shopify_token",
                   R"re(\bshp(?:ss|at|ca|pa)_[a-fA-F0-9]{32}\b)re", kFormat));
  r.push_back(Rule("stackhawk_api_key", "stackhawk_api_key",
                   R"re(\bhawk\.[0-9A-Za-z_-]{20}\.[0-9A-Za-z_-]{20}\b)re", kFormat));
  r.push_back(Rule("dropbox_token", "dropbox_token", R"re(\bsl\.[A-Za-z0-9_-]{130,})re", kFormat));
  r.push_back(
      Rule("adafruit_io_key", "adafruit_io_key", R"re(\baio_[A-Za-z0-9]{28}\b)re", kFormat));
  r.push_back(Rule("adobe_client_secret", "adobe_client_secret",
                   R"re((?i)\b(p8e-[a-z0-9-]{32})(?:[^a-z0-9-]|$))re", kFormat));
  r.push_back(Rule("figma_token", "figma_token",
                   R"re((?i)figma.{0,20}\b([0-9a-f]{4}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-)re"
                   R"re([0-9a-f]{4}-[0-9a-f]{12})\b)re",
                   kContext));
  r.push_back(Rule("figma_token_v2", "figma_token", R"re(\bfigd_[A-Za-z0-9_-]{40,})re", kFormat));
  r.push_back(Rule("mapbox_token", "mapbox_token",
                   R"re(\b[st]k\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,})re", kFormat));
  r.push_back(
      Rule("facebook_token", "facebook_token", R"re(\bEAACEdEose0cBA[A-Za-z0-9]{20,})re", kFormat));
  r.push_back(Rule("facebook_secret", "facebook_secret",
                   R"re((?i)\b(?:facebook|fb)[_.-]?(?:api|app|application|client|consumer|)re"
                   R"re(customer|secret|key)?[_.-]?(?:key|oauth|sec|secret)?.{0,2}\s{0,20}.{0,2})re"
                   R"re(\s{0,20}.{0,2}\b([a-f0-9]{32})\b)re",
                   kContext));
  r.push_back(
      Rule("linkedin_secret", "linkedin_secret",
           R"re((?i)linkedin[_.-]?(?:api|app|application|client|consumer|customer|secret|)re"
           R"re(key)?[_.-]?(?:key|oauth|sec|secret)?.{0,2}\s{0,20}.{0,2}\s{0,20}.{0,2})re"
           R"re(\b([a-z0-9]{16})\b)re",
           kContext, Generated));
  r.push_back(Rule("twitter_secret", "twitter_secret",
                   R"re((?i)twitter[_.-]?(?:api|app|application|client|consumer|customer|secret|)re"
                   R"re(key)?[_.-]?(?:key|oauth|sec|secret)?.{0,2}\s{0,20}.{0,2}\s{0,20}.{0,2})re"
                   R"re(\b([a-z0-9]{35,44})\b)re",
                   kContext, Generated));
  r.push_back(Rule("twitch_stream_key", "twitch_stream_key",
                   R"re(\blive_\d{8,12}_[A-Za-z0-9]{30,36}\b)re", kFormat));
  r.push_back(
      Rule("kagi_api_key", "kagi_api_key",
           R"re((?is)\bkagi.{0,100}\b([A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]{43})(?:$|[^A-Za-z0-9_-]))re",
           kContext));
  r.push_back(Rule("thingsboard_token", "thingsboard_token",
                   R"re(thingsboard\.cloud/api/v1/([a-z0-9]{20}))re", kContext));
  r.push_back(Rule("thingsboard_provision_secret", "thingsboard_token",
                   R"re("provisionDevice(?:Key|Secret)"\s*:\s*"([a-z0-9]{20})")re", kContext));
  r.push_back(Rule("truenas_api_key", "truenas_api_key",
                   R"re("params"\s*:\s*\[\s*"(\d+-[A-Za-z0-9]{64})"\s*\])re", kContext));
  r.push_back(Rule(
      "blynk_client_secret", "blynk_token",
      R"re(\boa2-client-id_[A-Za-z0-9_-]{32}(?::|&client_secret=)([A-Za-z0-9_-]{40}))re", kFormat));

  // ------------------------------------------------------------------ password hashes
  r.push_back(Rule(
      "password_hash", "password_hash",
      R"re(\$(?:2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}|1\$[./A-Za-z0-9]{8}\$[./A-Za-z0-9]{22}|)re"
      R"re(5\$(?:rounds=\d+\$)?[./A-Za-z0-9]{8,16}\$[./A-Za-z0-9]{43}|)re"
      R"re(6\$(?:rounds=\d+\$)?[./A-Za-z0-9]{8,16}\$[./A-Za-z0-9]{86}|)re"
      R"re([89]\$[./A-Za-z0-9]{8,16}\$[./A-Za-z0-9]{43}|)re"
      R"re(krb5asrep\$23\$(?:[^:$\s]+:)?[0-9a-f]{32}\$[0-9a-f]{64,}|)re"
      R"re(argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{16,}\$[A-Za-z0-9+/]{32,}))re",
      kFormat));

  // --------------------------------------------------- HTTP credentials, URLs, strings
  r.push_back(
      Rule("http_basic_auth", "http_basic_auth",
           R"re((?i)\bAuthorization(?::\s*|\s*.{1,5}\s*)Basic\s+([A-Za-z0-9+/]{6,}={0,2}))re"
           R"re((?:[^A-Za-z0-9+/=]|$))re",
           kContext, BasicAuth));
  r.push_back(
      Rule("bearer_token", "bearer_token",
           R"re((?i)\bAuthorization(?::\s*|\s*.{1,5}\s*)Bearer\s+([A-Za-z0-9._~+/-]{6,}=*))re",
           kContext, [](std::string_view text, Candidate* c) {
             const std::string_view v = Span(text, *c);
             return !secrets::LooksPlaceholder(v) && secrets::CharClassCount(v) >= 2;
           }));
  r.push_back(Rule("password_in_url", "password_in_url",
                   R"re(\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[A-Za-z0-9%._~!$&'()*+,;=-]{1,64}:)re"
                   R"re(([A-Za-z0-9%._~!$&'()*+,;=@-]{1,128}?)@[A-Za-z0-9\[])re",
                   0.9f, UrlPassword));
  r.push_back(Rule("connection_string", "connection_string",
                   R"re((?i)(?:^|[;"'\s])(?:password|pwd)\s*=\s*([^;"'\r\n\s][^;"'\r\n]{0,99}))re",
                   0.85f, ConnectionString));
  r.push_back(Rule("netrc_password", "netrc_password",
                   R"re((?:machine\s+\S+|default)\s+login\s+\S+\s+password\s+(\S+))re", 0.9f,
                   NotPlaceholder));
  r.push_back(
      Rule("dotnet_credential", "password",
           R"re((?i)\bNetworkCredential\s*\(\s*"[^"\n]{3,50}"\s*,\s*"([^"\n]{3,50})"\s*\))re",
           kContext, NotPlaceholder));
  r.push_back(Rule("dotnet_directory_entry", "password",
                   R"re((?i)\bDirectoryEntry\s*\(\s*"[^"\n]{3,100}"\s*,\s*"[^"\n]{3,50}"\s*,\s*)re"
                   R"re("([^"\n]{3,50})")re",
                   kContext, NotPlaceholder));
  r.push_back(
      Rule("dotnet_config_secret", "password",
           R"re(<\s*add\s+key\s*=\s*"[^\n"]{0,40}"\s+value\s*=\s*"([^\n"]{3,100})"\s*/\s*>)re",
           kContext, DotnetSetting));
  r.push_back(Rule(
      "command_line_password", "password",
      R"re((?i)\b(?:psexec|Connect-VIServer)\b.{0,100}?\s-(?:p|password)\s+["']?([^\s"']{3,64}))re",
      kContext, [](std::string_view text, Candidate* c) {
        const std::string_view v = Span(text, *c);
        return !secrets::LooksPlaceholder(v) && !v.starts_with("$");
      }));
  r.push_back(Rule("curl_user_password", "password",
                   R"re((?:^|\s)(?:-u|--user)\s+["']?[^\s:"']{1,64}:([^\s"'@]{3,128}))re", kContext,
                   [](std::string_view text, Candidate* c) {
                     const std::string_view v = Span(text, *c);
                     return !secrets::LooksPlaceholder(v) && !v.starts_with("$");
                   }));
  r.push_back(Rule("user_password_pair", "password",
                   R"re((?m)^[ \t]*(?:user|username|USER|USERNAME|User|Username|UserName|login))re"
                   R"re([ \t]*[=:][ \t]*["']?[A-Za-z0-9._@+-]{2,64}["']?[ \t]*;?[ \t]*\r?\n)re"
                   R"re((?:[ \t]*(?:#|//)[^\n]*\n){0,3}[ \t]*[A-Za-z0-9_]{0,30})re"
                   R"re((?i:pass(?:word|wd)?)[ \t]*[=:][ \t]*([^\s'"]{5,64})[ \t]*;?[ \t]*\r?$)re",
                   kContext, [](std::string_view text, Candidate* c) {
                     const std::string_view v = Span(text, *c);
                     return !secrets::LooksPlaceholder(v) && !secrets::LooksLikeCode(v, true) &&
                            !NamesTheSecret("password", v);
                   }));
  r.push_back(
      Rule("gradle_credentials", "password",
           R"re((?i)\bcredentials\s*\{(?:\s*//[^\n]*)*\s*(?:username\s+["'][^"'\n]{1,60}["'])?)re"
           R"re((?:\s*//[^\n]*)*\s*password\s+["']([^"'\n]{1,60})["'])re",
           kContext, NotPlaceholder));
  r.push_back(Rule("password_in_prose", "password",
                   R"re((?i)\bthe (?:default )?password (?:for (?:the )?(?:user|username) )re"
                   R"re(['"][^'"\n]{2,24}['"] )?is ['"]([^'"\n\s]{3,60})['"])re",
                   kContext, NotPlaceholder));

  // -------------------------------------------------------- generic keyword assignments
  r.push_back(Rule("password_assignment", "password",
                   std::string("(?i)") + kPasswordWord + kAssignedValue, kKeyword,
                   KeywordAssignment(KeyKind::kPassword)));
  r.push_back(Rule("secret_assignment", "generic_secret",
                   std::string("(?i)") + kTokenWord + kAssignedValue, kKeyword,
                   KeywordAssignment(KeyKind::kToken)));
  // A line that assigns a long value: "KEY = value", "export KEY=value", "key: value".
  const std::string value_to_line_end =
      R"re((?:=|:)[ \t]*(["']?[A-Za-z0-9+/_-]{32,128}={0,2})["']?[ \t]*[,;]?[ \t]*)re"
      R"re((?:#.*)?\r?$)re";
  r.push_back(Rule("high_entropy_assignment", "high_entropy_string",
                   R"re((?m)^[ \t]*(?:export[ \t]+)?["']?[A-Za-z_][A-Za-z0-9_.-]{0,60}["']?)re"
                   R"re([ \t]*)re" +
                       value_to_line_end,
                   kEntropy, HighEntropyAssignment));
  // Its prefilter is the part from the '=' on, which every match has: anchored at line starts,
  // the whole pattern was an engine that Hyperscan runs from every line start, a third of the
  // prefilter's fixed cost per call (about 140 of 400 ns).
  r.back().prefilter = "(?m)" + value_to_line_end;
  return r;
}

}  // namespace airlock::classifier
