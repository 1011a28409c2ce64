#include "classifier/term_detector.h"

#include <algorithm>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/classifier/rule_out.h"

namespace airlock::classifier {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TermList List(std::string category, std::vector<std::string> terms, bool case_sensitive = false,
              Level level = Level::kConfidential) {
  TermList l;
  l.category = std::move(category);
  l.terms = std::move(terms);
  l.case_sensitive = case_sensitive;
  l.level = level;
  return l;
}

std::unique_ptr<TermDetector> Make(std::vector<TermList> lists) {
  auto d = TermDetector::Create("terms", std::move(lists));
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? std::move(*d) : nullptr;
}

// "category:matched text" for each match, in order.
std::vector<std::string> Found(const TermDetector& d, std::string_view text) {
  std::vector<Match> matches;
  d.Scan(text, &matches);
  std::vector<std::string> out;
  for (const Match& m : matches) {
    out.push_back(m.category + ":" + std::string(text.substr(m.begin, m.end - m.begin)));
  }
  return out;
}

TEST(TermDetector, FindsTermsWithCategoryLevelSpanAndListName) {
  TermList l = List("custom.project", {"Apollo", "Project Nightingale"}, false, Level::kRestricted);
  l.name = "codenames";
  auto d = Make({l});
  std::vector<Match> m;
  d->Scan("Ship Apollo before Project Nightingale.", &m);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].category, "custom.project");
  EXPECT_EQ(m[0].level, Level::kRestricted);
  EXPECT_EQ(m[0].begin, 5u);
  EXPECT_EQ(m[0].end, 11u);
  EXPECT_EQ(m[0].detector, "codenames");
  EXPECT_FLOAT_EQ(m[0].confidence, 1.0f);
  EXPECT_EQ(m[1].begin, 19u);
  EXPECT_EQ(m[1].end, 38u);
  EXPECT_EQ(d->name(), "terms");
  EXPECT_EQ(d->lists(), 1u);
  EXPECT_EQ(d->terms(), 2u);
}

TEST(TermDetector, CaseInsensitiveFoldsAsciiOnly) {
  auto d = Make({List("c.x", {"apollo", "\xC3\xA4rger"})});  // "ärger"
  EXPECT_THAT(Found(*d, "APOLLO apollo ApOlLo"),
              ElementsAre("c.x:APOLLO", "c.x:apollo", "c.x:ApOlLo"));
  // "ÄRGER" differs in the bytes of its first letter: not folded. "äRGER" is.
  EXPECT_THAT(Found(*d, "\xC3\x84RGER"), ElementsAre());
  EXPECT_THAT(Found(*d, "\xC3\xA4RGER"), ElementsAre("c.x:\xC3\xA4RGER"));
}

TEST(TermDetector, CaseSensitiveListsMatchExactly) {
  auto d = Make({List("c.sens", {"Apollo"}, /*case_sensitive=*/true)});
  EXPECT_THAT(Found(*d, "apollo APOLLO Apollo"), ElementsAre("c.sens:Apollo"));
}

TEST(TermDetector, SensitiveAndInsensitiveListsTogether) {
  auto d = Make({List("c.sens", {"IT"}, true), List("c.ins", {"apollo"}, false)});
  EXPECT_THAT(Found(*d, "it IT Apollo"), ElementsAre("c.sens:IT", "c.ins:Apollo"));
}

TEST(TermDetector, WordBoundariesOnBothSides) {
  auto d = Make({List("c.x", {"Apollo"})});
  EXPECT_THAT(Found(*d, "xApollo Apollo2 Apollo_v2 Apollo-2 (Apollo) 'Apollo'. Apollo"),
              ElementsAre("c.x:Apollo", "c.x:Apollo", "c.x:Apollo", "c.x:Apollo", "c.x:Apollo"));
  EXPECT_THAT(Found(*d, "Apollo"), ElementsAre("c.x:Apollo"));
  EXPECT_THAT(Found(*d, "Apolloo"), ElementsAre());
  EXPECT_THAT(Found(*d, "1Apollo"), ElementsAre());
}

