#include "classifier/pii_names.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "classifier/byte_set.h"

namespace airlock::classifier {
namespace {

// Common given names (lower case, ASCII spelling), from many European and American traditions.
// A name that is also a common English word is in kAmbiguous below: it counts only when a
// surname follows.
constexpr std::string_view kFirstNames[] = {
    "aaron",      "abigail",    "adam",        "adrian",    "adriana",   "agata",     "agnes",
    "agnieszka",  "ahmed",      "aiden",       "aino",      "alan",      "albert",    "alberto",
    "aleksandr",  "aleksandra", "alessandro",  "alex",      "alexander", "alexandra", "alexandre",
    "alexis",     "alfred",     "alice",       "alicia",    "alina",     "alison",    "amanda",
    "amber",      "amelia",     "amy",         "ana",       "anastasia", "anders",    "andrea",
    "andreas",    "andrei",     "andrew",      "andrzej",   "angela",    "angelo",    "anita",
    "ann",        "anna",       "anne",        "annika",    "anthony",   "anton",     "antonio",
    "april",      "arthur",     "asa",         "ashley",    "astrid",    "audrey",    "august",
    "austin",     "ava",        "barbara",     "beatrice",  "beatriz",   "ben",       "benjamin",
    "bernard",    "berta",      "bertram",     "beth",      "betty",     "bill",      "birgit",
    "bjorn",      "bob",        "bogdan",      "boris",     "brandon",   "brenda",    "brian",
    "bridget",    "bruno",      "caitlin",     "camila",    "camille",   "carl",      "carla",
    "carlos",     "carmen",     "carol",       "caroline",  "carolyn",   "catherine", "cecilia",
    "charles",    "charlie",    "charlotte",   "chloe",     "chris",     "christian", "christina",
    "christine",  "christophe", "christopher", "cindy",     "claire",    "clara",     "claudia",
    "colin",      "connor",     "craig",       "cristina",  "cynthia",   "dan",       "daniel",
    "daniela",    "daniele",    "danielle",    "dario",     "david",     "dawn",      "dean",
    "deborah",    "denis",      "dennis",      "diana",     "diane",     "diego",     "dmitri",
    "dmitry",     "dominik",    "donald",      "donna",     "doris",     "dorothy",   "douglas",
    "dylan",      "edward",     "edwin",       "eero",      "elena",     "eleanor",   "elias",
    "elif",       "elisa",      "elizabeth",   "ella",      "ellen",     "emil",      "emilia",
    "emilie",     "emily",      "emma",        "enrico",    "eric",      "erik",      "erika",
    "ernst",      "esther",     "ethan",       "eva",       "evelyn",    "ewa",       "fabian",
    "fabio",      "faith",      "fatima",      "federico",  "felipe",    "felix",     "fernando",
    "filip",      "fiona",      "florian",     "frances",   "francesca", "francesco", "francis",
    "francisco",  "frank",      "franz",       "frederick", "gabriel",   "gabriela",  "gabriele",
    "gareth",     "gary",       "george",      "georg",     "gerald",    "gerhard",   "gianni",
    "giovanni",   "giulia",     "giuseppe",    "gloria",    "gordon",    "grace",     "gregory",
    "greta",      "gunnar",     "gustav",      "hana",      "hannah",    "hans",      "harold",
    "harry",      "heather",    "heidi",       "heinz",     "helen",     "helena",    "helga",
    "henrik",     "henry",      "hiroshi",     "hope",      "hugo",      "ian",       "igor",
    "ilona",      "ines",       "ingrid",      "irene",     "iris",      "isaac",     "isabel",
    "isabella",   "isabelle",   "ivan",        "ivana",     "jack",      "jacob",     "jacqueline",
    "jakob",      "james",      "jamie",       "jan",       "jana",      "jane",      "janet",
    "janina",     "janos",      "jason",       "javier",    "jean",      "jeffrey",   "jennifer",
    "jens",       "jeremy",     "jerzy",       "jessica",   "jiri",      "joan",      "joanna",
    "johan",      "johann",     "johanna",     "johannes",  "john",      "jonas",     "jonathan",
    "jordan",     "jorge",      "jose",        "joseph",    "josh",      "joshua",    "joy",
    "juan",       "judith",     "judy",        "julia",     "julian",    "julie",     "juliet",
    "julieta",    "june",       "jurgen",      "justin",    "kai",       "karen",     "karin",
    "karl",       "kasper",     "katarina",    "katarzyna", "kate",      "katherine", "kathleen",
    "kathryn",    "katie",      "keith",       "kelly",     "kenneth",   "kevin",     "kim",
    "kirsten",    "klaus",      "krisztian",   "kristina",  "krzysztof", "kyle",      "lara",
    "larry",      "lars",       "laura",       "lauren",    "laurent",   "lawrence",  "layla",
    "lea",        "leah",       "lena",        "leo",       "leon",      "leonardo",  "leticia",
    "liam",       "lily",       "linda",       "lisa",      "liv",       "lorenzo",   "louis",
    "louise",     "lucas",      "lucia",       "luca",      "lucy",      "luis",      "luisa",
    "lukas",      "luke",       "madison",     "magda",     "magdalena", "magnus",    "maja",
    "malgorzata", "manuel",     "marc",        "marcel",    "marco",     "marcus",    "margaret",
    "maria",      "marie",      "marina",      "mario",     "marion",    "mark",      "marko",
    "markus",     "marta",      "martha",      "martin",    "martina",   "mary",      "mason",
    "mateo",      "matteo",     "matthew",     "matthias",  "max",       "maxim",     "maya",
    "megan",      "melanie",    "melissa",     "mia",       "michael",   "michaela",  "michal",
    "michel",     "michelle",   "miguel",      "mikael",    "mikhail",   "mila",      "milan",
    "milena",     "mohammed",   "monica",      "monika",    "nadia",     "nancy",     "natalia",
    "natalie",    "nathan",     "nicholas",    "nicola",    "nicolas",   "nicole",    "niklas",
    "nikolai",    "nils",       "nina",        "noah",      "nora",      "olga",      "oliver",
    "olivia",     "omar",       "oscar",       "oskar",     "pablo",     "pamela",    "paola",
    "patricia",   "patrick",    "paul",        "paula",     "pavel",     "pedro",     "peter",
    "petra",      "philip",     "philippe",    "pierre",    "piotr",     "polona",    "rachel",
    "rafael",     "ralph",      "randy",       "raquel",    "raymond",   "rebecca",   "renata",
    "rene",       "ricardo",    "richard",     "rita",      "robert",    "roberta",   "roberto",
    "robin",      "roger",      "roman",       "ronald",    "rosa",      "rose",      "ruth",
    "ryan",       "sabine",     "sally",       "samantha",  "samuel",    "sandra",    "sara",
    "sarah",      "scott",      "sean",        "sebastian", "selam",     "sergei",    "sergey",
    "sergio",     "sharon",     "shirley",     "silvia",    "simon",     "simone",    "sofia",
    "sophia",     "sophie",     "stefan",      "stefano",   "stella",    "stephanie", "stephen",
    "steven",     "susan",      "susanne",     "sven",      "svetlana",  "sylvia",    "tamara",
    "tanja",      "tatiana",    "teresa",      "thomas",    "tim",       "timothy",   "tina",
    "tobias",     "todd",       "tom",         "tomas",     "tommaso",   "tony",      "tracy",
    "ulrich",     "ursula",     "uta",         "valentina", "valeria",   "vanessa",   "vera",
    "veronica",   "victor",     "victoria",    "viktor",    "vincent",   "violet",    "virginia",
    "vivian",     "vladimir",   "walter",      "wayne",     "wendy",     "william",   "wojciech",
    "wolfgang",   "yuki",       "yusuf",       "zachary",   "zoe",       "zofia",     "zsofia",
};

// Given names that are also everyday words: reported only with a surname after them.
constexpr std::string_view kAmbiguous[] = {
    "amber", "april", "august", "austin",   "bill",   "dawn",     "faith", "frank", "grace",
    "hope",  "iris",  "jack",   "jordan",   "joy",    "june",     "lily",  "mark",  "max",
    "may",   "robin", "rose",   "victoria", "violet", "virginia", "will",
};

constexpr std::string_view kTitles[] = {
    "dame",  "dr",     "frau",     "herr",    "lady", "lord", "madam", "madame", "miss",
    "mlle",  "mme",    "monsieur", "mr",      "mrs",  "ms",   "mx",    "prof",   "professor",
    "señor", "señora", "signor",   "signora", "sir",  "sr",   "sra",
};

// Capitalised words that are never a name here.
constexpr std::string_view kNotNames[] = {
    "a",        "about",     "account",  "address",  "after",  "all",      "also",    "an",
    "and",      "any",       "april",    "are",      "as",     "at",       "august",  "bank",
    "be",       "because",   "before",   "but",      "by",     "can",      "card",    "company",
    "customer", "date",      "dear",     "december", "desk",   "do",       "does",    "e-mail",
    "email",    "every",     "fax",      "february", "for",    "friday",   "from",    "good",
    "he",       "hello",     "her",      "here",     "hi",     "his",      "how",     "i",
    "if",       "in",        "inc",      "is",       "it",     "its",      "january", "july",
    "june",     "just",      "ltd",      "march",    "may",    "mobile",   "monday",  "my",
    "name",     "no",        "not",      "november", "now",    "number",   "october", "of",
    "office",   "ok",        "on",       "or",       "our",    "phone",    "please",  "regards",
    "saturday", "september", "she",      "so",       "street", "sunday",   "team",    "thank",
    "thanks",   "that",      "the",      "their",    "then",   "there",    "these",   "they",
    "this",     "those",     "thursday", "to",       "today",  "tomorrow", "tuesday", "user",
    "we",       "wednesday", "what",     "when",     "where",  "which",    "who",     "why",
    "with",     "yes",       "you",      "your",
};

// A set of short words (at most 16 bytes, none of them 0x00), looked up with one multiply hash
// of the word's bytes padded with zeros: cheaper than a general hash set for the few lookups
// per capitalised word.
class ShortWordSet {
 public:
  explicit ShortWordSet(std::span<const std::string_view> words) {
    size_t size = 16;
    while (size < 2 * words.size()) size *= 2;
    slots_.assign(size, Key{});
    shift_ = 64 - std::countr_zero(size);
    for (std::string_view w : words) {
      const Key k = Pack(w);
      size_t i = Slot(k);
      while (!slots_[i].empty() && !(slots_[i] == k)) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = k;
    }
  }

