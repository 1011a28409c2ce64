// Detector: finds sensitive spans of one or more categories in a piece of text.
//
// Detectors are deterministic, never throw, and are safe to call concurrently (Scan is
// const). Text may be any bytes, valid UTF-8 or not.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
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

// Texts (the fields of one request) joined into one for a detector's single pass over all of
// them: each text followed by '\n', which is a line edge and a non-word byte as the edge of a
// text is, so that what a text holds on its own is still there in the join.
class JoinedTexts {
 public:
  explicit JoinedTexts(std::span<const std::string_view> texts) : texts_(texts) {
    size_t size = 0;
    for (std::string_view t : texts) size += t.size() + 1;
    joined_.reserve(size);
    begins_.reserve(texts.size());
    for (std::string_view t : texts) {
      begins_.push_back(joined_.size());
      joined_.append(t);
      joined_.push_back('\n');
    }
  }

  size_t size() const { return texts_.size(); }
  std::string_view text(size_t i) const { return texts_[i]; }
  std::string_view joined() const { return joined_; }
  // Where text(i) begins in joined(); its '\n' is at begin(i) + text(i).size().
  size_t begin(size_t i) const { return begins_[i]; }
  // The text that holds joined()[offset], or whose '\n' it is (offset < joined().size()).
  size_t TextAt(size_t offset) const {
    return static_cast<size_t>(std::upper_bound(begins_.begin(), begins_.end(), offset) -
                               begins_.begin()) -
           1;
  }

 private:
  std::span<const std::string_view> texts_;
  std::string joined_;
  absl::InlinedVector<size_t, 16> begins_;
};

class Detector {
 public:
  virtual ~Detector() = default;
  virtual std::string_view name() const = 0;
  // Appends the matches found in text to out.
  virtual void Scan(std::string_view text, std::vector<Match>* out) const = 0;
  // Rules texts out after one pass over all of them (the fields of one request): clears
  // may_match[i] only when Scan would find nothing in texts.text(i), so that the caller skips
  // that text. may_match has one entry per text, all true on entry; the default leaves them
  // so, which always holds. Worth overriding for a detector whose Scan has a fixed cost per
  // text (a prefilter's set-up) or reads one long text faster than several short ones.
  virtual void RuleOut(const JoinedTexts& /*texts*/, std::span<bool> /*may_match*/) const {}
};

}  // namespace airlock::classifier
