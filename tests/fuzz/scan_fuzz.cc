// Fuzz target: the classifier and the transforms on a request built from arbitrary bytes.
//
// Input: parts separated by 0x1E. A part whose first byte is below 0x08 uses it to choose what
// it becomes (and drops it); any other part is a user message:
//   0 system message   1 user message   2 assistant message   3 assistant tool call
//   ("name" 0x1F "arguments")   4 tool message (answering the last tool call)
//   5 tool definition ("name" 0x1F "description" 0x1F "parameters")   6, 7 user message
// Text is used as it is: empty, binary, invalid UTF-8, NUL bytes, huge.
//
// Checked: Classifier::CreateDefault()->Assess finishes and its assessment is well formed
// (findings in request order, inside their field, not overlapping; level at least every
// finding's; difficulty in [0, 1]); it is deterministic; mask leaves no finding; every
// clearance leaves only findings at or below it; pseudonymize then Restore gives back every
// field exactly. And the built-in pattern rules find the same matches through their prefilter
// (Hyperscan, RE2::Set) as when every rule runs on its own, on each part's bytes (up to 64 KiB).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "classifier/classifier.h"
#include "classifier/content.h"
#include "classifier/pattern_set.h"
#include "classifier/pii_rules.h"
#include "classifier/secret_rules.h"
#include "router/transform.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using airlock::classifier::Assessment;
using airlock::classifier::FieldRef;
using airlock::classifier::Finding;
using airlock::classifier::Level;
namespace v1 = airlock::v1;
namespace router = airlock::router;

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

std::string Part(const std::vector<std::string_view>& parts, size_t i) {
  return i < parts.size() ? std::string(parts[i]) : std::string();
}

v1::ChatRequest BuildRequest(std::string_view data) {
  v1::ChatRequest request;
  int calls = 0;
  for (std::string_view part : Split(data, '\x1e')) {
    int kind = 1;
    if (!part.empty() && static_cast<unsigned char>(part[0]) < 0x08) {
      kind = part[0];
      part.remove_prefix(1);
    }
    switch (kind) {
      case 0:
      case 2:
      case 4: {
        v1::Message* m = request.add_messages();
        m->set_role(kind == 0   ? v1::Message::SYSTEM
                    : kind == 2 ? v1::Message::ASSISTANT
                                : v1::Message::TOOL);
        m->set_content(std::string(part));
        if (kind == 4) m->set_tool_call_id("call_" + std::to_string(calls));
        break;
      }
      case 3: {
        const auto fields = Split(part, '\x1f');
        v1::Message* m = request.add_messages();
        m->set_role(v1::Message::ASSISTANT);
        v1::ToolCall* call = m->add_tool_calls();
        call->set_id("call_" + std::to_string(++calls));
        call->set_name(Part(fields, 0));
        call->set_arguments(Part(fields, 1));
        break;
      }
      case 5: {
        const auto fields = Split(part, '\x1f');
        v1::Tool* tool = request.add_tools();
        tool->set_name(Part(fields, 0));
        tool->set_description(Part(fields, 1));
        tool->set_parameters(Part(fields, 2));
        break;
      }
      default: {
        v1::Message* m = request.add_messages();
        m->set_role(v1::Message::USER);
        m->set_content(std::string(part));
        break;
      }
    }
  }
  return request;
}

// The text of every field, by FieldRef.
std::vector<std::pair<FieldRef, std::string>> Fields(const v1::ChatRequest& request) {
  std::vector<std::pair<FieldRef, std::string>> out;
  airlock::classifier::ForEachField(request, [&](const FieldRef& ref, std::string_view text) {
    out.emplace_back(ref, std::string(text));
  });
  return out;
}

void CheckAssessment(const v1::ChatRequest& request, const Assessment& a) {
  const auto fields = Fields(request);
  Level max_level = Level::kPublic;
  const Finding* previous = nullptr;
  for (const Finding& f : a.findings) {
    const std::string* text = nullptr;
    for (const auto& [ref, t] : fields) {
      if (ref == f.field) text = &t;
    }
    FUZZ_CHECK(text != nullptr, "a finding names a field that is not in the request");
    FUZZ_CHECK(f.begin < f.end && f.end <= text->size(), "a finding's span is outside its field");
    FUZZ_CHECK(!f.category.empty(), "a finding without a category");
    FUZZ_CHECK(f.confidence >= 0.0f && f.confidence <= 1.0f, "confidence outside [0, 1]");
    if (previous != nullptr) {
      FUZZ_CHECK(
          previous->field < f.field || (previous->field == f.field && previous->end <= f.begin),
          "findings out of order or overlapping");
    }
    previous = &f;
    if (f.level > max_level) max_level = f.level;
  }
  FUZZ_CHECK(a.level >= max_level, "assessment level below a finding's level");
  FUZZ_CHECK(std::isfinite(a.difficulty) && a.difficulty >= 0.0f && a.difficulty <= 1.0f,
             "difficulty outside [0, 1]");
  for (const auto& [name, value] : a.difficulty_signals) {
    FUZZ_CHECK(std::isfinite(value), "a difficulty signal is not finite");
  }
}

