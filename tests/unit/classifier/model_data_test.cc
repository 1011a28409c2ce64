// The model stage's labelled data (classifier/model_data.h): on a small data folder written by
// the test, each source gets the documented label, contaminated and unlabelled prompts are
// left out, caps keep the written prompts, the split follows the hash and the build is
// deterministic; on the real ../shared/data (when present) every set has both splits of every
// class. The compiled-in written prompts parse.
#include "classifier/model_data.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "classifier/public_data.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace airlock::classifier {
namespace {

namespace fs = std::filesystem;

// question -> text -> label, over both splits; and checks the split of every text.
std::map<std::string, std::map<std::string, std::string>> LabelsOf(
    const std::vector<LabelledSet>& sets) {
  std::map<std::string, std::map<std::string, std::string>> out;
  for (const LabelledSet& s : sets) {
    for (const LabelledText& t : s.train) {
      EXPECT_FALSE(InTestSplit(t.text)) << t.text;
      EXPECT_TRUE(out[s.question].emplace(t.text, t.label).second) << "twice: " << t.text;
    }
    for (const LabelledText& t : s.test) {
      EXPECT_TRUE(InTestSplit(t.text)) << t.text;
      EXPECT_TRUE(out[s.question].emplace(t.text, t.label).second) << "twice: " << t.text;
    }
  }
  return out;
}

class ModelDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("model_data_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "pii");
    fs::create_directories(dir_ / "difficulty/routellm/mmlu");
    fs::create_directories(dir_ / "difficulty/arena-hard");
    nlohmann::json presidio = nlohmann::json::array();
    auto text = [&](std::string t, std::vector<std::string> entities) {
      nlohmann::json spans = nlohmann::json::array();
      for (const std::string& e : entities) {
        spans.push_back({{"entity_type", e}, {"start_position", 0}, {"end_position", 1}});
      }
      presidio.push_back({{"full_text", t}, {"spans", spans}});
    };
    text("card text", {"PERSON", "CREDIT_CARD"});
    text("person text", {"PERSON", "GPE"});
    text("place text", {"GPE"});
    text("plain text", {});
    std::ofstream(dir_ / "pii/presidio_synth_dataset_v2.json") << presidio.dump();
    const std::string header =
        "prompt,mistralai/Mixtral-8x7B-Instruct-v0.1,gpt-4-1106-preview,extra\n";
    std::ofstream(dir_ / "difficulty/routellm/gsm8k_responses.csv")
        << header << "gsm easy,True,True,x\n\"gsm, hard\",False,True,x\n"
        << "gsm neither,False,False,x\ngsm dirty,True,True,x\n";
    std::ofstream(dir_ / "difficulty/routellm/gsm8k_contaminated_prompts.jsonl")
        << "{\"eval_prompt\": \"gsm dirty\"}\n";
    std::ofstream(dir_ / "difficulty/routellm/mmlu/a.csv")
        << header << "mmlu easy 1,True,False,x\nmmlu easy 2,True,True,x\nmmlu easy 3,True,True,x\n";
    std::ofstream(dir_ / "difficulty/routellm/mmlu_contaminated_prompts.jsonl") << "\n";
    std::ofstream(dir_ / "difficulty/arena-hard/arena_hard_v0.1_question.jsonl")
        << "{\"prompt\": \"arena one\"}\n";
    std::ofstream(dir_ / "difficulty/arena-hard/arena_hard_v2.0_question.jsonl")
        << "{\"prompt\": \"arena two\", \"category\": \"hard_prompt\"}\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(ModelDataTest, EachSourceGetsItsLabel) {
  auto sets = BuildModelData(dir_.string());
  ASSERT_TRUE(sets.ok()) << sets.status();
  ASSERT_EQ(sets->size(), 6u);
  EXPECT_EQ((*sets)[0].question, "level");
  EXPECT_EQ((*sets)[1].question, "difficulty");
  EXPECT_EQ((*sets)[1].classes, (std::vector<std::string>{"easy", "hard"}));
  auto labels = LabelsOf(*sets);

  auto& level = labels["level"];
  EXPECT_EQ(level.at("card text"), "restricted");  // the highest entity's level
  EXPECT_EQ(level.at("person text"), "confidential");
  EXPECT_EQ(level.at("place text"), "internal");
  EXPECT_EQ(level.at("plain text"), "public");
  EXPECT_EQ(level.at("gsm, hard"), "public");
  EXPECT_EQ(level.at("gsm neither"), "public");
  EXPECT_EQ(level.at("arena one"), "public");
  EXPECT_EQ(level.count("gsm dirty"), 0u);  // contaminated: left out everywhere
  const std::vector<WrittenPrompt> written = *WrittenPrompts();
  for (const WrittenPrompt& p : written) EXPECT_EQ(level.at(p.text), LevelName(p.level)) << p.id;

  // hard: strong right and weak wrong, and Arena-Hard; easy: weak right, cut to as many.
  auto& difficulty = labels["difficulty"];
  EXPECT_EQ(difficulty.at("gsm, hard"), "hard");
  EXPECT_EQ(difficulty.at("arena one"), "hard");
  EXPECT_EQ(difficulty.at("arena two"), "hard");
  EXPECT_EQ(difficulty.count("gsm neither"), 0u);
  EXPECT_EQ(difficulty.count("gsm dirty"), 0u);
  size_t easy = 0;
  for (const auto& [text, label] : difficulty) {
    if (label == "easy") {
      ++easy;
      EXPECT_TRUE(text == "gsm easy" || text.starts_with("mmlu easy")) << text;
    }
  }
  EXPECT_EQ(easy, 3u);  // of 4 weak-right prompts, as many as the 3 hard ones

  auto& person = labels["pii.person"];
  EXPECT_EQ(person.at("person text"), "yes");
  EXPECT_EQ(person.at("card text"), "yes");
  // A Presidio text without a PERSON would be a no, but the written no's (168) already fill
  // twice the yes's (74) and are always kept.
  EXPECT_EQ(person.count("place text"), 0u);
  auto& health = labels["pii.health"];
  EXPECT_EQ(health.count("person text"), 0u);  // Presidio says nothing about health
  for (const WrittenPrompt& p : written) {
    for (const char* c : {"confidential.business", "pii.health", "pii.person", "code.secret"}) {
      const bool yes = std::find(p.categories.begin(), p.categories.end(), c) != p.categories.end();
      EXPECT_EQ(labels[c].at(p.text), yes ? "yes" : "no") << p.id << " " << c;
    }
  }

  // The same input gives the same sets.
  auto again = BuildModelData(dir_.string());
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < sets->size(); ++i) {
    ASSERT_EQ((*sets)[i].train.size(), (*again)[i].train.size());
    for (size_t j = 0; j < (*sets)[i].train.size(); ++j) {
      EXPECT_EQ((*sets)[i].train[j].text, (*again)[i].train[j].text);
      EXPECT_EQ((*sets)[i].train[j].source, (*again)[i].train[j].source);
    }
  }
}

