#include "classifier/assessment.h"

namespace airlock::classifier {

void ToProto(const Assessment& assessment, v1::Assessment* out) {
  out->Clear();
  out->set_level(std::string(LevelName(assessment.level)));
  for (const Finding& f : assessment.findings) {
    v1::Finding* p = out->add_findings();
    p->set_category(f.category);
    p->set_level(std::string(LevelName(f.level)));
    p->set_location(FieldPath(f.field));
    p->set_begin(static_cast<uint32_t>(f.begin));
    p->set_end(static_cast<uint32_t>(f.end));
    p->set_detector(f.detector);
    p->set_confidence(f.confidence);
  }
  out->set_difficulty(assessment.difficulty);
  for (const auto& [name, value] : assessment.difficulty_signals) {
    (*out->mutable_difficulty_signals())[name] = value;
  }
  out->set_estimated_tokens(assessment.estimated_tokens);
  const ModelAssessment& m = assessment.model;
  if (m.outcome.empty()) return;
  v1::ModelAssessment* pm = out->mutable_model();
  pm->set_outcome(m.outcome);
  pm->set_error(m.error);
  if (m.level) pm->set_level(std::string(LevelName(*m.level)));
  if (m.difficulty) pm->set_difficulty(*m.difficulty);
  for (const ModelFinding& c : m.categories) {
    v1::ModelCategory* pc = pm->add_categories();
    pc->set_category(c.category);
    pc->set_level(std::string(LevelName(c.level)));
    pc->set_probability(c.probability);
  }
  for (const auto& [question, labels] : m.answers) {
    for (const auto& [label, p] : labels)
      (*pm->mutable_probabilities())[question + "." + label] = p;
  }
  pm->set_prefill_kept(m.reused);
}

}  // namespace airlock::classifier
