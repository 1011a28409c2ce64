// EmailDetector: e-mail addresses (category "pii.email", level confidential).
//
// Recognises the dot-atom form that real addresses use: a local part of letters, digits and
// . _ % + - (1 to 64 bytes, no leading, trailing or doubled dot), "@", and a domain of at
// least two dot-separated labels (each 1 to 63 letters, digits or inner hyphens; 253 bytes at
// most) whose last label, the TLD, is two or more letters; 254 bytes at most in all. When the
// TLD is not valid, trailing labels are dropped while two remain ("a@example.com.2" finds
// "a@example.com"; "a@example.c0m" finds nothing). Quoted
// local parts, IP-literal domains and the rarely used RFC 5322 specials (!#$&'*/=?^`{|}~) are
// not recognised. Candidates are found with RE2 and then validated. Text is scanned as bytes
// (RE2 Latin-1 mode), so invalid UTF-8 around an address neither hides it nor is an error.
// Leading dots of a candidate's local part are not part of the address ("..a@b.cd" finds
// "a@b.cd"); a candidate glued to another "@" on its right ("a@b.cd@e.fg") is rejected.
//
// Every match has confidence 0.95: the address is syntactically valid, which does not prove
// that the mailbox exists.
//
// Thread-safety: Scan is const and safe to call concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "classifier/detector.h"
#include "re2/re2.h"

namespace airlock::classifier {

class EmailDetector : public Detector {
 public:
  static constexpr std::string_view kCategory = "pii.email";
  static constexpr Level kLevel = Level::kConfidential;
  static constexpr float kConfidence = 0.95f;

  EmailDetector();  // aborts if the built-in pattern does not compile (a programming error)

  std::string_view name() const override { return "email"; }
  void Scan(std::string_view text, std::vector<Match>* out) const override;

 private:
  RE2 candidate_;
};

}  // namespace airlock::classifier