  // Whether the word whose bytes `padded` holds, followed by zeros to 16 bytes, is in the
  // set. (Words in this form cost two loads to pack, not a copy of a variable length.)
  bool contains_padded(const char (&padded)[16]) const {
    Key k;
    std::memcpy(&k.a, padded, 8);
    std::memcpy(&k.b, padded + 8, 8);
    if (k.empty()) return false;
    for (size_t i = Slot(k);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i] == k) return true;
      if (slots_[i].empty()) return false;
    }
  }

 private:
  struct Key {
    uint64_t a = 0, b = 0;
    bool empty() const { return a == 0 && b == 0; }
    bool operator==(const Key&) const = default;
  };
  static Key Pack(std::string_view w) {
    char bytes[16] = {};
    std::memcpy(bytes, w.data(), std::min<size_t>(w.size(), 16));
    Key k;
    std::memcpy(&k.a, bytes, 8);
    std::memcpy(&k.b, bytes + 8, 8);
    return k;
  }
  size_t Slot(const Key& k) const {
    return static_cast<size_t>((k.a * 0x9E3779B97F4A7C15ULL ^ k.b * 0xC2B2AE3D27D4EB4FULL) >>
                               shift_);
  }

  std::vector<Key> slots_;
  int shift_ = 0;
};