TEST_F(ModelDataTest, CapsKeepTheWrittenPromptsAndWriteMakesJsonl) {
  auto sets = BuildModelData(dir_.string(), {.max_per_class = 5});
  ASSERT_TRUE(sets.ok()) << sets.status();
  for (const LabelledSet& s : *sets) {
    std::map<std::string, size_t> per_class, written;
    for (const auto* split : {&s.train, &s.test}) {
      for (const LabelledText& t : *split) {
        ++per_class[t.label];
        written[t.label] += t.source.starts_with("written.");
      }
    }
    for (const auto& [label, n] : per_class) {
      // Every class with written prompts has 40 or more: they are kept, and nothing else.
      if (written[label] > 0) {
        EXPECT_EQ(n, written[label]) << s.question << " " << label;
      } else {
        EXPECT_LE(n, 5u) << s.question << " " << label;
      }
    }
  }
  // Cut to 2, the hard class takes one text from each source in turn: Arena-Hard (two) does
  // not crowd out GSM8K (one).
  auto two = BuildModelData(dir_.string(), {.max_per_class = 2});
  ASSERT_TRUE(two.ok());
  std::multiset<std::string> hard_sources;
  for (const auto* split : {&(*two)[1].train, &(*two)[1].test}) {
    for (const LabelledText& t : *split) {
      if (t.label == "hard") hard_sources.insert(t.source);
    }
  }
  EXPECT_EQ(hard_sources, (std::multiset<std::string>{"arena-hard", "gsm8k"}));

  const fs::path out = dir_ / "out";
  ASSERT_TRUE(WriteModelData(*sets, out.string()).ok());
  for (const LabelledSet& s : *sets) {
    for (const auto& [split, texts] : {std::pair{"train", &s.train}, {"test", &s.test}}) {
      std::ifstream in(out / (s.question + "." + split + ".jsonl"));
      ASSERT_TRUE(in) << s.question << " " << split;
      std::string line;
      size_t n = 0;
      for (; std::getline(in, line); ++n) {
        const nlohmann::json j = nlohmann::json::parse(line);
        ASSERT_LT(n, texts->size());
        EXPECT_EQ(j.at("text"), (*texts)[n].text);
        EXPECT_EQ(j.at("label"), (*texts)[n].label);
        EXPECT_EQ(j.at("source"), (*texts)[n].source);
      }
      EXPECT_EQ(n, texts->size());
    }
  }
}

