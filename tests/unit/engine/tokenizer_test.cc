// Tokenizer on a small hand-made tokenizer.json whose answers can be worked out by hand: the
// byte alphabet, merges by rank, the Split regex with lookahead, added tokens with lstrip,
// invalid UTF-8, streaming decode, and load errors naming the key. (The comparison with
// Hugging Face `tokenizers` on a real vocabulary is tests/reference/tokenizer_oracle.py.)
#include "engine/tokenizer.h"

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace airlock::engine {
namespace {

// GPT-2's byte alphabet, written out again here: byte b's character.
std::string ByteChar(int b) {
  static std::vector<std::string> chars = [] {
    std::vector<std::string> out(256);
    int n = 0;
    for (int c = 0; c < 256; ++c) {
      const bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
      const int cp = printable ? c : 256 + n++;
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      out[static_cast<size_t>(c)] = s;
    }
    return out;
  }();
  return chars[static_cast<size_t>(b)];
}

// Vocabulary: each byte's character has the byte's value as id; then merged tokens from 256.
nlohmann::json TinyTokenizer() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteChar(b)] = b;
  const std::string sp = ByteChar(' ');
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  vocab[sp + "h"] = 260;
  nlohmann::json j;
  j["version"] = "1.0";
  j["normalizer"] = nullptr;
  j["added_tokens"] = {
      {{"id", 300},
       {"content", "<|im_end|>"},
       {"special", true},
       {"lstrip", false},
       {"rstrip", false}},
      {{"id", 301}, {"content", "<mask>"}, {"special", false}, {"lstrip", true}, {"rstrip", false}},
  };
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern",
          {{"Regex", R"([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  j["model"] = {{"type", "BPE"},
                {"ignore_merges", true},
                {"byte_fallback", false},
                {"vocab", vocab},
                {"merges", {"h e", "l l", "he ll", "hell o", sp + " h"}}};
  j["decoder"] = {{"type", "ByteLevel"}};
  return j;
}

std::unique_ptr<Tokenizer> Tiny() {
  auto t = Tokenizer::Parse(TinyTokenizer().dump(), "tokenizer.json");
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

using Ids = std::vector<int32_t>;

TEST(Tokenizer, MergesByRankOverTheByteAlphabet) {
  auto t = Tiny();
  ASSERT_NE(t, nullptr);
  // "hello": he, ll, hell, hello by rank. " hello": "he" (rank 0) before " h" (rank 4), so the
  // space stays alone.
  EXPECT_EQ(t->Encode("hello hello"), (Ids{259, 32, 259}));
  // "hex": he + x.
  EXPECT_EQ(t->Encode("hex"), (Ids{256, 'x'}));
  // " hat": " h" merges (no "he" to beat it).
  EXPECT_EQ(t->Encode(" hat"), (Ids{260, 'a', 't'}));
  // Lookahead: in "a  b" the first space is a piece of its own (\s+(?!\S)), the second goes
  // with "b"; digits are single pieces.
  EXPECT_EQ(t->Encode("a  b"), (Ids{'a', ' ', ' ', 'b'}));
  EXPECT_EQ(t->Encode("x42"), (Ids{'x', '4', '2'}));
  // Non-ASCII: each UTF-8 byte is a character of the alphabet.
  EXPECT_EQ(t->Encode("é"), (Ids{0xC3, 0xA9}));
  EXPECT_EQ(t->vocab_size(), 302u);
  EXPECT_EQ(t->TokenId("hello"), 259);
  EXPECT_EQ(t->TokenId("<|im_end|>"), 300);
  EXPECT_TRUE(t->IsSpecial(300));
  EXPECT_FALSE(t->IsSpecial(259));
}

TEST(Tokenizer, AddedTokensAreFoundFirstAndLstripTakesTheSpace) {
  auto t = Tiny();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("hello<|im_end|>hex"), (Ids{259, 300, 256, 'x'}));
  EXPECT_EQ(t->Encode("a <mask>"), (Ids{'a', 301}));
  EXPECT_EQ(t->Encode("<|im_end|"), (Ids{'<', '|', 'i', 'm', '_', 'e', 'n', 'd', '|'}));
  EXPECT_EQ(t->Decode(Ids{259, 300, 256}), "hello<|im_end|>he");
  EXPECT_EQ(t->Decode(Ids{259, 300, 256}, /*skip_special=*/true), "hellohe");
}

TEST(Tokenizer, InvalidUtf8BecomesReplacementCharactersAsPythonDoes) {
  // Maximal subparts: a cut 3-byte sequence is one U+FFFD; a stray continuation byte is one;
  // an overlong lead (C0) and a surrogate (ED A0..) are one per byte.
  EXPECT_EQ(ToValidUtf8("a\xe2\x82z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(ToValidUtf8("\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xf0\x9f\xa4"), "\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("ok \xf0\x9f\xa4\x97"), "ok \xf0\x9f\xa4\x97");
  auto t = Tiny();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Encode("\xff"), (Ids{0xEF, 0xBF, 0xBD}));
}

TEST(Tokenizer, StreamingDecodeHoldsBackIncompleteCharacters) {
  auto t = Tiny();
  ASSERT_NE(t, nullptr);
  // "🤗" is F0 9F A4 97: four byte tokens; nothing comes out until the last.
  Tokenizer::Decoder d(*t);
  EXPECT_EQ(d.Push('o'), "o");
  EXPECT_EQ(d.Push(0xF0), "");
  EXPECT_EQ(d.Push(0x9F), "");
  EXPECT_EQ(d.Push(0xA4), "");
  EXPECT_EQ(d.Push(0x97), "\xf0\x9f\xa4\x97");
  EXPECT_EQ(d.Push(0xC3), "");
  EXPECT_EQ(d.Finish(), "\xEF\xBF\xBD");  // cut at the end: one replacement
  Tokenizer::Decoder e(*t);
  EXPECT_EQ(e.Push(0xC3), "");
  EXPECT_EQ(e.Push('x'), "\xEF\xBF\xBDx");  // broken: replaced, and x comes through
  EXPECT_EQ(CompleteUtf8Prefix("ab\xe2\x82"), 2u);
  EXPECT_EQ(CompleteUtf8Prefix("ab\x80"), 3u);
}

TEST(Tokenizer, UnsupportedOrBrokenFilesNameTheKey) {
  auto error = [](const nlohmann::json& j) {
    auto t = Tokenizer::Parse(j.dump(), "tokenizer.json");
    EXPECT_FALSE(t.ok());
    return t.ok() ? std::string() : std::string(t.status().message());
  };
  nlohmann::json j = TinyTokenizer();
  j["normalizer"] = {{"type", "NFKC"}};
  EXPECT_EQ(error(j), "tokenizer.json: normalizer: type NFKC is not supported (expected null)");
  j = TinyTokenizer();
  j["model"]["type"] = "WordPiece";
  EXPECT_EQ(error(j), "tokenizer.json: model.type: expected BPE");
  j = TinyTokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  EXPECT_EQ(
      error(j).rfind("tokenizer.json: pre_tokenizer[0].pattern: invalid regex at offset 9", 0), 0u)
      << error(j);
  j = TinyTokenizer();
  j["model"]["merges"].push_back("q zz");
  EXPECT_EQ(error(j),
            "tokenizer.json: model.merges: entry 5 ('q', 'zz') names a token outside "
            "the vocabulary");
  j = TinyTokenizer();
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  EXPECT_EQ(error(j),
            "tokenizer.json: pre_tokenizer[0]: type Metaspace is not supported "
            "(expected Split, ByteLevel or a Sequence of them)");
  EXPECT_EQ(Tokenizer::Parse("{", "tokenizer.json").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Tokenizer::Load("/nonexistent/tokenizer.json").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace airlock::engine