bool IsAsciiLetter(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool IsLetterByte(unsigned char c) { return IsAsciiLetter(c) || c >= 0x80; }

// Decodes the code point at text[i] (0xFFFD for bytes that are not valid UTF-8) and its length.
char32_t Decode(std::string_view text, size_t i, size_t* length) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = b(i);
  *length = 1;
  if (c < 0x80) return c;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (n == 0 || i + n > text.size()) return 0xFFFD;
  char32_t cp = c & (0x3F >> (n - 1));
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  *length = n;
  return cp;
}

bool IsUpper(char32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return true;
  if (cp >= 0xC0 && cp <= 0xDE) return cp != 0xD7;
  if (cp >= 0x100 && cp <= 0x17F) {  // Latin Extended-A: mostly upper at even code points
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return cp % 2 == 1;
    return cp % 2 == 0 && cp != 0x138;
  }
  return (cp >= 0x391 && cp <= 0x3A9) || (cp >= 0x400 && cp <= 0x42F);  // Greek, Cyrillic
}

bool IsLower(char32_t cp) {
  if (cp >= 'a' && cp <= 'z') return true;
  if (cp < 0x80) return false;
  if (cp == 0xFFFD) return false;
  return !IsUpper(cp);
}

struct Word {
  size_t begin = 0;
  size_t end = 0;        // after a possessive "'s" is taken off
  size_t raw_end = 0;    // where the word's bytes end (the next word starts after it)
  bool capital = false;  // upper-case letter, then a lower-case one
  bool initial = false;  // one upper-case ASCII letter
  // The word with ASCII letters lowered, when it has at most kMaxLower bytes (every word of
  // the tables above does); longer words read as "" and match none.
  static constexpr size_t kMaxLower = 16;
  char folded[kMaxLower] = {};
  uint8_t folded_size = 0;