TEST_F(ModelDataTest, MissingOrBadFilesAreNamed) {
  fs::remove(dir_ / "difficulty/arena-hard/arena_hard_v2.0_question.jsonl");
  auto sets = BuildModelData(dir_.string());
  EXPECT_EQ(sets.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(sets.status().message().find("arena_hard_v2.0_question.jsonl: cannot open"),
            std::string::npos)
      << sets.status();
  std::ofstream(dir_ / "difficulty/arena-hard/arena_hard_v2.0_question.jsonl")
      << "{\"prompt\": \"a\"}\n{\"uid\": 7}\n";
  sets = BuildModelData(dir_.string());
  EXPECT_NE(sets.status().message().find("arena_hard_v2.0_question.jsonl:2: expected a string "
                                         "'prompt'"),
            std::string::npos)
      << sets.status();
}

TEST(ModelData, WrittenPromptsParse) {
  auto written = WrittenPrompts();
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->size(), 240u);
  std::set<std::string> ids, texts;
  std::map<std::string, int> groups;
  for (const WrittenPrompt& p : *written) {
    EXPECT_TRUE(ids.insert(p.id).second) << p.id;
    EXPECT_TRUE(texts.insert(p.text).second) << p.id;
    ++groups[p.id.substr(0, p.id.find('-'))];
  }
  EXPECT_EQ(groups, (std::map<std::string, int>{{"business", 40},
                                                {"code", 40},
                                                {"health", 40},
                                                {"internal", 40},
                                                {"person", 40},
                                                {"public", 40}}));
}

// The split depends on the text alone: FNV-1a 64 mod 5.
TEST(ModelData, TheSplitIsTheHash) {
  EXPECT_EQ(TextHash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(TextHash("a"), 0xaf63dc4c8601ec8cull);
  size_t test = 0;
  for (int i = 0; i < 10000; ++i) test += InTestSplit("text " + std::to_string(i));
  EXPECT_GT(test, 1800u);
  EXPECT_LT(test, 2200u);
}

TEST(ModelData, OnThePublicData) {
  const char* env = std::getenv("AIRLOCK_DATA_DIR");
  const std::string dir = env != nullptr && *env != '\0'
                              ? std::string(env)
                              : (fs::path(__FILE__).parent_path() / "../../../../shared/data")
                                    .lexically_normal()
                                    .string();
  if (!fs::exists(fs::path(dir) / kPresidioFile))
    GTEST_SKIP() << "no evaluation data under " << dir;
  auto sets = BuildModelData(dir);
  ASSERT_TRUE(sets.ok()) << sets.status();
  for (const LabelledSet& s : *sets) {
    for (const std::string& c : s.classes) {
      size_t n[2] = {0, 0};
      for (const LabelledText& t : s.train) n[0] += t.label == c;
      for (const LabelledText& t : s.test) n[1] += t.label == c;
      EXPECT_GE(n[0], 20u) << s.question << " " << c;
      EXPECT_GE(n[1], 3u) << s.question << " " << c;
      EXPECT_LE(n[0] + n[1], 1000u) << s.question << " " << c;
      std::printf("%-22s %-13s train %4zu test %4zu\n", s.question.c_str(), c.c_str(), n[0], n[1]);
    }
  }
}

}  // namespace
}  // namespace airlock::classifier
