// The classifier's output: what is sensitive in a request and how hard the task is.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "classifier/content.h"
#include "classifier/level.h"
#include "classifier/signals.h"

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

// A category the model stage found (classifier/model_stage.h): no span, the whole request.
struct ModelFinding {
  std::string category;
  Level level = Level::kPublic;
  float probability = 0;
};

// What the model stage found, and how it ended.
struct ModelAssessment {
  std::string outcome;  // "": no model stage; "ok", "failed_closed" or "failed_open"
  std::string error;    // why it failed
  std::optional<Level> level;
  std::optional<float> difficulty;
  std::vector<ModelFinding> categories;
  std::map<std::string, std::map<std::string, float>> answers;  // question -> label -> p
  bool reused = false;  // its prefill was kept for the generation
};

struct Assessment {
  Level level = Level::kPublic;   // max over findings; kPublic when there are none
  std::vector<Finding> findings;  // sorted by (field in request order, begin); never overlapping
  float difficulty = 0.0f;        // [0, 1]
  Signals difficulty_signals;
  uint32_t estimated_tokens = 0;
  ModelAssessment model;
};

// Fills the public API message from an assessment.
void ToProto(const Assessment& assessment, v1::Assessment* out);

}  // namespace airlock::classifier