TEST(TermDetector, EdgesThatAreNotWordCharactersNeedNoBoundary) {
  auto d = Make({List("c.lang", {"C++", "#apollo"})});
  EXPECT_THAT(Found(*d, "C++17 and x#apollo"), ElementsAre("c.lang:C++", "c.lang:#apollo"));
  EXPECT_THAT(Found(*d, "aC++"), ElementsAre());  // the 'C' still needs a boundary
}

TEST(TermDetector, WordBoundaryCanBeTurnedOff) {
  TermList l = List("c.sub", {"pollo"});
  l.word_boundary = false;
  auto d = Make({l});
  EXPECT_THAT(Found(*d, "Apollo"), ElementsAre("c.sub:pollo"));
}

TEST(TermDetector, NonAsciiNeighbours) {
  auto d = Make({List("c.x", {"Apollo"})});
  // Letters of other scripts glue; punctuation, CJK and invalid bytes do not.
  EXPECT_THAT(Found(*d,
                    "\xC3\xA9"
                    "Apollo"),
              ElementsAre());                                                // éApollo
  EXPECT_THAT(Found(*d, "Apollo\xD0\xB4"), ElementsAre());                   // Apolloд
  EXPECT_THAT(Found(*d, "Apollo\xE2\x80\x94x"), ElementsAre("c.x:Apollo"));  // em dash
  EXPECT_THAT(Found(*d,
                    "\xC2\xAB"
                    "Apollo\xC2\xBB"),
              ElementsAre("c.x:Apollo"));  // «»
  EXPECT_THAT(Found(*d,
                    "\xE8\xAE\xA1\xE5\x88\x92"
                    "Apollo\xE8\xAE\xA1"),  // 计划Apollo计
              ElementsAre("c.x:Apollo"));
  EXPECT_THAT(Found(*d,
                    "\xFF"
                    "Apollo\x80"),
              ElementsAre("c.x:Apollo"));  // invalid bytes
  EXPECT_THAT(Found(*d,
                    "\xA9"
                    "Apollo"),
              ElementsAre("c.x:Apollo"));  // stray continuation
}

TEST(TermDetector, InvalidUtf8TextAndTermsAreScannedAsBytes) {
  auto d = Make({List("c.bin", {std::string("\xFF\xFE", 2), "Apollo"})});
  const std::string text("x \xFF\xFE y \x80\x81 Apollo \xC3", 19);
  EXPECT_THAT(Found(*d, text), ElementsAre(std::string("c.bin:\xFF\xFE", 8), "c.bin:Apollo"));
  const std::string with_nul("a\0Apollo\0b", 10);
  EXPECT_THAT(Found(*d, with_nul), ElementsAre("c.bin:Apollo"));
}

TEST(TermDetector, LeftmostLongestNonOverlapping) {
  auto d = Make({List("c.x", {"new", "new york", "york city", "city", "new york city hall"})});
  EXPECT_THAT(Found(*d, "new york city"), ElementsAre("c.x:new york", "c.x:city"));
  EXPECT_THAT(Found(*d, "new york city hall"), ElementsAre("c.x:new york city hall"));
  EXPECT_THAT(Found(*d, "in york city now"), ElementsAre("c.x:york city"));
  // A later match that a chosen one overlaps is dropped, the next one after it is kept.
  auto e = Make({List("c.y", {"foo bar", "bar baz", "baz"})});
  EXPECT_THAT(Found(*e, "foo bar baz"), ElementsAre("c.y:foo bar", "c.y:baz"));
}

TEST(TermDetector, LongestCandidateFailingItsBoundaryLeavesRoomForShorterOnes) {
  auto d = Make({List("c.x", {"ab c", "c"})});
  EXPECT_THAT(Found(*d, "zab c"), ElementsAre("c.x:c"));
  EXPECT_THAT(Found(*d, "ab c"), ElementsAre("c.x:ab c"));
}

