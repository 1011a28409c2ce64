// Classifier: scans every field of a request with its detectors and produces an Assessment.
//
// Thread-safety: Assess is const and safe to call from many threads at once.
#pragma once

#include <memory>
#include <vector>

#include "classifier/assessment.h"
#include "classifier/detector.h"

namespace airlock::classifier {

class Classifier {
 public:
  explicit Classifier(std::vector<std::unique_ptr<Detector>> detectors);
  // The built-in detector set (today: e-mail addresses).
  static std::unique_ptr<Classifier> CreateDefault();

  Assessment Assess(const v1::ChatRequest& request) const;

 private:
  std::vector<std::unique_ptr<Detector>> detectors_;
};

}  // namespace airlock::classifier
