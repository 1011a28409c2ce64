// Checks behind the built-in secret rules (classifier/secret_rules.h): entropy, placeholder and
// sequence filters, base64 decoding, the JWT header test, GitHub's token checksum, and the
// parsing of `key = value` assignments around a candidate. They are pure functions of their
// arguments, never throw, accept any bytes (invalid UTF-8 included), and are safe to call
// concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace airlock::classifier::secrets {

// Shannon entropy of the byte distribution of s, in bits per byte; 0 for an empty string.
double ShannonEntropy(std::string_view s);

// Whether every byte of s is an ASCII hex digit (and s is not empty).
bool IsHexString(std::string_view s);

// How many of the classes lower-case letter, upper-case letter, digit and "other byte" occur.
int CharClassCount(std::string_view s);

// The entropy a value needs to count as machine-generated: `ratio` times log2 of the smaller of
// its length and its alphabet (16 for hex strings, 64 otherwise), capped at `cap` bits. A
// random string's entropy approaches log2(min(length, alphabet)); words and repeated filler
// stay well below it.
double EntropyThreshold(std::string_view s, double ratio, double cap);

// A human-typed filler: six or more consecutive ascending characters ("123456", "abcdef",
// "7890" wraps to "0"), in the string itself or in its letters-only or digits-only projection
// ("a1b2c3d4e5f6" is sequential in both). Random tokens of any practical length essentially
// never contain such a run.
bool LooksSequential(std::string_view s);

// A value that stands for a secret instead of being one. Rejects, ASCII case-insensitively:
//  - empty values, values of one repeated byte ("xxxxxx", "******", "000000"), and values of 8
//    or more bytes that are 60% one byte ("aaaaaaaaaaaaend");
//  - template and variable syntax: a leading '$' or '%', ${NAME}, $(cmd, %(name)s, {{, }}, #{,
//    <%, a <...> pair ("<your-token>"), HTML-escaped names ("&lt;KEY&gt;");
//  - masks and fillers: "xxxx", "****", "...", "####", "____";
//  - the words example, sample, placeholder, changeme / change_me / change-me, changeit,
//    your (as in "your_api_key"), redacted, dummy, insert, replace, todo;
//  - exactly one of: password, passwd, pass, pwd, none, null, nil, true, false, undefined,
//    empty, required, optional, string, str, text, value, default, test, testing, hidden,
//    masked, unset, notset, not-set, n/a (also inside [] or ()).
bool LooksPlaceholder(std::string_view value);

// An unquoted value that is code rather than a literal: a call or index ("(", "[", "->", "::"),
// a dotted path (env.PASSWORD, self.token), shell-style interpolation ($NAME, ${NAME}, $(cmd)
// anywhere in it, as .env files, docker-compose and make expand them), an ALL-CAPS constant
// (DB_PASSWORD), and, unless allow_snake_case, a snake_case name without digits
// (user_password).
bool LooksLikeCode(std::string_view value, bool allow_snake_case);

// A UUID in its 8-4-4-4-12 hex form.
bool IsUuid(std::string_view s);

// Standard (+/) or URL-safe (-_) base64, padding optional; nullopt on any other byte or on an
// impossible length (one byte left over).
std::optional<std::string> DecodeBase64(std::string_view in);

// The first part of a JSON Web Token: base64url that decodes to a JSON object (after optional
// white space, '{') which names an "alg" member.
bool IsJwtHeader(std::string_view first_part);

// GitHub's token checksum (ghp_, gho_, ghu_, ghs_, ghr_ tokens of 30 random + 6 checksum
// characters after the prefix): the last six characters are the base62 CRC-32 of the thirty
// before them, left-padded with '0'. False for any other shape.
bool GithubChecksumValid(std::string_view token);

// CRC-32 (IEEE 802.3, the one of zlib) of data.
uint32_t Crc32(std::string_view data);

// ----------------------------------------------------------------- assignments around a value

// What kind of secret a key names.
enum class KeyKind {
  kNone,      // not a secret's name
  kPassword,  // password, passwd, pwd, pass, passphrase, passcode
  kToken,     // secret, token, api key, access key, private key, auth, credential(s), ...
};

// Splits an identifier into lower-case words at '_', '.', '-', ' ', and camel-case boundaries
// ("AUTH0_ClientSecret" -> auth0, client, secret; "APIKey" -> api, key).
std::string KeyWords(std::string_view key, char separator = ' ');

// Classifies a key (a variable, field or setting name) by its words:
//  - a password word (password, passwd, pwd, pass, passphrase, passcode, or a word ending in
//    "password"/"passwd") -> kPassword;
//  - secret(s), token(s), credential(s), auth, authorization, apikey, or a word ending in
//    "secret", "token", "apikey", "secretkey"; or the pairs api/access/private/secret/signing/
//    encryption/master/license/app + key, client + secret -> kToken;
//  - otherwise, or when a word after the secret word names something about the secret rather
//    than the secret itself (id, name, type, label, url, path, file, length, size, count,
//    header, prefix, expiry, ttl, format, field, hint, prompt, regex, pattern, error, message,
//    policy, ...) -> kNone ("api_key_id", "token_url" and "password_label" are not secrets).
KeyKind ClassifyKey(std::string_view key);

// An assignment parsed around a value that a pattern found at [value_begin, ...).
struct Assignment {
  std::string_view key;  // the identifier before the operator ("DB_PASSWORD", "apiKey")
  std::string_view op;   // "=", ":", "=>", ":=", ",", "==", "!=", ...
  char quote = 0;        // the value's quote ('"', '\'', '`'), 0 when unquoted
  size_t begin = 0;      // the value without its quotes, as a span of the text
  size_t end = 0;
  bool line_start = false;  // the key is the first thing on its line (config-file style)
  bool line_end = false;    // nothing but white space, ',', ';' or a comment after the value
};

// Parses `key <op> value` where the value (optionally quoted, optionally escaped as \" or \',
// optionally after YAML's "!!binary ") starts at value_begin. An unquoted value ends at white
// space or one of , ; & ) ] } < >; a quoted one at its closing quote on the same line (nullopt
// when there is none, or when the value is longer than 400 bytes). The key is read backwards
// over at most 128 bytes of [A-Za-z0-9_.-$] after skipping the operator, white space and a
// closing quote or bracket. The work is bounded per call whatever the text.
std::optional<Assignment> ParseAssignment(std::string_view text, size_t value_begin);

// Whether an assigned value looks like a password (after removing nested quotes, as in
// "'$VAR'"): 5 to 200 bytes without white space, not a placeholder, not starting with one of
// $ < % @ . , + ( ) { } & / # - * [ : = (code, markup, templates, `a::b`), not a dotted path or a
// URL, and not a code reference when unquoted (a call, an ALL-CAPS constant, a snake_case name). An
// unquoted value made only of letters must be 8 or more and stand alone on a config-style line
// (`Password=thisismypassword`).
bool PasswordValueOk(const Assignment& a, std::string_view value);

// Whether an assigned value looks like a machine-generated secret (after removing nested
// quotes): 16 to 400 bytes without white space, not a placeholder, not sequential, not a UUID,
// not a code reference, dotted path, URL or file name, a digit or a symbol among its bytes, two
// or more character classes, and entropy at least EntropyThreshold(value, 0.65, 4.0).
bool TokenValueOk(const Assignment& a, std::string_view value);

}  // namespace airlock::classifier::secrets
