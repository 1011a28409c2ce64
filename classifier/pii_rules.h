// The built-in PII detectors: pattern rules (scanned with every other rule in one pass by the
// classifier's PatternSetDetector) and the context detectors that are not single patterns.
//
// Each rule finds candidates with an RE2 pattern and accepts them only after a validator:
//
//   category            level         how a candidate becomes a finding
//   pii.email           confidential  dot-atom local part, domain with a letter TLD (EmailRule)
//   pii.phone           confidential  libphonenumber: "+CC ..." valid in its plan (0.9); national
//                                     form valid in the US plan and written with separators
//                                     (0.8); with a phone word near ("phone", "call", "mobile",
//                                     "fax", "tel", "number", ...): valid in one of ~50 regions
//                                     (0.7) or of a length some plan allows (0.5). 7-15 digits;
//                                     bare digit runs need the context; SSN, date, IPv4 and
//                                     payment-card shapes are left to their own rules
//   pii.credit_card     restricted    12-19 digits, one kind of separator (space or dash) between
//                                     groups of 3-6, known issuer prefix and length, Luhn; fewer
//                                     than 14 digits written bare need a card word near
//   pii.iban            restricted    country code with its registry length, mod-97 == 1; upper
//                                     or lower case, plain or in groups of four
//   pii.us_ssn          restricted    3-2-4 digits, area not 000/666/9xx, group not 00, serial not
//                                     0000; dashed stands alone, spaced or 9 bare digits need a
//                                     word like "SSN" or "social security" near
//   pii.ip_address      confidential  IPv4 (octets 0-255, no leading zeros) and IPv6 (every RFC
//                                     4291 form, validated by inet_pton). Unspecified, loopback
//                                     and broadcast addresses (0.0.0.0, 127/8, 255.255.255.255,
//                                     ::, ::1) identify nobody and are not reported; private,
//                                     shared and link-local ranges (10/8, 172.16/12, 192.168/16,
//                                     100.64/10, 169.254/16, fc00::/7, fe80::/10) are reported at
//                                     confidence 0.6 (they reveal an internal network, not a
//                                     person); public ones at 0.85
//   pii.mac_address     internal      six hex pairs with ":" or "-", or Cisco "xxxx.xxxx.xxxx";
//                                     not all-zero or broadcast; "-" and "." forms need a hex
//                                     letter
//   pii.date_of_birth   confidential  a valid date (numeric d/m/y, m/d/y, y-m-d, or with a month
//                                     name) only with "born", "DOB", "date of birth", "birthday"
//                                     ... within 48 bytes before or 16 after
//   pii.street_address  confidential  house number + capitalised words + a USPS street suffix
//                                     ("12 Baker Street", "9 Elm St. Apt 4"), European forms with
//                                     a compiled-in list of street words ("Rue ...", "Via ...",
//                                     "...straße 12", "...katu 25", "...gatan 3"), and PO / PSC
//                                     boxes. Deterministic and incomplete: see the evaluation
//   pii.person_name     confidential  PersonNameDetector (classifier/pii_names.h): titles, "my
//                                     name is", a dictionary of common first names followed by a
//                                     capitalised surname. Incomplete by nature: see the evaluation
//
// Levels are the defaults; a policy may override them per category. Every match is validated,
// so confidences say how specific the evidence was, not a probability.
//
// Thread-safety: the rules and detectors are immutable after construction; their validators and
// Scan are safe to call concurrently.
#pragma once

#include <memory>
#include <vector>

#include "classifier/detector.h"
#include "classifier/pattern_set.h"

namespace airlock::classifier {

// E-mail addresses (category "pii.email", level confidential, confidence 0.95). Recognises the
// dot-atom form that real addresses use: a local part of letters, digits and . _ % + - (1 to 64
// bytes, no leading, trailing or doubled dot), "@", and a domain of at least two dot-separated
// labels (each 1 to 63 letters, digits or inner hyphens; 253 bytes at most) whose last label,
// the TLD, is two or more letters; 254 bytes at most in all. When the TLD is not valid, trailing
// labels are dropped while two remain ("a@example.com.2" finds "a@example.com"; "a@example.c0m"
// finds nothing). Quoted local parts, IP-literal domains and the RFC 5322 specials
// (!#$&'*/=?^`{|}~) are not recognised. Leading dots of the local part are not part of the
// address ("..a@b.cd" finds "a@b.cd"); a candidate glued to another "@" on its right
// ("a@b.cd@e.fg") is rejected.
PatternRule EmailRule();

// Email, phone, payment card, IBAN, US SSN, IPv4/IPv6, MAC, date of birth in context, street
// address (the table above).
std::vector<PatternRule> PiiPatternRules();

// Detectors that need more than a pattern (person names).
std::vector<std::unique_ptr<Detector>> PiiContextDetectors();

}  // namespace airlock::classifier