TEST(TermDetector, SameTermInSeveralListsHigherLevelThenEarlierListWins) {
  auto d = Make({List("c.low", {"apollo"}, false, Level::kInternal),
                 List("c.high", {"Apollo"}, true, Level::kRestricted),
                 List("c.high2", {"apollo"}, false, Level::kRestricted)});
  EXPECT_THAT(Found(*d, "Apollo"), ElementsAre("c.high:Apollo"));
  EXPECT_THAT(Found(*d, "APOLLO"), ElementsAre("c.high2:APOLLO"));
}

TEST(TermDetector, DuplicatesAreHarmless) {
  auto d = Make({List("c.x", {"apollo", "Apollo", "APOLLO"})});
  EXPECT_EQ(d->terms(), 1u);
  EXPECT_THAT(Found(*d, "apollo"), ElementsAre("c.x:apollo"));
}

TEST(TermDetector, EmptyTextAndNoMatches) {
  auto d = Make({List("c.x", {"apollo"})});
  EXPECT_THAT(Found(*d, ""), ElementsAre());
  EXPECT_THAT(Found(*d, "nothing to see"), ElementsAre());
}

TEST(TermDetector, ErrorsNameTheListAndTerm) {
  auto no_category = TermDetector::Create("t", {List("", {"a"})});
  EXPECT_EQ(no_category.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_category.status().message(), HasSubstr("term list 0 needs a category"));
  auto no_terms = TermDetector::Create("t", {List("c.a", {"a"}), List("c.b", {})});
  EXPECT_THAT(no_terms.status().message(), HasSubstr("term list 1 (c.b) has no terms"));
  auto empty = TermDetector::Create("t", {List("c.a", {"a", ""})});
  EXPECT_THAT(empty.status().message(), HasSubstr("term list 0 (c.a): term 1 is empty"));
}

// The reference: every occurrence of every term, boundaries checked on ASCII neighbours, then
// leftmost-longest selection with the same tie-breaks.
struct RefHit {
  size_t begin, end;
  int level;
  size_t list;
};

bool AsciiWord(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::vector<std::string> Reference(const std::vector<TermList>& lists, std::string_view text) {
  std::string folded(text);
  std::transform(folded.begin(), folded.end(), folded.begin(), Lower);
  std::vector<RefHit> hits;
  for (size_t li = 0; li < lists.size(); ++li) {
    const TermList& l = lists[li];
    for (const std::string& term : l.terms) {
      std::string t = term;
      if (!l.case_sensitive) std::transform(t.begin(), t.end(), t.begin(), Lower);
      const std::string& hay = l.case_sensitive ? std::string(text) : folded;
      for (size_t pos = hay.find(t); pos != std::string::npos; pos = hay.find(t, pos + 1)) {
        const size_t end = pos + t.size();
        if (AsciiWord(t.front()) && pos > 0 && AsciiWord(text[pos - 1])) continue;
        if (AsciiWord(t.back()) && end < text.size() && AsciiWord(text[end])) continue;
        hits.push_back(RefHit{pos, end, static_cast<int>(l.level), li});
      }
    }
  }
  std::sort(hits.begin(), hits.end(), [](const RefHit& a, const RefHit& b) {
    return std::make_tuple(a.begin, -static_cast<long>(a.end), -a.level, a.list) <
           std::make_tuple(b.begin, -static_cast<long>(b.end), -b.level, b.list);
  });
  std::vector<std::string> out;
  size_t last = 0;
  for (const RefHit& h : hits) {
    if (h.begin < last) continue;
    last = h.end;
    out.push_back(lists[h.list].category + ":" +
                  std::string(text.substr(h.begin, h.end - h.begin)));
  }
  return out;
}

// Terms made of a few syllables from a small set, so that many overlap and share prefixes and
// suffixes; text made of the same syllables with spaces, punctuation and glue.
struct Corpus {
  std::vector<TermList> lists;
  std::string text;
};

Corpus RandomCorpus(uint32_t seed, size_t n_terms, size_t n_lists, size_t text_bytes) {
  std::mt19937 rng(seed);
  const std::vector<std::string> syllables = {"ka", "Ro", "mi", "Ta", "no", "Vu", "se", "li",
                                              "pa", "Do", "re", "X1", "9",  "zu", "Ch", "e"};
  const std::string seps[] = {" ", " ", " ", "-", ", ", ".", "\n", "_", "(", ") "};
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  Corpus c;
  for (size_t li = 0; li < n_lists; ++li) {
    c.lists.push_back(
        List("c.l" + std::to_string(li), {}, li % 3 == 0, static_cast<Level>(pick(4))));
  }
  for (size_t i = 0; i < n_terms; ++i) {
    std::string term;
    const size_t words = 1 + pick(3);
    for (size_t w = 0; w < words; ++w) {
      if (w > 0) term += " ";
      const size_t sy = 1 + pick(3);
      for (size_t k = 0; k < sy; ++k) term += syllables[pick(syllables.size())];
    }
    c.lists[pick(n_lists)].terms.push_back(term);
  }
  for (TermList& l : c.lists) {
    if (l.terms.empty()) l.terms.push_back("placeholder");
  }
  while (c.text.size() < text_bytes) {
    const size_t sy = 1 + pick(3);
    for (size_t k = 0; k < sy; ++k) c.text += syllables[pick(syllables.size())];
    c.text += seps[pick(std::size(seps))];
  }
  return c;
}

TEST(TermDetector, AgreesWithTheReferenceOnFiveThousandOverlappingTerms) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    Corpus c = RandomCorpus(seed, 5000, 7, 20000);
    auto d = Make(c.lists);
    ASSERT_NE(d, nullptr);
    EXPECT_TRUE(d->dense());
    const std::vector<std::string> got = Found(*d, c.text);
    const std::vector<std::string> want = Reference(c.lists, c.text);
    EXPECT_GT(want.size(), 100u) << "the corpus should produce many matches";
    EXPECT_EQ(got, want) << "seed " << seed;
  }
}

