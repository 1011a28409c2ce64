// Sensitivity levels, ordered: public < internal < confidential < restricted.
#pragma once

#include <optional>
#include <string_view>

namespace airlock::classifier {

enum class Level : int { kPublic = 0, kInternal = 1, kConfidential = 2, kRestricted = 3 };

// "public", "internal", "confidential", "restricted".
std::string_view LevelName(Level level);
// Inverse of LevelName; nullopt for anything else (case-sensitive).
std::optional<Level> ParseLevel(std::string_view name);

}  // namespace airlock::classifier
