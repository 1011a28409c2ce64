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

Decoding::Decoding(const Tokenizer& tokenizer, const GenerateOptions& options)
    : options_(options), sampler_(options.sampling), decoder_(tokenizer, options.skip_special) {}

// Emits what is settled in pending_; true when a stop string ended generation.
bool Decoding::Release(bool final, const TextSink& on_text, bool* cancelled) {
  auto emit = [&](std::string_view text) {
    result_.text.append(text);
    if (!on_text(text)) *cancelled = true;
  };
  size_t cut = std::string::npos;
  for (const std::string& s : options_.stop) {
    if (s.empty()) continue;
    cut = std::min(cut, pending_.find(s));
  }
  if (cut != std::string::npos) {
    if (cut > 0) emit(std::string_view(pending_).substr(0, cut));
    pending_.clear();
    return true;
  }
  const size_t hold = final ? 0 : StopPrefixAtEnd(pending_, options_.stop);
  const size_t n = pending_.size() - hold;
  if (n > 0) {
    emit(std::string_view(pending_).substr(0, n));
    pending_.erase(0, n);
  }
  return false;
}

std::optional<int32_t> Decoding::Next(std::span<const float> logits, const TextSink& on_text) {
  bool cancelled = false;
  auto finish = [&](const char* reason) {
    pending_ += decoder_.Finish();
    const bool stopped = Release(true, on_text, &cancelled);
    result_.finish_reason = cancelled ? "cancelled" : stopped ? "stop" : reason;
    return std::nullopt;
  };
  if (static_cast<int32_t>(result_.tokens.size()) >= options_.max_tokens) return finish("length");
  const int32_t t = sampler_.Sample(logits, result_.tokens);
  if (std::find(options_.stop_ids.begin(), options_.stop_ids.end(), t) != options_.stop_ids.end()) {
    return finish("stop");
  }
  result_.tokens.push_back(t);
  pending_ += decoder_.Push(t);
  if (Release(false, on_text, &cancelled)) {
    result_.finish_reason = cancelled ? "cancelled" : "stop";
    return std::nullopt;
  }
  if (cancelled) {
    result_.finish_reason = "cancelled";
    return std::nullopt;
  }
  return t;
}

absl::StatusOr<GenerateResult> Generate(const Model& model, const Tokenizer& tokenizer,
                                        SequenceState* state, std::vector<float> logits,
                                        const GenerateOptions& options, const TextSink& on_text) {
  Decoding decoding(tokenizer, options);
  while (std::optional<int32_t> t = decoding.Next(logits, on_text)) {
    auto next = model.Forward(state, std::span<const int32_t>(&*t, 1));
    if (!next.ok()) return next.status();
    logits = *std::move(next);
  }
  return decoding.TakeResult();
}

}  // namespace airlock::engine
