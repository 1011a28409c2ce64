// Generate: the decode loop of one sequence — sample, feed back, stream text — with the stop
// conditions a chat request has.
//
// Decoding is one sequence's side of that loop, step by step, so that the runtime
// (engine/runtime.h) can run many sequences in one batch: given the logits of the last token
// fed, it samples the next token (engine/sampler.h, over the tokens generated so far for the
// repetition penalty), stops on a stop id (not emitted) or after max_tokens, and otherwise
// decodes it as a stream (Tokenizer::Decoder: text never cuts a character). Stop strings: text
// is held back while it could be the start of one; when one appears, the text before it is the
// last emitted and generation stops ("stop"). on_text receives each settled piece of text;
// returning false cancels: generation stops at once ("cancelled").
//
// Generate runs a Decoding to the end on one sequence: from `state` (which already holds the
// prompt's prefill; `logits` are its last token's) it feeds each token back through the model;
// on cancellation the sequence keeps only what was fed so far.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
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

using TextSink = std::function<bool(std::string_view)>;

class Decoding {
 public:
  // tokenizer must outlive the Decoding.
  Decoding(const Tokenizer& tokenizer, const GenerateOptions& options);

  // One step: the token to feed next, or nullopt when generation has ended (result() says why;
  // Next must not be called again).
  std::optional<int32_t> Next(std::span<const float> logits, const TextSink& on_text);

  const GenerateResult& result() const { return result_; }
  GenerateResult TakeResult() { return std::move(result_); }

 private:
  bool Release(bool final, const TextSink& on_text, bool* cancelled);

  GenerateOptions options_;
  Sampler sampler_;
  Tokenizer::Decoder decoder_;
  std::string pending_;  // decoded text not yet emitted (could start a stop string)
  GenerateResult result_;
};

absl::StatusOr<GenerateResult> Generate(const Model& model, const Tokenizer& tokenizer,
                                        SequenceState* state, std::vector<float> logits,
                                        const GenerateOptions& options, const TextSink& on_text);

}  // namespace airlock::engine
