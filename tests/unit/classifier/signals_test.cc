#include "classifier/signals.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

std::vector<std::string> Names(const Signals& s) {
  std::vector<std::string> names;
  for (const auto& [name, value] : s) names.push_back(name);
  return names;
}

TEST(Signals, KeepsOneEntryPerNameInNameOrder) {
  Signals s;
  EXPECT_TRUE(s.empty());
  s["math"] = 0.5f;
  s["code"] = 1.0f;
  s["turns"] = 0.25f;
  s["math"] = 0.75f;  // replaces
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(Names(s), (std::vector<std::string>{"code", "math", "turns"}));
  EXPECT_EQ(s.at("math"), 0.75f);
  EXPECT_EQ(s.count("code"), 1u);
  EXPECT_EQ(s.count("length"), 0u);
  EXPECT_EQ(s.find("length"), s.end());
  EXPECT_THROW(s.at("length"), std::out_of_range);
  EXPECT_EQ(s["length"], 0.0f);  // inserted as 0
  EXPECT_EQ(Names(s), (std::vector<std::string>{"code", "length", "math", "turns"}));
}

TEST(Signals, ALaterInitialEntryReplacesAnEarlierOne) {
  const Signals s = {{"b", 1.0f}, {"a", 2.0f}, {"b", 3.0f}};
  EXPECT_EQ(Names(s), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.at("b"), 3.0f);
  EXPECT_EQ(s, (Signals{{"a", 2.0f}, {"b", 3.0f}}));
}

}  // namespace
}  // namespace airlock::classifier
