#include "engine/runtime.h"

#include <algorithm>
#include <utility>

#include "engine/strings.h"

namespace airlock::engine {

using Clock = std::chrono::steady_clock;

struct Runtime::Job {
  RuntimeRequest request;
  std::shared_ptr<RuntimeCall> call;
  uint64_t bytes = 0;                       // reserved while running
  bool admitted = false;                    // out of the queue, bytes reserved
  std::unique_ptr<engine::Sequence> state;  // null until it starts
  size_t prefilled = 0;                     // prompt tokens fed so far
  int32_t next = 0;                         // the sampled token to feed (once the prompt is done)
  std::unique_ptr<Decoding> decoding;
  size_t forked = 0;          // forks made so far
  size_t started_at = 0;      // prompt tokens the start sequence held
  std::vector<float> hidden;  // with hidden_layer: the sum of the fed tokens' hidden states

  bool prefilling() const { return prefilled < request.prompt.size(); }
};

Runtime::Runtime(const Backend& backend, const Tokenizer& tokenizer, RuntimeOptions options)
    : backend_(backend), tokenizer_(tokenizer), options_([&] {
        options.max_sequences = std::max<size_t>(1, options.max_sequences);
        options.step_tokens = std::max(
            options.step_tokens, options.max_sequences + static_cast<size_t>(std::max<int64_t>(
                                                             1, backend.prefill_granule())));
        return options;
      }()) {
  thread_ = std::thread([this] { Loop(); });
}

Runtime::~Runtime() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

absl::StatusOr<std::shared_ptr<RuntimeCall>> Runtime::Submit(RuntimeRequest request) {
  const ModelConfig& c = backend_.config();
  if (request.prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    if (request.prompt[i] < 0 || request.prompt[i] >= c.vocab_size) {
      return absl::InvalidArgumentError(Cat("prompt token ", i, ": id ", request.prompt[i],
                                            " is outside the vocabulary (0 to ", c.vocab_size - 1,
                                            ")"));
    }
  }
  const int64_t tokens =
      static_cast<int64_t>(request.prompt.size()) + std::max(0, request.options.max_tokens);
  if (tokens > options_.max_context) {
    return absl::ResourceExhaustedError(Cat(
        "the prompt (", request.prompt.size(), " tokens) and max_tokens (",
        request.options.max_tokens, ") exceed the context of ", options_.max_context, " tokens"));
  }
  const auto prompt_size = static_cast<int64_t>(request.prompt.size());
  const int64_t start = request.start != nullptr ? request.start->position : 0;
  if (request.start != nullptr && (start < 0 || start >= prompt_size)) {
    return absl::InvalidArgumentError(Cat("the start sequence holds ", start,
                                          " tokens; it must hold fewer than the prompt's ",
                                          prompt_size));
  }
  for (size_t i = 0; i < request.forks.size(); ++i) {
    const int64_t at = request.forks[i];
    if (at <= (i > 0 ? request.forks[i - 1] : start) || at > prompt_size || !request.on_fork) {
      return absl::InvalidArgumentError(Cat("fork ", i, " at ", at, " must be past the start (",
                                            start, ") and the fork before it, within the prompt (",
                                            prompt_size, " tokens), with on_fork set"));
    }
  }
  if (request.hidden_layer >= static_cast<int>(c.layers.size()) ||
      (request.hidden_layer >= 0) != static_cast<bool>(request.on_prompt_hidden)) {
    return absl::InvalidArgumentError(Cat("hidden_layer ", request.hidden_layer,
                                          " must be a layer (0 to ", c.layers.size() - 1,
                                          "), with on_prompt_hidden set"));
  }
  auto seq = std::make_unique<Job>();
  seq->bytes = backend_.SequenceBytes(tokens);
  if (seq->bytes > options_.memory_bytes) {
    return absl::ResourceExhaustedError(Cat("the sequence state for ", tokens, " tokens takes ",
                                            seq->bytes >> 20, " MiB, more than the runtime's ",
                                            options_.memory_bytes >> 20, " MiB"));
  }
  seq->request = std::move(request);
  seq->state = std::move(seq->request.start);
  seq->prefilled = seq->started_at = static_cast<size_t>(start);
  if (seq->request.hidden_layer >= 0) seq->hidden.assign(static_cast<size_t>(c.hidden_size), 0.0f);
  if (!seq->request.on_text) seq->request.on_text = [](std::string_view) { return true; };
  seq->call = std::make_shared<RuntimeCall>();
  std::shared_ptr<RuntimeCall> call = seq->call;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("the runtime is shutting down");
    if (queue_.size() >= options_.max_queued) {
      return absl::ResourceExhaustedError(
          Cat(options_.max_queued, " requests are already waiting"));
    }
    queue_.push_back(std::move(seq));
    stats_.queued = queue_.size();
  }
  wake_.notify_one();
  return call;
}

