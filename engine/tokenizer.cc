#include "engine/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <unordered_map>

#include "engine/strings.h"
#include "nlohmann/json.hpp"

namespace airlock::engine {
namespace {

using Json = nlohmann::json;

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The length of the valid UTF-8 sequence at text[i] (1 to 4); -k when only its first k bytes
// (k >= 1) are a valid beginning (a maximal subpart: the sequence is cut or broken after them);
// 0 when text[i] can begin no sequence (a continuation byte, C0, C1, F5..FF).
int Utf8At(std::string_view text, size_t i) {
  const auto b = static_cast<unsigned char>(text[i]);
  if (b < 0x80) return 1;
  int need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int k = 1; k <= need; ++k) {
    if (i + static_cast<size_t>(k) >= text.size()) return -k;
    const auto c = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
    const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (c < l || c > h) return -k;
  }
  return need + 1;
}

// GPT-2's byte alphabet: printable bytes stand for themselves, the others for 256 + n.
struct ByteAlphabet {
  std::string of_byte[256];                    // UTF-8 of the byte's character
  std::unordered_map<uint32_t, uint8_t> byte;  // character -> byte
  ByteAlphabet() {
    uint32_t n = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cp = printable ? b : 256 + n++;
      AppendUtf8(cp, &of_byte[b]);
      byte[cp] = static_cast<uint8_t>(b);
    }
  }
};

const ByteAlphabet& Bytes() {
  static const ByteAlphabet* alphabet = new ByteAlphabet();
  return *alphabet;
}

uint32_t DecodeCodePoint(std::string_view s, size_t i, int len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (len == 1) return b0;
  uint32_t cp = b0 & (0xFF >> (len + 1));
  for (int k = 1; k < len; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
  return cp;
}

// A compiled PCRE2 pattern, matched with per-thread match data.
class Regex {
 public:
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(const std::string& pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      return absl::InvalidArgumentError(
          Cat("invalid regex at offset ", offset, ": ", reinterpret_cast<const char*>(message)));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if it fails
    return std::unique_ptr<Regex>(new Regex(code));
  }
  ~Regex() { pcre2_code_free(code_); }

  // The [begin, end) of each non-empty match in text (valid UTF-8), in order.
  std::vector<std::pair<size_t, size_t>> Matches(std::string_view text) const {
    std::vector<std::pair<size_t, size_t>> out;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    size_t at = 0;
    while (at <= text.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), at,
                                 PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (ov[1] > ov[0]) {
        out.emplace_back(ov[0], ov[1]);
        at = ov[1];
      } else {  // an empty match: step over one character
        if (ov[0] >= text.size()) break;
        const int len = Utf8At(text, ov[0]);
        at = ov[0] + static_cast<size_t>(len > 0 ? len : 1);
      }
    }
    pcre2_match_data_free(md);
    return out;
  }

 private:
  explicit Regex(pcre2_code* code) : code_(code) {}
  pcre2_code* code_;
};

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct PreTokenizer {
  enum class Kind { kSplit, kByteLevel } kind;
  std::unique_ptr<Regex> regex;  // Split; ByteLevel with use_regex
  bool add_prefix_space = false;
};

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool lstrip = false, rstrip = false, special = false;
};

bool IsSpaceByte(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

std::string_view ByteLevelChar(uint8_t b) { return Bytes().of_byte[b]; }

std::string ToValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const int len = Utf8At(text, i);
    if (len > 0) {
      out.append(text.substr(i, static_cast<size_t>(len)));
      i += static_cast<size_t>(len);
    } else {
      out.append("\xEF\xBF\xBD");
      i += static_cast<size_t>(len < 0 ? -len : 1);
    }
  }
  return out;
}

size_t CompleteUtf8Prefix(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const int len = Utf8At(text, i);
    if (len > 0) {
      i += static_cast<size_t>(len);
    } else if (len < 0 && i + static_cast<size_t>(-len) >= text.size()) {
      return i;  // a valid beginning cut by the end of the text: wait for more
    } else {
      i += static_cast<size_t>(len < 0 ? -len : 1);
    }
  }
  return text.size();
}

