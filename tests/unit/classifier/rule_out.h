// Test helper: which of several texts a detector's RuleOut leaves to be scanned.
#pragma once

#include <algorithm>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "classifier/detector.h"

namespace airlock::classifier {

inline std::vector<bool> MayMatch(const Detector& d, const std::vector<std::string_view>& texts) {
  const JoinedTexts joined(texts);
  auto may = std::make_unique<bool[]>(texts.size());
  std::fill_n(may.get(), texts.size(), true);
  d.RuleOut(joined, std::span<bool>(may.get(), texts.size()));
  return std::vector<bool>(may.get(), may.get() + texts.size());
}

}  // namespace airlock::classifier