// "category:matched text" for each hit of a side list (category from side[list - lists()]).
std::vector<std::string> SideHits(const TermDetector& d, const std::vector<TermList>& side,
                                  std::string_view text,
                                  const std::vector<TermDetector::Hit>& hits) {
  std::vector<std::string> out;
  for (const TermDetector::Hit& h : hits) {
    if (h.list < d.lists()) continue;
    out.push_back(side[h.list - d.lists()].category + ":" +
                  std::string(text.substr(h.begin, h.end - h.begin)));
  }
  return out;
}

TEST(TermDetector, SideListsAreFoundApartFromTheLists) {
  // The same term in both, and terms of one overlapping terms of the other.
  const std::vector<TermList> lists = {List("c.project", {"design", "design review board"})};
  const std::vector<TermList> side = {List("s.reason", {"design", "review"}, false, Level::kPublic),
                                      List("s.board", {"board meeting"}, false, Level::kPublic)};
  auto d = TermDetector::Create("terms", lists, side);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->lists(), 1u);
  const std::string text = "Design review board meeting; a design.";
  EXPECT_THAT(Found(**d, text), ElementsAre("c.project:Design review board", "c.project:design"));
  std::vector<TermDetector::Hit> hits;
  (*d)->Find(text, &hits);
  EXPECT_THAT(SideHits(**d, side, text, hits),
              ElementsAre("s.reason:Design", "s.reason:review", "s.board:board meeting",
                          "s.reason:design"));
  bool may[3] = {true, true, true};
  std::vector<TermDetector::Hit> side_hits;
  const std::vector<std::string_view> texts = {"nothing", "a board meeting", "the design"};
  const JoinedTexts joined(texts);
  (*d)->RuleOutAndFindSide(joined, may, &side_hits);
  EXPECT_THAT(may, ElementsAre(false, false, true));
  EXPECT_THAT(SideHits(**d, side, joined.joined(), side_hits),
              ElementsAre("s.board:board meeting", "s.reason:design"));
}