  std::string_view lower() const { return std::string_view(folded, folded_size); }
};

template <const auto& kTable>
bool InTable(const Word& w) {
  static const ShortWordSet set(kTable);  // made once (thread-safe static initialisation)
  return set.contains_padded(w.folded);   // a word longer than kMaxLower is all zeros: none
}

bool IsFirstName(const Word& w) { return InTable<kFirstNames>(w); }
bool IsAmbiguous(const Word& w) { return InTable<kAmbiguous>(w); }
bool IsTitle(const Word& w) { return InTable<kTitles>(w); }
bool IsNotName(const Word& w) { return InTable<kNotNames>(w); }

// A joiner ('\'' or '-') at text[i] continues a word when a letter byte follows it.
bool JoinsAt(std::string_view text, size_t i) {
  return (text[i] == '\'' || text[i] == '-') && i + 1 < text.size() &&
         IsLetterByte(static_cast<unsigned char>(text[i + 1]));
}

// Words are maximal runs of letter bytes (ASCII letters and every byte >= 0x80) joined by
// single joiners: "Jean-Pierre", "O'Neil". Whether text[i] (a letter byte) begins one.
bool StartsWord(std::string_view text, size_t i) {
  if (i == 0) return true;
  const unsigned char p = static_cast<unsigned char>(text[i - 1]);
  if (IsLetterByte(p)) return false;
  return !((p == '\'' || p == '-') && i >= 2 &&
           IsLetterByte(static_cast<unsigned char>(text[i - 2])));
}

// The word that begins at text[begin] (where StartsWord holds).
Word ReadWord(std::string_view text, size_t begin) {
  Word w;
  w.begin = begin;
  size_t i = begin;
  while (i < text.size()) {
    if (IsLetterByte(static_cast<unsigned char>(text[i]))) {
      ++i;
    } else if (JoinsAt(text, i)) {
      i += 2;
    } else {
      break;
    }
  }
  w.raw_end = w.end = i;
  // A possessive is not part of the name: "Yefremova's" -> "Yefremova".
  if (w.end - w.begin > 3 && text[w.end - 2] == '\'' && (text[w.end - 1] | 0x20) == 's') {
    w.end -= 2;
  }
  if (w.end - w.begin <= Word::kMaxLower) {
    for (size_t k = w.begin; k < w.end; ++k) {
      const char c = text[k];
      w.folded[w.folded_size++] = c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c;
    }
  }
  size_t n1 = 0, n2 = 0;
  const char32_t first = Decode(text, w.begin, &n1);
  if (IsUpper(first)) {
    if (w.begin + n1 == w.end) {
      w.initial = first < 0x80;
    } else {
      w.capital = IsLower(Decode(text, w.begin + n1, &n2));
    }
  }
  return w;
}