RuntimeStats Runtime::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

namespace {

// Why a request must end before the next step, if it must.
absl::Status Ending(bool stopping, bool cancelled, Clock::time_point deadline,
                    Clock::time_point now) {
  if (stopping) return absl::CancelledError("the runtime is shutting down");
  if (cancelled) return absl::CancelledError("cancelled");
  if (now >= deadline) return absl::DeadlineExceededError("the deadline passed");
  return absl::OkStatus();
}

}  // namespace

void Runtime::Loop() {
  std::vector<std::unique_ptr<Job>> running;
  std::vector<std::unique_ptr<Job>> ended;
  std::vector<absl::StatusOr<GenerateResult>> why;  // what each ended one gets
  while (true) {
    bool stop = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !running.empty(); });
      stop = stopping_;
      const Clock::time_point now = Clock::now();
      // Requests cancelled or expired while waiting leave the queue at once.
      for (auto it = queue_.begin(); it != queue_.end();) {
        absl::Status s = Ending(stop, (*it)->call->cancelled_, (*it)->request.deadline, now);
        if (s.ok()) {
          ++it;
          continue;
        }
        ended.push_back(std::move(*it));
        why.push_back(std::move(s));
        it = queue_.erase(it);
      }
      while (!queue_.empty() && running.size() < options_.max_sequences &&
             stats_.reserved_bytes + queue_.front()->bytes <= options_.memory_bytes) {
        std::unique_ptr<Job> seq = std::move(queue_.front());
        queue_.pop_front();
        stats_.reserved_bytes += seq->bytes;
        seq->admitted = true;
        running.push_back(std::move(seq));
      }
      stats_.queued = queue_.size();
    }
    // Sequences cancelled or past their deadline end before the step.
    const Clock::time_point now = Clock::now();
    for (auto& seq : running) {
      absl::Status s = Ending(stop, seq->call->cancelled_, seq->request.deadline, now);
      if (!s.ok()) {
        ended.push_back(std::move(seq));
        why.push_back(std::move(s));
      }
    }
    std::erase(running, nullptr);
    End(ended, why, running.size());
    if (stop) return;
    if (!running.empty()) RunStep(running);
  }
}

