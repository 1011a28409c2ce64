// Generate: the decode loop of one sequence — sample, feed back, stream text — with the stop
// conditions a chat request has.
//
// From `state` (which already holds the prompt's prefill; `logits` are its last token's), each
// step samples a token (engine/sampler.h, over the tokens generated so far for the repetition
// penalty), stops on a stop id (not emitted) or after max_tokens, and otherwise decodes it as a
// stream (Tokenizer::Decoder: text never cuts a character) and feeds it back through the model.
// Stop strings: text is held back while it could be the start of one; when one appears, the
// text before it is the last emitted and generation stops ("stop"). on_text receives each
// settled piece of text; returning false cancels: generation stops at once ("cancelled") and
// the sequence keeps only what was fed so far.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"

namespace airlock::engine {

struct GenerateOptions {
  SamplingParams sampling;
  int32_t max_tokens = 256;
  std::vector<int32_t> stop_ids;  // e.g. <|im_end|>, </s>
  std::vector<std::string> stop;  // stop strings
  bool skip_special = false;      // leave special tokens out of the text
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated, stop id excluded
  std::string text;             // everything passed to on_text
  std::string finish_reason;    // "stop", "length" or "cancelled"
};

absl::StatusOr<GenerateResult> Generate(const Model& model, const Tokenizer& tokenizer,
                                        SequenceState* state, std::vector<float> logits,
                                        const GenerateOptions& options,
                                        const std::function<bool(std::string_view)>& on_text);

}  // namespace airlock::engine
