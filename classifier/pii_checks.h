// Checks behind the built-in PII rules (classifier/pii_rules.h): checksums, number-plan and
// range tables, and a context-word search. They are pure functions of their arguments, never
// throw, accept any bytes, and are safe to call concurrently.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace airlock::classifier::pii {

// The ASCII digits of s, in order (separators and everything else dropped).
std::string DigitsOf(std::string_view s);

// Luhn (mod 10) checksum over a string of ASCII digits; false when it holds any other byte or is
// empty.
bool LuhnValid(std::string_view digits);

// A payment card number (ASCII digits only) whose issuer prefix and length belong to a known
// scheme: Visa 4 (13/16/19), Mastercard 51-55 and 2221-2720 (16), American Express 34/37 (15),
// Diners 300-305/36/38/39 (14-19), Discover 6011/644-649/65 (16-19), JCB 3528-3589 (16-19) and
// 1800/2131 (15), UnionPay 62 (16-19), Maestro 50/56-69 (12-19). The Luhn check is separate.
bool KnownCardIssuer(std::string_view digits);

// The IBAN length of a country (ISO 13616 registry, two upper-case letters); 0 when unknown.
int IbanLength(std::string_view country);
// An IBAN without separators, upper or lower case: known country, that country's length,
// two check digits, an alphanumeric BBAN, and the ISO 7064 mod-97 remainder 1.
bool IbanValid(std::string_view iban);

// A US Social Security number from its three parts (ASCII digits, 3-2-4): the area is not 000,
// 666 or 900-999, the group not 00, the serial not 0000.
bool SsnPartsValid(std::string_view area, std::string_view group, std::string_view serial);

// Dotted-quad IPv4: four decimal octets 0-255 without leading zeros. On success *octets holds
// them.
bool ParseIpv4(std::string_view s, unsigned char octets[4]);
// An IPv6 address in any RFC 4291 text form (compressed "::", embedded IPv4); no zone id.
bool ParseIpv6(std::string_view s, unsigned char bytes[16]);

// Whether one of `words` occurs as a whole word or phrase (ASCII case-insensitive; a phrase's
// inner spaces match any run of spaces, tabs or newlines) in text[begin - before, begin) or in
// text[end, end + after). The windows are clipped to the text. Words are given in lower case.
bool NearWord(std::string_view text, size_t begin, size_t end, size_t before, size_t after,
              std::span<const std::string_view> words);

}  // namespace airlock::classifier::pii