// The first word that begins at or after pos, if any.
std::optional<Word> NextWord(std::string_view text, size_t pos) {
  while (pos < text.size() && !IsLetterByte(static_cast<unsigned char>(text[pos]))) ++pos;
  if (pos >= text.size()) return std::nullopt;
  return ReadWord(text, pos);
}

// The last word whose bytes end at or before pos (a word start), if any.
std::optional<Word> PreviousWord(std::string_view text, size_t pos) {
  while (pos > 0 && !IsLetterByte(static_cast<unsigned char>(text[pos - 1]))) --pos;
  if (pos == 0) return std::nullopt;
  size_t begin = pos - 1;  // a letter byte of the word; walk back to its start
  while (!StartsWord(text, begin)) {
    begin -= IsLetterByte(static_cast<unsigned char>(text[begin - 1])) ? 1 : 2;
  }
  return ReadWord(text, begin);
}

// First bytes of a capitalised word: A-Z and the UTF-8 lead bytes of the upper-case letters
// that IsUpper knows (Latin-1, Latin Extended-A, Greek, Cyrillic).
constexpr ByteSet kCapitalLead = ByteSet::Of([](uint8_t c) {
  return (c >= 'A' && c <= 'Z') || c == 0xC3 || c == 0xC4 || c == 0xC5 || c == 0xCE || c == 0xD0;
});

// The bytes between two words.
std::string_view Gap(std::string_view text, const Word& a, const Word& b) {
  return text.substr(a.end, b.begin - a.end);
}

bool IsNameWord(const Word& w) { return w.capital && !IsNotName(w); }

// Extends a name from words[k] (a name word): up to three words in all, joined by one space,
// with middle initials ("Faina D. Yefremova"). Returns the index of the last word.
size_t ExtendName(std::string_view text, std::span<const Word> words, size_t k) {
  size_t last = k;
  for (size_t j = k + 1; j < words.size() && j - k < 3; ++j) {
    const std::string_view gap = Gap(text, words[j - 1], words[j]);
    if (words[j].initial) {
      if (j + 1 >= words.size()) break;
      const std::string_view next_gap = Gap(text, words[j], words[j + 1]);
      if (gap != " " || (next_gap != ". " && next_gap != " ") || !IsNameWord(words[j + 1])) {
        break;
      }
      continue;  // the next word completes it
    }
    if ((gap != " " && !(words[j - 1].initial && gap == ". ")) || !IsNameWord(words[j])) break;
    last = j;
  }
  return last;
}

enum class Trigger { kNone, kTitle, kPhrase };

// Words that introduce a name on their own ("Dear ", "Regards,\n"); "name" and "name is" are
// the other phrases.
constexpr std::string_view kPhraseWords[] = {"named",     "dear",   "signed", "regards",
                                             "sincerely", "cheers", "attn"};

// What precedes words[k]: a title ("Dr. "), or an introducing phrase ("my name is ").
Trigger TriggerBefore(std::string_view text, std::span<const Word> words, size_t k) {
  if (k == 0) return Trigger::kNone;
  const Word& p = words[k - 1];
  const std::string_view gap = Gap(text, p, words[k]);
  const bool same_line = gap.find('\n') == std::string_view::npos && gap.size() <= 3;
  if (IsTitle(p) && same_line && (gap == " " || gap == ". ")) return Trigger::kTitle;
  if (!same_line && !(gap.size() <= 4 && (p.lower() == "regards" || p.lower() == "sincerely" ||
                                          p.lower() == "thanks" || p.lower() == "cheers"))) {
    return Trigger::kNone;
  }
  if (p.lower() == "name" && gap.find(':') != std::string_view::npos) return Trigger::kPhrase;
  if (gap.find_first_not_of(" ,:\n") != std::string_view::npos) return Trigger::kNone;
  if (std::find(std::begin(kPhraseWords), std::end(kPhraseWords), p.lower()) !=
      std::end(kPhraseWords)) {
    return Trigger::kPhrase;
  }
  if (p.lower() == "is" && k >= 2 && words[k - 2].lower() == "name") return Trigger::kPhrase;
  return Trigger::kNone;
}