// With side lists, the lists' matches are those of the lists alone and the side lists' hits
// those of the side lists alone, on random overlapping dictionaries and texts.
TEST(TermDetector, SideListsChangeNothingOnEitherSide) {
  Corpus a = RandomCorpus(21, 2000, 5, 20000);
  Corpus b = RandomCorpus(22, 300, 3, 0);
  for (TermList& l : b.lists) l.category = "side." + l.category;
  auto both = TermDetector::Create("terms", a.lists, b.lists);
  ASSERT_TRUE(both.ok()) << both.status();
  auto side_alone = Make(b.lists);
  ASSERT_NE(side_alone, nullptr);
  EXPECT_EQ(Found(**both, a.text), Reference(a.lists, a.text));
  std::vector<TermDetector::Hit> hits;
  (*both)->Find(a.text, &hits);
  const std::vector<std::string> side_found = SideHits(**both, b.lists, a.text, hits);
  EXPECT_EQ(side_found, Reference(b.lists, a.text));
  EXPECT_GT(side_found.size(), 100u);

  auto lists_alone = Make(a.lists);
  ASSERT_NE(lists_alone, nullptr);
  std::mt19937 rng(9);
  for (int round = 0; round < 100; ++round) {
    std::vector<std::string_view> texts;
    for (size_t k = 0, n = 2 + rng() % 5; k < n; ++k) {
      const size_t at = rng() % a.text.size();
      texts.push_back(std::string_view(a.text).substr(at, rng() % 60));
    }
    const JoinedTexts joined(texts);
    auto may = std::make_unique<bool[]>(texts.size());
    std::fill_n(may.get(), texts.size(), true);
    std::vector<TermDetector::Hit> side_hits;
    (*both)->RuleOutAndFindSide(joined, std::span<bool>(may.get(), texts.size()), &side_hits);
    EXPECT_EQ(std::vector<bool>(may.get(), may.get() + texts.size()), MayMatch(*lists_alone, texts))
        << "round " << round;
    EXPECT_EQ(SideHits(**both, b.lists, joined.joined(), side_hits),
              Reference(b.lists, joined.joined()))
        << "round " << round;
  }
}

// RuleOut finds the terms of several texts in one pass over them joined: it may keep a text
// without a term of its own (a term across the join), but never rules out one with a term.
TEST(TermDetector, RuleOutKeepsEveryTextThatHoldsATerm) {
  auto d = Make({List("c.a", {"alpha", "beta gamma", "-x-"}),
                 List("c.b", {"Delta"}, /*case_sensitive=*/true)});
  ASSERT_NE(d, nullptr);
  using Bools = std::vector<bool>;
  EXPECT_EQ(MayMatch(*d, {"nothing", "here"}), (Bools{false, false}));
  EXPECT_EQ(MayMatch(*d, {"plain", "an alpha"}), (Bools{false, true}));
  EXPECT_EQ(MayMatch(*d, {"ALPHA", "delta", "Delta", "-x-"}), (Bools{true, false, true, true}));
  // A boundary at a text's edge, as at the edge of the text alone; words glued across it
  // never make a term.
  EXPECT_EQ(MayMatch(*d, {"alp", "ha", "beta", "gamma"}), (Bools{false, false, false, false}));
  EXPECT_EQ(MayMatch(*d, {"xalpha", "alphax", "beta gamma"}), (Bools{false, false, true}));
  EXPECT_EQ(MayMatch(*d, {"one text"}), Bools{true});  // Scan's own pass decides

  // Random texts cut from an overlapping corpus: a text ruled out holds no term.
  Corpus c = RandomCorpus(11, 500, 3, 4000);
  auto big = Make(c.lists);
  ASSERT_NE(big, nullptr);
  std::mt19937 rng(5);
  size_t ruled_out = 0, kept_with_terms = 0;
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string_view> texts;
    for (size_t k = 0, n = 2 + rng() % 5; k < n; ++k) {
      const size_t at = rng() % c.text.size();
      texts.push_back(std::string_view(c.text).substr(at, rng() % 40));
    }
    const std::vector<bool> may = MayMatch(*big, texts);
    for (size_t k = 0; k < texts.size(); ++k) {
      const bool has_terms = !Found(*big, texts[k]).empty();
      if (has_terms) {
        EXPECT_TRUE(may[k]) << "round " << round << ": \"" << texts[k] << "\"";
        ++kept_with_terms;
      }
      if (!may[k]) ++ruled_out;
    }
  }
  EXPECT_GT(ruled_out, 50u);
  EXPECT_GT(kept_with_terms, 50u);
}

