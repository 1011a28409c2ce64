// Tokenizer: byte-level BPE from a Hugging Face `tokenizer.json` (Nemotron 3, Mistral's Tekken,
// Llama 3, GPT-2 and the like), with no Python and no network.
//
// Encoding follows the `tokenizers` library's pipeline:
//   1. added tokens (special or not) are found first, leftmost-longest, and become their ids
//      (lstrip / rstrip take the whitespace beside them along);
//   2. the rest goes through the pre-tokenizer: `Split` with the file's regex (behaviour
//      Isolated: matches and the text between them are pieces), `ByteLevel` (bytes mapped to
//      the GPT-2 byte alphabet; with use_regex, the GPT-2 split first; add_prefix_space), or a
//      `Sequence` of them;
//   3. each piece goes through the BPE model: the whole piece when it is in the vocabulary and
//      ignore_merges is set, else its characters merged pair by pair, lowest merge rank first
//      (leftmost among equals); with byte_fallback, a character outside the vocabulary becomes
//      its bytes' <0xXX> tokens.
// Input that is not valid UTF-8 has each maximal invalid subpart replaced by U+FFFD first (as
// Python's bytes.decode(errors="replace") does), so that any bytes tokenize.
// The regex runs on PCRE2 (Unicode properties, lookahead) exactly as written in the file.
// Supported: normalizer null; pre-tokenizers Split, ByteLevel, Sequence; model BPE; decoder
// ByteLevel (or null). Anything else is refused at load with the key that names it.
//
// Decoding maps tokens back to bytes (added tokens as their content); Decoder does it as a
// stream, holding back an incomplete UTF-8 sequence until the token that completes it, so
// every piece it returns is valid UTF-8.
//
// Thread-safety: immutable after loading; Encode and Decode may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace airlock::engine {

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  // `filename` names the text in errors ("tokenizer.json: model.type: ...").
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Parse(std::string_view json,
                                                          std::string_view filename);
  ~Tokenizer();

  // The ids of text (no BOS or other template tokens are added).
  std::vector<int32_t> Encode(std::string_view text) const;
  // The bytes of ids; unknown ids are skipped; with skip_special, special added tokens too.
  std::string Decode(std::span<const int32_t> ids, bool skip_special = false) const;

  std::optional<int32_t> TokenId(std::string_view token) const;  // vocabulary or added token
  std::string_view TokenText(int32_t id) const;  // as stored (byte-level alphabet); "" if none
  bool IsSpecial(int32_t id) const;
  size_t vocab_size() const;  // one more than the largest id

  // Streams a generation's text: Push returns what the new token completes (valid UTF-8,
  // possibly empty); Finish returns what is left, an incomplete sequence as U+FFFD.
  class Decoder {
   public:
    explicit Decoder(const Tokenizer& t, bool skip_special = false)
        : t_(t), skip_special_(skip_special) {}
    std::string Push(int32_t id);
    std::string Finish();

   private:
    const Tokenizer& t_;
    bool skip_special_;
    std::string pending_;  // bytes of an incomplete UTF-8 sequence
  };

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The character that stands for byte b in GPT-2's byte alphabet (the ByteLevel pre-tokenizer's
// and decoder's), as UTF-8: printable bytes stand for themselves, the others for U+0100 + n.
std::string_view ByteLevelChar(uint8_t b);

// text with each maximal subpart of an ill-formed UTF-8 sequence replaced by U+FFFD (Unicode
// §3.9, "U+FFFD substitution of maximal subparts"), as Python's decode(errors="replace").
std::string ToValidUtf8(std::string_view text);
// The length of the longest prefix of text that is complete, valid UTF-8 ending on a character
// boundary, leaving a trailing incomplete (but possibly valid) sequence out.
size_t CompleteUtf8Prefix(std::string_view text);

}  // namespace airlock::engine