void Runtime::RunStep(std::vector<std::unique_ptr<Job>>& running) {
  const size_t V = static_cast<size_t>(backend_.config().vocab_size);
  std::vector<StepItem> items;
  std::vector<std::pair<Job*, absl::Status>> failed;  // could not start
  std::vector<Job*> with_logits;                      // in the order of the step's logits
  std::vector<Job*> stepped;
  size_t budget = options_.step_tokens;
  const auto granule = static_cast<size_t>(std::max<int64_t>(1, backend_.prefill_granule()));
  // Decoding rows first, then prompt chunks in arrival order with what is left.
  for (auto& seq : running) {
    if (seq->prefilling()) continue;
    items.push_back({seq->state.get(), std::span<const int32_t>(&seq->next, 1)});
    with_logits.push_back(seq.get());
    stepped.push_back(seq.get());
    --budget;
  }
  for (auto& seq : running) {
    if (!seq->prefilling() || budget == 0) continue;
    // A prompt that does not fit is split at a multiple of the granule (its positions start at
    // 0, and every earlier split was at one); none fits: it waits for the next step, which the
    // first prompt in line always gets (step_tokens >= max_sequences + granule). A sequence
    // that started past an odd position (a fork not at a multiple) takes what fits. A chunk
    // also ends where the request forks.
    const std::vector<int32_t>& p = seq->request.prompt;
    const size_t fits = std::min(seq->prefilled + budget, p.size());
    size_t end = fits < p.size() ? fits - fits % granule : fits;
    if (end <= seq->prefilled) end = seq->prefilled % granule == 0 ? seq->prefilled : fits;
    const std::vector<int64_t>& forks = seq->request.forks;
    if (seq->forked < forks.size()) {
      end = std::min(end, static_cast<size_t>(forks[seq->forked]));
    }
    if (end <= seq->prefilled) continue;
    const size_t take = end - seq->prefilled;
    if (seq->state == nullptr) {  // starting: its memory (the whole KV cache) allocated now
      absl::StatusOr<std::unique_ptr<engine::Sequence>> state =
          backend_.StartSequence(static_cast<int64_t>(seq->request.prompt.size()) +
                                 std::max(0, seq->request.options.max_tokens));
      if (!state.ok()) {
        failed.emplace_back(seq.get(), state.status());
        continue;
      }
      seq->state = *std::move(state);
    }
    const bool last = seq->prefilled + take == p.size();
    items.push_back({seq->state.get(), std::span<const int32_t>(p.data() + seq->prefilled, take),
                     last ? Logits::kLast : Logits::kNone, seq->request.hidden_layer,
                     seq->hidden.empty() ? nullptr : seq->hidden.data()});
    if (last) with_logits.push_back(seq.get());
    stepped.push_back(seq.get());
    seq->prefilled += take;
    budget -= take;
  }
  absl::StatusOr<std::vector<float>> logits =
      items.empty() ? std::vector<float>() : backend_.Step(items);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.steps;
    stats_.max_step_sequences = std::max(stats_.max_step_sequences, items.size());
  }
  std::vector<std::unique_ptr<Job>> done;
  std::vector<absl::StatusOr<GenerateResult>> outcome;
  auto end = [&](Job* seq, absl::StatusOr<GenerateResult> result) {
    for (auto& r : running) {
      if (r.get() == seq) done.push_back(std::move(r));
    }
    outcome.push_back(std::move(result));
  };
  for (auto& [seq, status] : failed) end(seq, std::move(status));
  if (!logits.ok()) {
    for (Job* seq : stepped) end(seq, absl::InternalError(logits.status().message()));
  } else {
    for (Job* seq : stepped) {
      const std::vector<int64_t>& forks = seq->request.forks;
      if (seq->forked < forks.size() && seq->prefilled == static_cast<size_t>(forks[seq->forked])) {
        seq->request.on_fork(forks[seq->forked++], backend_.Fork(*seq->state));
      }
    }
    for (size_t k = 0; k < with_logits.size(); ++k) {
      Job* seq = with_logits[k];
      const std::span<const float> row(logits->data() + k * V, V);
      if (seq->decoding == nullptr) {
        if (!seq->hidden.empty()) {
          const float fed = static_cast<float>(seq->request.prompt.size() - seq->started_at);
          for (float& v : seq->hidden) v /= fed;
          seq->request.on_prompt_hidden(seq->hidden);
        }
        if (seq->request.on_prompt_logits && !seq->request.on_prompt_logits(row)) {
          end(seq, GenerateResult{.finish_reason = "stop"});
          continue;
        }
        seq->decoding = std::make_unique<Decoding>(tokenizer_, seq->request.options);
      }
      std::optional<int32_t> t = seq->decoding->Next(row, seq->request.on_text);
      if (t) {
        seq->next = *t;
      } else {
        end(seq, seq->decoding->TakeResult());
      }
    }
  }
  std::erase(running, nullptr);
  End(done, outcome, running.size());
}

// Frees the ended sequences' memory, then tells their callers.
void Runtime::End(std::vector<std::unique_ptr<Job>>& ended,
                  std::vector<absl::StatusOr<GenerateResult>>& outcome, size_t running) {
  uint64_t freed = 0;
  for (const auto& seq : ended) freed += seq->admitted ? seq->bytes : 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.reserved_bytes -= freed;
    stats_.running = running;
  }
  for (size_t i = 0; i < ended.size(); ++i) ended[i]->request.on_done(std::move(outcome[i]));
  ended.clear();
  outcome.clear();
}

}  // namespace airlock::engine
