#include "engine/generate.h"

#include <algorithm>

namespace airlock::engine {
namespace {

// How much of the end of text could be the start of a stop string (held back).
size_t StopPrefixAtEnd(std::string_view text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops) {
    for (size_t n = std::min(text.size(), s.size() - 1); n > hold; --n) {
      if (text.substr(text.size() - n) == std::string_view(s).substr(0, n)) {
        hold = n;
        break;
      }
    }
  }
  return hold;
}

}  // namespace

absl::StatusOr<GenerateResult> Generate(const Model& model, const Tokenizer& tokenizer,
                                        SequenceState* state, std::vector<float> logits,
                                        const GenerateOptions& options,
                                        const std::function<bool(std::string_view)>& on_text) {
  GenerateResult r;
  Sampler sampler(options.sampling);
  Tokenizer::Decoder decoder(tokenizer, options.skip_special);
  std::string pending;  // decoded text not yet emitted (could start a stop string)
  auto emit = [&](std::string_view text) {
    r.text.append(text);
    return on_text(text);
  };
  // Releases what is settled in pending; true when a stop string ended generation.
  auto release = [&](bool final, bool* cancelled) {
    size_t cut = std::string::npos;
    for (const std::string& s : options.stop) {
      if (s.empty()) continue;
      cut = std::min(cut, pending.find(s));
    }
    if (cut != std::string::npos) {
      if (cut > 0 && !emit(std::string_view(pending).substr(0, cut))) *cancelled = true;
      pending.clear();
      return true;
    }
    const size_t hold = final ? 0 : StopPrefixAtEnd(pending, options.stop);
    const size_t n = pending.size() - hold;
    if (n > 0) {
      if (!emit(std::string_view(pending).substr(0, n))) *cancelled = true;
      pending.erase(0, n);
    }
    return false;
  };
  bool cancelled = false;
  while (true) {
    if (static_cast<int32_t>(r.tokens.size()) >= options.max_tokens) {
      r.finish_reason = "length";
      break;
    }
    const int32_t t = sampler.Sample(logits, r.tokens);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), t) != options.stop_ids.end()) {
      r.finish_reason = "stop";
      break;
    }
    r.tokens.push_back(t);
    pending += decoder.Push(t);
    if (release(false, &cancelled)) {
      r.finish_reason = cancelled ? "cancelled" : "stop";
      return r;
    }
    if (cancelled) {
      r.finish_reason = "cancelled";
      return r;
    }
    auto next = model.Forward(state, std::vector<int32_t>{t});
    if (!next.ok()) return next.status();
    logits = *std::move(next);
  }
  pending += decoder.Finish();
  if (release(true, &cancelled) || cancelled) {
    r.finish_reason = cancelled ? "cancelled" : "stop";
  }
  return r;
}

}  // namespace airlock::engine