bool SameAssessment(const Assessment& x, const Assessment& y) {
  if (x.level != y.level || x.findings.size() != y.findings.size() ||
      x.difficulty != y.difficulty || x.estimated_tokens != y.estimated_tokens) {
    return false;
  }
  for (size_t i = 0; i < x.findings.size(); ++i) {
    const Finding& a = x.findings[i];
    const Finding& b = y.findings[i];
    if (a.category != b.category || a.level != b.level || !(a.field == b.field) ||
        a.begin != b.begin || a.end != b.end || a.detector != b.detector) {
      return false;
    }
  }
  return true;
}

}  // namespace

// The built-in pattern rules, scanned with their prefilter and rule by rule, agree.
void CheckPrefilter(std::string_view text) {
  using airlock::classifier::Match;
  using airlock::classifier::PatternSetDetector;
  static const std::unique_ptr<PatternSetDetector> patterns = [] {
    auto rules = airlock::classifier::PiiPatternRules();
    for (auto& r : airlock::classifier::SecretPatternRules()) rules.push_back(std::move(r));
    auto created = PatternSetDetector::Create("builtin", std::move(rules));
    FUZZ_CHECK(created.ok(), "the built-in pattern rules do not compile");
    return std::move(*created);
  }();
  std::vector<Match> fast, slow;
  patterns->Scan(text, &fast);
  patterns->ScanEveryRule(text, &slow);
  auto key = [](const Match& m) { return std::tie(m.begin, m.end, m.detector); };
  auto by_key = [&](const Match& x, const Match& y) { return key(x) < key(y); };
  std::sort(fast.begin(), fast.end(), by_key);
  std::sort(slow.begin(), slow.end(), by_key);
  FUZZ_CHECK(fast.size() == slow.size() &&
                 std::equal(fast.begin(), fast.end(), slow.begin(),
                            [&](const Match& x, const Match& y) { return key(x) == key(y); }),
             "the prefilter lost or invented a pattern match");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<airlock::classifier::Classifier> classifier =
      airlock::classifier::Classifier::CreateDefault();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (size <= 65536) {
    for (std::string_view part : Split(bytes, '\x1e')) CheckPrefilter(part);
  }
  const v1::ChatRequest request = BuildRequest(bytes);

  const Assessment a = classifier->Assess(request);
  CheckAssessment(request, a);
  FUZZ_CHECK(SameAssessment(a, classifier->Assess(request)), "Assess is not deterministic");

  v1::ChatRequest masked = request;
  const router::TransformResult mask = router::ApplyTransform(router::Transform::kMask, a, &masked);
  FUZZ_CHECK(mask.remaining.empty(), "mask left a finding of a fresh assessment");

  for (Level clearance :
       {Level::kPublic, Level::kInternal, Level::kConfidential, Level::kRestricted}) {
    v1::ChatRequest r = request;
    const router::TransformResult result =
        router::ApplyTransform(router::Transform::kPseudonymize, a, clearance, &r);
    for (const Finding& f : result.remaining) {
      FUZZ_CHECK(f.level <= clearance, "a finding above the clearance remained");
    }
    FUZZ_CHECK(result.remaining_level <= std::max(clearance, a.level),
               "remaining level above clearance and assessment");
  }

  v1::ChatRequest pseudo = request;
  const router::TransformResult result =
      router::ApplyTransform(router::Transform::kPseudonymize, a, &pseudo);
  FUZZ_CHECK(result.remaining.empty(), "pseudonymize left a finding of a fresh assessment");
  // Text shaped like a placeholder is reserved, so the round trip is exact for every input.
  const auto original = Fields(request);
  const auto transformed = Fields(pseudo);
  FUZZ_CHECK(transformed.size() == original.size(), "pseudonymize changed the fields");
  for (size_t i = 0; i < original.size(); ++i) {
    FUZZ_CHECK(router::Restore(result.pseudonyms, transformed[i].second) == original[i].second,
               "Restore(pseudonymize(text)) != text");
  }
  return 0;
}
