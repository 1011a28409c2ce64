// Detector: finds sensitive spans of one or more categories in a piece of text.
//
// Detectors are deterministic, never throw, and are safe to call concurrently (Scan is
// const). Text may be any bytes, valid UTF-8 or not.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "classifier/level.h"

namespace airlock::classifier {

struct Match {
  std::string category;
  Level level = Level::kPublic;
  size_t begin = 0;  // byte span [begin, end) in the scanned text
  size_t end = 0;
  float confidence = 1.0f;
  // Which rule of the detector found it ("credit_card"); empty means the detector's name().
  std::string detector;
};

class Detector {
 public:
  virtual ~Detector() = default;
  virtual std::string_view name() const = 0;
  // Appends the matches found in text to out.
  virtual void Scan(std::string_view text, std::vector<Match>* out) const = 0;
  // Whether Scan may find anything in any of `texts` (the fields of one request): false only
  // when Scan would find nothing in each of them, so that the caller can skip them all after
  // one cheap pass. The default, true, always holds; a detector whose Scan has a fixed cost
  // per text (a prefilter's set-up) answers for all texts at once.
  virtual bool MayMatchIn(std::span<const std::string_view> texts) const { return !texts.empty(); }
};

}  // namespace airlock::classifier
