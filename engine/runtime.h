// Runtime: one model serving many requests at once by continuous batching, on any backend
// (engine/backend.h: the CPU's engine/model.h, CUDA's kernels/).
//
// Requests queue; the runtime's thread admits them into running sequences and runs steps. A
// step is one Backend::Step over every running sequence: each decoding sequence feeds its last
// sampled token, and prefilling sequences feed a chunk of their prompt with what is left of
// the step's token budget (decoding rows first, so that a long prompt never stalls the
// streams already running; a prompt longer than the budget is prefilled over several steps,
// split only at multiples of the backend's prefill_granule(), which makes it compute what it
// computes in one step).
// After the step each sequence whose prompt is done samples its next token (engine/generate.h
// Decoding: sampling, stop ids and strings, max_tokens, streamed text). Because a row's
// arithmetic does not depend on the rest of the batch (the backend's contract), a request's
// tokens are the same whatever else runs beside it.
//
// Admission, all decided when the request is submitted or when it leaves the queue:
//   - a prompt that is empty or has an id outside the vocabulary: INVALID_ARGUMENT;
//   - prompt + max_tokens above max_context: RESOURCE_EXHAUSTED;
//   - a sequence whose state (its KV cache for prompt + max_tokens, its Mamba state) alone
//     exceeds memory_bytes (Backend::SequenceBytes): RESOURCE_EXHAUSTED; otherwise it waits
//     until that memory is free, and the memory is reserved when it starts
//     (Backend::StartSequence allocates the KV cache whole; its error fails the request);
//   - more than max_queued requests waiting: RESOURCE_EXHAUSTED.
// Then at most max_sequences run at once, admitted in arrival order.
//
// Endings: on_done is called exactly once, on the runtime's thread: OK with the result
// (finish_reason "stop", "length", or "cancelled" when on_text returned false); CANCELLED after
// RuntimeCall::Cancel or when the runtime is destroyed; DEADLINE_EXCEEDED once the deadline
// passes (queued or running); INTERNAL when the model step fails (every sequence of that step).
// An ended sequence is freed (its memory back in stats) before on_done and before the next
// step; the others are not touched.
//
// Thread-safety: Submit, Cancel and stats may be called from any thread. on_text and on_done
// run on the runtime's thread and must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/generate.h"
#include "engine/tokenizer.h"

namespace airlock::engine {

struct RuntimeOptions {
  size_t max_sequences = 16;    // running at once (the largest decode batch)
  size_t max_queued = 64;       // waiting beyond those
  int64_t max_context = 32768;  // prompt + max_tokens of one request
  size_t step_tokens = 512;     // tokens per step (at least max_sequences + prefill_granule())
  uint64_t memory_bytes = uint64_t{8} << 30;  // sequence state of all running requests
};

struct RuntimeRequest {
  std::vector<int32_t> prompt;
  GenerateOptions options;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  TextSink on_text;  // settled text; false cancels (finish_reason "cancelled")
  std::function<void(absl::StatusOr<GenerateResult>)> on_done;

  // Prefill reuse (a classification's prefill kept for the generation that follows):
  //   - start: a sequence of this backend (a fork, below) that already holds the first
  //     start->position tokens of `prompt` (fewer than all of them); the runtime feeds the
  //     rest. Its memory is reserved like a fresh one's. Null: a fresh sequence.
  //   - forks, on_fork: once the prefill has fed each of `forks` prompt tokens (ascending,
  //     each past the start and at most the prompt's size; a multiple of
  //     Backend::prefill_granule() for a fork that later gives the bits of a fresh prefill),
  //     on_fork receives that position and a copy of the sequence there (or the backend's
  //     error). A copy's memory is the caller's until it comes back as `start`.
  //   - on_prompt_logits: the last prompt token's logits (vocab_size floats), before the first
  //     token is sampled; false ends the request there (OK, no tokens, finish_reason "stop").
  //   - hidden_layer, on_prompt_hidden: the hidden state after that layer, mean-pooled over the
  //     prompt tokens this request feeds (those after `start`), just before on_prompt_logits
  //     (the classifier's heads); -1: none.
  // All callbacks run on the runtime's thread and must not block.
  std::unique_ptr<Sequence> start;
  std::vector<int64_t> forks;
  std::function<void(int64_t, absl::StatusOr<std::unique_ptr<Sequence>>)> on_fork;
  std::function<bool(std::span<const float>)> on_prompt_logits;
  int hidden_layer = -1;
  std::function<void(std::span<const float>)> on_prompt_hidden;
};

class RuntimeCall {
 public:
  // Ends the request with CANCELLED before the next step; its sequence is freed.
  void Cancel() { cancelled_ = true; }

 private:
  friend class Runtime;
  std::atomic<bool> cancelled_{false};
};

struct RuntimeStats {
  size_t running = 0;
  size_t queued = 0;
  uint64_t reserved_bytes = 0;  // state memory of the running sequences
  uint64_t steps = 0;
  size_t max_step_sequences = 0;  // the most sequences one step has run so far
};

class Runtime {
 public:
  // backend and tokenizer must outlive the runtime.
  Runtime(const Backend& backend, const Tokenizer& tokenizer, RuntimeOptions options = {});
  ~Runtime();  // ends every request (CANCELLED) and joins the thread
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Queues a request, or refuses it (on_done is then never called).
  absl::StatusOr<std::shared_ptr<RuntimeCall>> Submit(RuntimeRequest request);

  RuntimeStats stats() const;
  const RuntimeOptions& options() const { return options_; }
  const Backend& backend() const { return backend_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  struct Job;
  void Loop();
  void RunStep(std::vector<std::unique_ptr<Job>>& running);
  void End(std::vector<std::unique_ptr<Job>>& ended,
           std::vector<absl::StatusOr<GenerateResult>>& outcome, size_t running);

  const Backend& backend_;
  const Tokenizer& tokenizer_;
  const RuntimeOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> queue_;  // guarded by mu_
  RuntimeStats stats_;                      // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::thread thread_;
};

}  // namespace airlock::engine
