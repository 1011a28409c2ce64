#include "classifier/level.h"

namespace airlock::classifier {

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kPublic:
      return "public";
    case Level::kInternal:
      return "internal";
    case Level::kConfidential:
      return "confidential";
    case Level::kRestricted:
      return "restricted";
  }
  return "unknown";
}

std::optional<Level> ParseLevel(std::string_view name) {
  for (Level level : {Level::kPublic, Level::kInternal, Level::kConfidential, Level::kRestricted}) {
    if (name == LevelName(level)) return level;
  }
  return std::nullopt;
}

}  // namespace airlock::classifier
