// The classifier's output: what is sensitive in a request and how hard the task is.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "classifier/content.h"
#include "classifier/level.h"

namespace airlock::classifier {

struct Finding {
  std::string category;  // "pii.email", "secret.aws_access_key", ...
  Level level = Level::kPublic;
  FieldRef field;    // where
  size_t begin = 0;  // byte span [begin, end) within the field's text
  size_t end = 0;
  std::string detector;  // name of the detector that found it
  float confidence = 1.0f;
};

struct Assessment {
  Level level = Level::kPublic;   // max over findings; kPublic when there are none
  std::vector<Finding> findings;  // sorted by (field in request order, begin); never overlapping
  float difficulty = 0.0f;        // [0, 1]
  std::map<std::string, float> difficulty_signals;
  uint32_t estimated_tokens = 0;
};

// Fills the public API message from an assessment.
void ToProto(const Assessment& assessment, v1::Assessment* out);

}  // namespace airlock::classifier
