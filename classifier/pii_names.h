// PersonNameDetector: person names by deterministic evidence (category "pii.person_name", level
// confidential). It finds:
//   - a title ("Mr.", "Mrs", "Ms.", "Dr.", "Prof.", "Sir", "Herr", "Mme", ...) followed by one to
//     three capitalised words: "Dr. Cettina Fanucci" (confidence 0.85);
//   - an introducing phrase ("my name is", "name:", "named", "dear", "regards,", "signed", ...)
//     followed by one to three capitalised words on the same line (0.8);
//   - a first name from a compiled-in dictionary of ~500 common given names (English, Romance,
//     Germanic, Nordic, Slavic, Hungarian, ...) followed by an optional middle initial and a
//     capitalised surname: "Sara Schwarz", "Faina D. Yefremova" (0.75);
//   - such a first name alone, when it is not also a common English word ("Mark", "May",
//     "Will" are not reported alone) (0.5).
// "Capitalised" means an upper-case first letter (ASCII, Latin-1, Latin Extended-A, Greek or
// Cyrillic) followed by at least one lower-case letter; days, months and common function words
// are never names. It does not recognise names without such evidence (a bare surname, a name in
// lower case), which is the honest limit of a dictionary method; see the evaluation in
// classifier/eval_pii.cc for measured recall and precision.
//
// Text is scanned as bytes: invalid UTF-8 is never an error. Thread-safety: Scan is const and
// safe to call concurrently.
#pragma once

#include <string_view>
#include <vector>

#include "classifier/detector.h"

namespace airlock::classifier {

class PersonNameDetector : public Detector {
 public:
  std::string_view name() const override { return "person_name"; }
  void Scan(std::string_view text, std::vector<Match>* out) const override;
};

}  // namespace airlock::classifier