TEST(TermDetector, LongTextsScannedInTwoHalvesLoseAndRepeatNoTermAtTheMiddle) {
  // Longer texts are scanned as two, four or six pieces side by side; place terms of several
  // lengths at every offset around the pieces' edges, overlapping them or not.
  const std::vector<TermList> lists = {List("c.a", {"ab", "abcdefgh", "cd ef", "x"})};
  auto d = Make(lists);
  ASSERT_NE(d, nullptr);
  for (size_t n : {63u, 64u, 65u, 130u, 255u, 256u, 257u, 1031u, 4096u}) {
    std::vector<size_t> middles;
    for (size_t pieces : {2u, 4u, 6u, 8u}) {
      for (size_t k = 1; k < pieces; ++k) middles.push_back(n / pieces * k);
    }
    for (size_t middle : middles) {
      for (const std::string term : {"ab", "abcdefgh", "cd ef", "x"}) {
        for (size_t at = middle - std::min<size_t>(middle, 10);
             at <= middle + 3 && at + term.size() <= n; ++at) {
          std::string text(n, '.');
          text.replace(at, term.size(), term);
          text.replace(3, 2, "ab");
          text.replace(n - 3, 1, "x");
          EXPECT_EQ(Found(*d, text), Reference(lists, text)) << n << " " << term << " at " << at;
        }
      }
    }
  }
}

// Where terms end at nearly every byte, each lane notes many ends per block of steps (and
// the lanes' tails many in a row); every one must reach the result.
TEST(TermDetector, TermsEndingAtEveryFewBytesAreAllReported) {
  const std::vector<TermList> lists = {List("c.a", {"ab", "b", "ab ab"}),
                                       List("c.b", {"b", "a"}, false, Level::kRestricted)};
  auto d = Make(lists);
  ASSERT_NE(d, nullptr);
  for (size_t n : {100u, 500u, 1000u, 4099u, 20000u}) {
    std::string text;
    while (text.size() < n) text += text.size() % 7 == 0 ? "ab " : "b a ";
    text.resize(n);
    const std::vector<std::string> found = Found(*d, text);
    EXPECT_GT(found.size(), n / 4) << n;
    EXPECT_EQ(found, Reference(lists, text)) << n;
  }
}

TEST(TermDetector, VeryLargeDictionaryUsesTheCompactAutomatonWithTheSameResults) {
  // 60,000 terms over ~90 distinct bytes: the dense table would exceed its budget.
  std::mt19937 rng(7);
  std::vector<TermList> lists = {List("c.big", {}), List("c.big2", {}, true)};
  std::string alphabet;
  for (char ch = '!'; ch <= '~'; ++ch) alphabet.push_back(ch);
  for (int i = 0; i < 60000; ++i) {
    std::string t;
    const int len = 6 + static_cast<int>(rng() % 10);
    for (int k = 0; k < len; ++k) t.push_back(alphabet[rng() % alphabet.size()]);
    lists[i % 2].terms.push_back(t);
  }
  std::string text;
  for (int i = 0; i < 1500; ++i) {
    const auto& l = lists[rng() % 2];
    text += l.terms[rng() % l.terms.size()];
    text += ' ';
    text.push_back(alphabet[rng() % alphabet.size()]);
  }
  auto d = Make(lists);
  ASSERT_NE(d, nullptr);
  EXPECT_FALSE(d->dense());
  const std::vector<std::string> got = Found(*d, text);
  EXPECT_GT(got.size(), 500u);
  EXPECT_EQ(got, Reference(lists, text));
}

TEST(TermDetector, ScanIsConstAndRepeatable) {
  Corpus c = RandomCorpus(11, 500, 3, 5000);
  auto d = Make(c.lists);
  EXPECT_EQ(Found(*d, c.text), Found(*d, c.text));
}

}  // namespace
}  // namespace airlock::classifier