struct Tokenizer::Impl {
  std::vector<std::string> token;  // id -> text (byte-level alphabet for BPE tokens)
  std::unordered_map<std::string, int32_t> id;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (a, b) -> (rank, merged)
  std::vector<AddedToken> added;                                     // longest first
  std::vector<const AddedToken*> added_by_first[256];                // by first byte, longest first
  std::vector<bool> special;
  std::vector<bool> is_added;
  std::vector<PreTokenizer> pre;
  bool byte_level = false;  // some pre-tokenizer maps bytes to the byte alphabet
  bool byte_level_decoder = false;
  bool ignore_merges = false;
  bool byte_fallback = false;
  std::optional<int32_t> unk;

  static uint64_t Pair(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  void Bpe(const std::string& piece, std::vector<int32_t>* out) const {
    if (ignore_merges) {
      if (auto it = id.find(piece); it != id.end()) {
        out->push_back(it->second);
        return;
      }
    }
    std::vector<int32_t> syms;
    for (size_t i = 0; i < piece.size();) {
      const int len = std::max(1, Utf8At(piece, i));
      const std::string ch = piece.substr(i, static_cast<size_t>(len));
      i += static_cast<size_t>(len);
      if (auto it = id.find(ch); it != id.end()) {
        syms.push_back(it->second);
      } else if (byte_fallback) {
        for (unsigned char b : ch) {
          char name[8];
          std::snprintf(name, sizeof name, "<0x%02X>", b);
          if (auto f = id.find(name); f != id.end()) {
            syms.push_back(f->second);
          } else if (unk) {
            syms.push_back(*unk);
          }
        }
      } else if (unk) {
        syms.push_back(*unk);
      }
    }
    for (;;) {
      int32_t best_rank = std::numeric_limits<int32_t>::max();
      size_t best = 0;
      int32_t merged = -1;
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        auto it = merges.find(Pair(syms[i], syms[i + 1]));
        if (it != merges.end() && it->second.first < best_rank) {
          best_rank = it->second.first;
          best = i;
          merged = it->second.second;
        }
      }
      if (merged < 0) break;
      syms[best] = merged;
      syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    out->insert(out->end(), syms.begin(), syms.end());
  }

  // A segment of text without added tokens, through the pre-tokenizers and the model.
  void EncodeSegment(std::string_view text, std::vector<int32_t>* out) const {
    if (text.empty()) return;
    std::vector<std::string> pieces = {std::string(text)};
    bool mapped = false;  // pieces are in the byte alphabet already
    for (const PreTokenizer& p : pre) {
      std::vector<std::string> next;
      for (std::string& piece : pieces) {
        if (p.kind == PreTokenizer::Kind::kByteLevel && p.add_prefix_space && !piece.empty() &&
            piece[0] != ' ' && &piece == &pieces.front()) {
          piece.insert(piece.begin(), ' ');
        }
        std::vector<std::string> split;
        if (p.regex != nullptr) {
          size_t prev = 0;
          for (auto [b, e] : p.regex->Matches(piece)) {
            if (b > prev) split.push_back(piece.substr(prev, b - prev));  // Isolated: the gap too
            split.push_back(piece.substr(b, e - b));
            prev = e;
          }
          if (prev < piece.size()) split.push_back(piece.substr(prev));
        } else {
          split.push_back(std::move(piece));
        }
        for (std::string& s : split) {
          if (p.kind == PreTokenizer::Kind::kByteLevel && !mapped) {
            std::string m;
            for (unsigned char b : s) m += Bytes().of_byte[b];
            s = std::move(m);
          }
          next.push_back(std::move(s));
        }
      }
      if (p.kind == PreTokenizer::Kind::kByteLevel) mapped = true;
      pieces = std::move(next);
    }
    for (const std::string& piece : pieces) Bpe(piece, out);
  }

  void Encode(std::string_view raw, std::vector<int32_t>* out) const {
    const std::string text = ToValidUtf8(raw);
    size_t seg = 0, i = 0;
    while (i < text.size()) {
      const AddedToken* hit = nullptr;
      for (const AddedToken* a : added_by_first[static_cast<unsigned char>(text[i])]) {
        if (text.compare(i, a->content.size(), a->content) == 0) {  // longest first
          hit = a;
          break;
        }
      }
      if (hit == nullptr) {
        ++i;
        continue;
      }
      size_t begin = i, end = i + hit->content.size();
      if (hit->lstrip) {
        while (begin > seg && IsSpaceByte(text[begin - 1])) --begin;
      }
      if (hit->rstrip) {
        while (end < text.size() && IsSpaceByte(text[end])) ++end;
      }
      EncodeSegment(std::string_view(text).substr(seg, begin - seg), out);
      out->push_back(hit->id);
      seg = i = end;
    }
    EncodeSegment(std::string_view(text).substr(seg), out);
  }

  void DecodeInto(int32_t t, bool skip_special, std::string* out) const {
    if (t < 0 || static_cast<size_t>(t) >= token.size() || token[static_cast<size_t>(t)].empty()) {
      return;
    }
    const size_t k = static_cast<size_t>(t);
    if (is_added[k]) {
      if (!(skip_special && special[k])) out->append(token[k]);
      return;
    }
    const std::string& s = token[k];
    if (!byte_level_decoder) {
      out->append(s);
      return;
    }
    for (size_t i = 0; i < s.size();) {
      const int len = std::max(1, Utf8At(s, i));
      const uint32_t cp = DecodeCodePoint(s, i, len);
      auto it = Bytes().byte.find(cp);
      if (it != Bytes().byte.end()) {
        out->push_back(static_cast<char>(it->second));
      } else {
        out->append(s, i, static_cast<size_t>(len));
      }
      i += static_cast<size_t>(len);
    }
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return absl::Status(absl::ErrnoToStatusCode(err),
                        Cat(path, ": cannot open tokenizer: ", std::strerror(err)));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return Parse(bytes.str(), path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Parse(std::string_view text,
                                                            std::string_view filename) {
  auto bad = [&](const std::string& key, const std::string& what) {
    return absl::InvalidArgumentError(Cat(filename, ": ", key, ": ", what));
  };
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(Cat(filename, ": not valid JSON: ", e.what()));
  }
  if (!j.is_object()) return absl::InvalidArgumentError(Cat(filename, ": expected a JSON object"));
  auto impl = std::make_unique<Impl>();

  if (j.contains("normalizer") && !j["normalizer"].is_null()) {
    return bad("normalizer", Cat("type ", j["normalizer"].value("type", std::string("?")),
                                 " is not supported (expected null)"));
  }
  const Json& model = j.contains("model") ? j["model"] : Json();
  if (!model.is_object() || model.value("type", std::string()) != "BPE") {
    return bad("model.type", "expected BPE");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return bad("model.vocab", "expected an object of token to id");
  }
  auto put = [&](const std::string& tok, int64_t id) -> absl::Status {
    if (id < 0 || id > (int64_t{1} << 24))
      return bad("model.vocab", Cat("id ", id, " of '", tok, "' is out of range"));
    if (impl->token.size() <= static_cast<size_t>(id))
      impl->token.resize(static_cast<size_t>(id) + 1);
    impl->token[static_cast<size_t>(id)] = tok;
    impl->id[tok] = static_cast<int32_t>(id);
    return absl::OkStatus();
  };
  for (const auto& [tok, id] : model["vocab"].items()) {
    if (!id.is_number_integer())
      return bad("model.vocab", Cat("'", tok, "': id is not an integer"));
    if (absl::Status s = put(tok, id.get<int64_t>()); !s.ok()) return s;
  }
  impl->ignore_merges = model.value("ignore_merges", false);
  impl->byte_fallback = model.value("byte_fallback", false);
  if (model.contains("merges") && model["merges"].is_array()) {
    int32_t rank = 0;
    for (const Json& m : model["merges"]) {
      std::string a, b;
      if (m.is_string()) {
        const std::string& s = m.get_ref<const std::string&>();
        const size_t sp = s.find(' ', 1);
        if (sp == std::string::npos)
          return bad("model.merges", Cat("entry ", rank, " '", s, "' is not 'A B'"));
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        return bad("model.merges", Cat("entry ", rank, " is not a pair of tokens"));
      }
      auto ia = impl->id.find(a), ib = impl->id.find(b), im = impl->id.find(a + b);
      if (ia == impl->id.end() || ib == impl->id.end() || im == impl->id.end()) {
        return bad("model.merges", Cat("entry ", rank, " ('", a, "', '", b,
                                       "') names a token outside the vocabulary"));
      }
      impl->merges.emplace(Impl::Pair(ia->second, ib->second), std::make_pair(rank, im->second));
      ++rank;
    }
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    auto it = impl->id.find(model["unk_token"].get<std::string>());
    if (it != impl->id.end()) impl->unk = it->second;
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() && model[key] != "") {
      return bad(Cat("model.", key), "is not supported (expected null)");
    }
  }

  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const Json& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a.contains("content") ||
          !a["content"].is_string() || a["content"].get_ref<const std::string&>().empty()) {
        return bad("added_tokens",
                   Cat("entry ", a.dump().substr(0, 80), " needs an id and content"));
      }
      AddedToken t;
      t.id = a["id"].get<int32_t>();
      t.content = a["content"].get<std::string>();
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.special = a.value("special", false);
      if (absl::Status s = put(t.content, t.id); !s.ok()) return s;
      impl->added.push_back(std::move(t));
    }
  }
  std::stable_sort(
      impl->added.begin(), impl->added.end(),
      [](const AddedToken& x, const AddedToken& y) { return x.content.size() > y.content.size(); });
  impl->special.assign(impl->token.size(), false);
  impl->is_added.assign(impl->token.size(), false);
  for (const AddedToken& a : impl->added) {
    impl->added_by_first[static_cast<unsigned char>(a.content[0])].push_back(&a);
    impl->is_added[static_cast<size_t>(a.id)] = true;
    impl->special[static_cast<size_t>(a.id)] = a.special;
  }

  // Pre-tokenizers.
  std::vector<const Json*> pres;
  if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) {
    const Json& p = j["pre_tokenizer"];
    if (p.value("type", std::string()) == "Sequence") {
      for (const Json& q : p["pretokenizers"]) pres.push_back(&q);
    } else {
      pres.push_back(&p);
    }
  }
  for (size_t k = 0; k < pres.size(); ++k) {
    const Json& p = *pres[k];
    const std::string type = p.value("type", std::string());
    const std::string key = Cat("pre_tokenizer[", k, "]");
    PreTokenizer pt;
    if (type == "Split") {
      pt.kind = PreTokenizer::Kind::kSplit;
      if (p.value("behavior", std::string()) != "Isolated" || p.value("invert", false)) {
        return bad(key, "Split is supported with behavior Isolated and invert false only");
      }
      std::string pattern;
      if (p.contains("pattern") && p["pattern"].contains("Regex")) {
        pattern = p["pattern"]["Regex"].get<std::string>();
      } else if (p.contains("pattern") && p["pattern"].contains("String")) {
        const std::string lit = p["pattern"]["String"].get<std::string>();
        pattern = "\\Q" + lit + "\\E";
      } else {
        return bad(key, "Split needs pattern.Regex or pattern.String");
      }
      auto re = Regex::Compile(pattern);
      if (!re.ok()) return bad(key + ".pattern", std::string(re.status().message()));
      pt.regex = std::move(*re);
    } else if (type == "ByteLevel") {
      pt.kind = PreTokenizer::Kind::kByteLevel;
      pt.add_prefix_space = p.value("add_prefix_space", false);
      if (p.value("use_regex", true)) pt.regex = std::move(*Regex::Compile(kGpt2Pattern));
      impl->byte_level = true;
    } else {
      return bad(key, Cat("type ", type,
                          " is not supported (expected Split, ByteLevel or a "
                          "Sequence of them)"));
    }
    impl->pre.push_back(std::move(pt));
  }
  if (j.contains("decoder") && !j["decoder"].is_null()) {
    const std::string type = j["decoder"].value("type", std::string());
    if (type != "ByteLevel")
      return bad("decoder", Cat("type ", type, " is not supported (expected ByteLevel)"));
    impl->byte_level_decoder = true;
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> out;
  impl_->Encode(text, &out);
  return out;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t t : ids) impl_->DecodeInto(t, skip_special, &out);
  return out;
}

std::optional<int32_t> Tokenizer::TokenId(std::string_view token) const {
  auto it = impl_->id.find(std::string(token));
  if (it == impl_->id.end()) return std::nullopt;
  return it->second;
}

std::string_view Tokenizer::TokenText(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->token.size()) return {};
  return impl_->token[static_cast<size_t>(id)];
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->special.size() &&
         impl_->special[static_cast<size_t>(id)];
}

size_t Tokenizer::vocab_size() const { return impl_->token.size(); }

std::string Tokenizer::Decoder::Push(int32_t id) {
  t_.impl_->DecodeInto(id, skip_special_, &pending_);
  const size_t n = CompleteUtf8Prefix(pending_);
  std::string out = ToValidUtf8(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string Tokenizer::Decoder::Finish() {
  std::string out = ToValidUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace airlock::engine