// Whether the word before a word that starts at `begin` may trigger a name: false only when
// it is plain ASCII letters and no title, phrase word, "name" or "is" (or there is none). A cheap
// test before PreviousWord and TriggerBefore, which most capitalised words (those that start a
// sentence) never pass.
bool MayTrigger(std::string_view text, size_t begin) {
  static const ShortWordSet triggers = [] {  // every word TriggerBefore looks for
    std::vector<std::string_view> words(std::begin(kTitles), std::end(kTitles));
    words.insert(words.end(), std::begin(kPhraseWords), std::end(kPhraseWords));
    words.push_back("name");
    words.push_back("is");
    return ShortWordSet(words);
  }();
  size_t end = begin;
  while (end > 0 && !IsLetterByte(static_cast<unsigned char>(text[end - 1]))) --end;
  if (end == 0) return false;
  size_t start = end;
  while (start > 0 && end - start <= Word::kMaxLower &&
         IsAsciiLetter(static_cast<unsigned char>(text[start - 1]))) {
    --start;
  }
  if (end - start > Word::kMaxLower) return false;  // longer than any trigger word
  if (start > 0) {
    const unsigned char before = static_cast<unsigned char>(text[start - 1]);
    if (before >= 0x80 || before == '\'' || before == '-') return true;  // the full check
  }
  char padded[Word::kMaxLower] = {};
  for (size_t k = start; k < end; ++k) padded[k - start] = static_cast<char>(text[k] | 0x20);
  return triggers.contains_padded(padded);
}

}  // namespace

void PersonNameDetector::Scan(std::string_view text, std::vector<Match>* out) const {
  // Only capitalised words can start a name, so the scan jumps from one to the next and reads
  // the few words around it: the two before (TriggerBefore) and the three after (ExtendName).
  absl::InlinedVector<Word, 6> window;  // two words before, the name word, three after
  size_t pos = 0;
  while ((pos = kCapitalLead.Find(text, pos)) < text.size()) {
    if (!StartsWord(text, pos)) {
      ++pos;
      continue;
    }
    const Word w = ReadWord(text, pos);
    pos = w.raw_end;
    if (!IsNameWord(w)) continue;
    // Without a trigger only a dictionary first name can start a name.
    if (!IsFirstName(w) && !MayTrigger(text, w.begin)) continue;
    window.clear();
    if (std::optional<Word> p1 = PreviousWord(text, w.begin)) {
      if (p1->lower() == "is") {  // TriggerBefore looks for "name is"
        if (std::optional<Word> p2 = PreviousWord(text, p1->begin)) window.push_back(*p2);
      }
      window.push_back(*p1);
    }
    const size_t k = window.size();
    window.push_back(w);
    const Trigger trigger = TriggerBefore(text, window, k);
    // Without a trigger only a dictionary first name can start a name.
    if (trigger == Trigger::kNone && !IsFirstName(w)) continue;
    for (size_t ahead = 0; ahead < 3; ++ahead) {
      std::optional<Word> next = NextWord(text, window.back().raw_end);
      if (!next) break;
      window.push_back(*next);
    }
    const size_t last = ExtendName(text, window, k);
    float confidence = 0;
    if (trigger == Trigger::kTitle) {
      confidence = 0.85f;
    } else if (trigger == Trigger::kPhrase) {
      confidence = 0.8f;
    } else if (IsFirstName(w)) {
      if (last > k) {
        confidence = 0.75f;
      } else if (!IsAmbiguous(w)) {
        confidence = 0.5f;
      }
    }
    if (confidence == 0) continue;
    out->push_back(Match{"pii.person_name", Level::kConfidential, w.begin, window[last].end,
                         confidence, "person_name"});
    pos = window[last].raw_end;
  }
}

}  // namespace airlock::classifier
