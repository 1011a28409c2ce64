// The runtime on the tiny synthetic model: requests batched together get the tokens they get
// alone (greedy and seeded sampling, prompts prefilled over several steps), a cancelled
// request's sequence is freed without changing the others, admission refuses what cannot fit
// with the right code, and a backend's failures fail only the requests they touch.
#include "engine/runtime.h"

#include <unistd.h>

#include <filesystem>
#include <future>
#include <latch>

#include "engine/chat_template.h"
#include "engine/synth.h"
#include "gtest/gtest.h"

namespace airlock::engine {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  std::vector<std::string> pieces;
  absl::StatusOr<GenerateResult> result = absl::UnknownError("not done");
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  std::function<void(size_t)> on_piece;  // called with the number of pieces so far

  const GenerateResult& Wait() {
    finished.wait();
    static const GenerateResult kNone;
    return result.ok() ? *result : kNone;
  }
};

class RuntimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("runtime_test_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    ASSERT_TRUE(SynthesizeModel(*PresetConfig("tiny"), dir_->string(), {}).ok());
    model_ = Model::Load(dir_->string())->release();
    tokenizer_ = Tokenizer::Load((*dir_ / "tokenizer.json").string())->release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  static std::vector<int32_t> Prompt(const std::string& text) {
    return tokenizer_->Encode(RenderNemotron3Chat({{"user", text, "", {}}}, {}, {}));
  }
  static GenerateOptions Greedy(int32_t max_tokens) {
    GenerateOptions o;
    o.sampling.temperature = 0;
    o.max_tokens = max_tokens;
    return o;
  }
  // What the request gives alone, without the runtime.
  static GenerateResult Alone(const std::vector<int32_t>& prompt, const GenerateOptions& o) {
    SequenceState s = model_->NewSequence();
    auto logits = model_->Forward(&s, prompt);
    return *Generate(*model_, *tokenizer_, &s, *logits, o, [](std::string_view) { return true; });
  }
  static RuntimeRequest Request(const std::vector<int32_t>& prompt, const GenerateOptions& o,
                                Outcome* out) {
    RuntimeRequest r;
    r.prompt = prompt;
    r.options = o;
    r.on_text = [out](std::string_view text) {
      out->pieces.emplace_back(text);
      if (out->on_piece) out->on_piece(out->pieces.size());
      return true;
    };
    r.on_done = [out](absl::StatusOr<GenerateResult> result) {
      out->result = std::move(result);
      out->done.set_value();
    };
    return r;
  }

  static fs::path* dir_;
  static Model* model_;
  static Tokenizer* tokenizer_;
};

fs::path* RuntimeTest::dir_ = nullptr;
Model* RuntimeTest::model_ = nullptr;
Tokenizer* RuntimeTest::tokenizer_ = nullptr;

// The CPU backend with failures injected: StartSequence refuses sequences longer than
// `start_limit` tokens (as a device out of memory would), and Step fails while `fail_steps`.
// It records where each prompt chunk that is not a prompt's last ends (its position after).
class FaultyBackend : public Backend {
 public:
  explicit FaultyBackend(const Backend& real) : real_(real) {}
  const ModelConfig& config() const override { return real_.config(); }
  std::string Describe() const override { return "faulty " + real_.Describe(); }
  uint64_t SequenceBytes(int64_t tokens) const override { return real_.SequenceBytes(tokens); }
  absl::StatusOr<std::unique_ptr<Sequence>> StartSequence(int64_t tokens) const override {
    if (tokens > start_limit) return absl::ResourceExhaustedError("no device memory left");
    return real_.StartSequence(tokens);
  }
  int64_t prefill_granule() const override { return real_.prefill_granule(); }
  absl::StatusOr<std::unique_ptr<Sequence>> Fork(const Sequence& sequence) const override {
    if (fail_fork) return absl::ResourceExhaustedError("no memory for a copy");
    return real_.Fork(sequence);
  }
  absl::StatusOr<std::vector<float>> Step(std::span<const StepItem> items) const override {
    if (fail_steps) return absl::InternalError("kernel launch failed");
    for (const StepItem& item : items) {
      if (item.logits == Logits::kNone) {
        split_ends.push_back(item.sequence->position + static_cast<int64_t>(item.tokens.size()));
      }
    }
    return real_.Step(items);
  }
  std::atomic<int64_t> start_limit{1 << 20};
  std::atomic<bool> fail_steps{false};
  std::atomic<bool> fail_fork{false};
  mutable std::vector<int64_t> split_ends;  // the runtime's thread only

 private:
  const Backend& real_;
};

TEST_F(RuntimeTest, BatchedRequestsGetTheTokensTheyGetAlone) {
  // A 16-token step budget (raised to 8 + 16, max_sequences plus the tiny model's SSD chunk):
  // the longer prompts are prefilled over several steps, beside sequences that are decoding,
  // and split only at multiples of 16 tokens, where the chunked prefill gives the same bits as
  // the whole prompt at once.
  FaultyBackend backend(*model_);
  ASSERT_EQ(backend.prefill_granule(), 16);
  Runtime runtime(backend, *tokenizer_, {.max_sequences = 8, .step_tokens = 16});
  const std::vector<std::vector<int32_t>> prompts = {
      Prompt("Hi"), Prompt("Tell me about the weather in Paris in spring, please."),
      Prompt("Write a haiku about privacy, routers and agents that talk to each other at night."),
      Prompt("2+2?")};
  std::vector<GenerateOptions> options = {Greedy(40), Greedy(12), Greedy(20), Greedy(16)};
  options[3].sampling = {.temperature = 0.9f, .top_p = 0.9f, .seed = 3};  // seeded sampling
  std::vector<Outcome> out(prompts.size());
  // The first request holds its first piece until every request is queued, so that they all
  // run side by side.
  std::latch all_queued(1);
  out[0].on_piece = [&](size_t n) {
    if (n == 1) all_queued.wait();
  };
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(runtime.Submit(Request(prompts[i], options[i], &out[i])).ok());
  }
  all_queued.count_down();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const GenerateResult& got = out[i].Wait();
    ASSERT_TRUE(out[i].result.ok()) << out[i].result.status();
    const GenerateResult want = Alone(prompts[i], options[i]);
    EXPECT_EQ(got.tokens, want.tokens) << "request " << i;
    EXPECT_EQ(got.text, want.text) << "request " << i;
    EXPECT_EQ(got.finish_reason, want.finish_reason) << "request " << i;
  }
  EXPECT_FALSE(backend.split_ends.empty());
  for (const int64_t end : backend.split_ends) EXPECT_EQ(end % 16, 0) << end;
  const RuntimeStats stats = runtime.stats();
  EXPECT_EQ(stats.max_step_sequences, prompts.size());
  EXPECT_EQ(stats.running, 0u);
  EXPECT_EQ(stats.reserved_bytes, 0u);
}

TEST_F(RuntimeTest, CancellingOneRequestFreesItAndLeavesTheOthersAlone) {
  Runtime runtime(*model_, *tokenizer_);
  const std::vector<int32_t> p0 = Prompt("one"), p1 = Prompt("two two"), p2 = Prompt("three");
  const GenerateOptions o = Greedy(30);
  Outcome a, b, c;
  std::shared_ptr<RuntimeCall> a_call;
  std::latch all_queued(1);
  std::vector<std::string> events;  // in the order the runtime's thread saw them
  b.on_piece = [&](size_t n) {
    if (n == 1) all_queued.wait();
    if (n == 3) a_call->Cancel();
    events.push_back("b" + std::to_string(n));
  };
  auto a_done = [&](absl::StatusOr<GenerateResult> r) {
    events.push_back("a done");
    a.result = std::move(r);
    a.done.set_value();
  };
  ASSERT_TRUE(runtime.Submit(Request(p1, o, &b)).ok());
  RuntimeRequest ra = Request(p0, o, &a);
  ra.on_done = a_done;
  a_call = *runtime.Submit(std::move(ra));
  ASSERT_TRUE(runtime.Submit(Request(p2, o, &c)).ok());
  all_queued.count_down();
  b.Wait();
  c.Wait();
  a.finished.wait();
  EXPECT_EQ(a.result.status().code(), absl::StatusCode::kCancelled);
  // a ended at the step after the cancel: before b's next piece.
  const auto at = std::find(events.begin(), events.end(), "a done");
  ASSERT_NE(at, events.end());
  ASSERT_GE(at - events.begin(), 3);
  EXPECT_EQ(*(at - 1), "b3");
  EXPECT_EQ(b.result->tokens, Alone(p1, o).tokens);
  EXPECT_EQ(c.result->tokens, Alone(p2, o).tokens);
  EXPECT_EQ(runtime.stats().reserved_bytes, 0u);
  EXPECT_EQ(runtime.stats().running, 0u);
}

TEST_F(RuntimeTest, AdmissionRefusesWhatCannotFit) {
  const std::vector<int32_t> p = Prompt("hello");
  Runtime runtime(*model_, *tokenizer_,
                  {.max_sequences = 1, .max_queued = 1, .max_context = 64, .memory_bytes = 0});
  Outcome unused;
  auto code = [&](const std::vector<int32_t>& prompt, int32_t max_tokens) {
    return runtime.Submit(Request(prompt, Greedy(max_tokens), &unused)).status();
  };
  EXPECT_EQ(code({}, 4).code(), absl::StatusCode::kInvalidArgument);
  const absl::Status bad = code({1, 512}, 4);
  EXPECT_EQ(bad.message(), "prompt token 1: id 512 is outside the vocabulary (0 to 511)");
  const absl::Status long_one = code(p, 64);
  EXPECT_EQ(long_one.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(long_one.message().find("exceed the context of 64 tokens"), std::string::npos)
      << long_one;
  // memory_bytes 0: no sequence fits.
  EXPECT_EQ(code(p, 4).code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(RuntimeTest, MemoryAndQueueLimitsMakeRequestsWaitOrRefuseThem) {
  const std::vector<int32_t> p = Prompt("hello");
  const int64_t tokens = static_cast<int64_t>(p.size()) + 8;
  const uint64_t bytes = model_->SequenceBytes(tokens);
  EXPECT_GT(bytes, 0u);
  // Room for one sequence's state: the second waits for the first to end.
  Runtime one_at_a_time(*model_, *tokenizer_,
                        {.max_sequences = 4, .max_queued = 1, .memory_bytes = bytes});
  Outcome first, second, third;
  std::latch started(1), go(1);
  first.on_piece = [&](size_t n) {
    if (n != 1) return;
    started.count_down();
    go.wait();
  };
  ASSERT_TRUE(one_at_a_time.Submit(Request(p, Greedy(8), &first)).ok());
  started.wait();
  EXPECT_EQ(one_at_a_time.stats().reserved_bytes, bytes);
  ASSERT_TRUE(one_at_a_time.Submit(Request(p, Greedy(8), &second)).ok());
  // first is running, second waits for memory, and the queue (1) is full.
  const absl::Status refused = one_at_a_time.Submit(Request(p, Greedy(8), &third)).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.message(), "1 requests are already waiting");
  go.count_down();
  EXPECT_EQ(first.Wait().tokens, second.Wait().tokens);
  EXPECT_EQ(one_at_a_time.stats().max_step_sequences, 1u);
  EXPECT_EQ(one_at_a_time.stats().reserved_bytes, 0u);
}

TEST_F(RuntimeTest, DeadlinesAndShutdownEndRequestsWithTheirCode) {
  const std::vector<int32_t> p = Prompt("hello");
  Outcome late, held, waiting;
  std::latch go(1);
  held.on_piece = [&](size_t n) {
    if (n == 1) go.wait();
  };
  {
    Runtime runtime(*model_, *tokenizer_, {.max_sequences = 1});
    RuntimeRequest r = Request(p, Greedy(8), &late);
    r.deadline = std::chrono::steady_clock::now();
    ASSERT_TRUE(runtime.Submit(std::move(r)).ok());
    late.finished.wait();
    EXPECT_EQ(late.result.status().code(), absl::StatusCode::kDeadlineExceeded);

    ASSERT_TRUE(runtime.Submit(Request(p, Greedy(1000), &held)).ok());
    ASSERT_TRUE(runtime.Submit(Request(p, Greedy(8), &waiting)).ok());
    go.count_down();
  }  // destroyed with one request running and one queued
  held.finished.wait();
  waiting.finished.wait();
  EXPECT_EQ(held.result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(waiting.result.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(RuntimeTest, BackendFailuresFailTheirRequestsAndTheRuntimeGoesOn) {
  FaultyBackend backend(*model_);
  Runtime runtime(backend, *tokenizer_);
  const std::vector<int32_t> p = Prompt("hello");
  const auto tokens = static_cast<int64_t>(p.size());
  // A sequence the backend cannot start fails alone; the other runs as it runs alone.
  backend.start_limit = tokens + 8;
  Outcome small, big;
  std::latch both_queued(1);
  small.on_piece = [&](size_t n) {
    if (n == 1) both_queued.wait();
  };
  ASSERT_TRUE(runtime.Submit(Request(p, Greedy(8), &small)).ok());
  ASSERT_TRUE(runtime.Submit(Request(p, Greedy(9), &big)).ok());
  both_queued.count_down();
  EXPECT_EQ(small.Wait().tokens, Alone(p, Greedy(8)).tokens);
  big.finished.wait();
  EXPECT_EQ(big.result.status(), absl::ResourceExhaustedError("no device memory left"));
  // A failing step fails the requests in it, and frees them.
  backend.fail_steps = true;
  Outcome failed;
  ASSERT_TRUE(runtime.Submit(Request(p, Greedy(8), &failed)).ok());
  failed.finished.wait();
  EXPECT_EQ(failed.result.status(), absl::InternalError("kernel launch failed"));
  EXPECT_EQ(runtime.stats().reserved_bytes, 0u);
  // Then the backend recovers, and so does service.
  backend.fail_steps = false;
  Outcome after;
  ASSERT_TRUE(runtime.Submit(Request(p, Greedy(8), &after)).ok());
  EXPECT_EQ(after.Wait().tokens, Alone(p, Greedy(8)).tokens);
}

// A classification's prefill kept for the generation that follows (issue #8): the first
// request scores a prompt (the conversation, then a question) and forks its sequence at the
// last chunk edge inside the conversation; the second generates from the fork. Both get the
// bits a fresh prefill gives, so the generation's tokens are those of a plain request.
TEST_F(RuntimeTest, APrefillForkedAndReusedGivesWhatAFreshPrefillGives) {
  FaultyBackend backend(*model_);
  Runtime runtime(backend, *tokenizer_);
  const std::vector<int32_t> chat =
      Prompt("Summarise our plan for the Q3 acquisition of a small bakery chain, in two lines.");
  const size_t fork_at = (chat.size() - 2) / 16 * 16;  // a chunk edge before the last tokens
  ASSERT_GE(fork_at, 16u);
  std::vector<int32_t> question(chat.begin(), chat.begin() + static_cast<std::ptrdiff_t>(fork_at));
  const std::vector<int32_t> ask = Prompt("Is that confidential?");
  question.insert(question.end(), ask.begin(), ask.end());

  // Scoring only: the prompt's logits, no tokens, and the fork.
  Outcome scored;
  std::vector<float> score_logits;
  std::unique_ptr<Sequence> fork;
  RuntimeRequest r = Request(question, Greedy(0), &scored);
  r.forks = {static_cast<int64_t>(fork_at), static_cast<int64_t>(question.size())};
  std::vector<int64_t> forked_at;
  std::unique_ptr<Sequence> end;
  r.on_fork = [&](int64_t at, absl::StatusOr<std::unique_ptr<Sequence>> f) {
    ASSERT_TRUE(f.ok()) << f.status();
    forked_at.push_back(at);
    (at == static_cast<int64_t>(fork_at) ? fork : end) = *std::move(f);
  };
  r.on_prompt_logits = [&](std::span<const float> logits) {
    score_logits.assign(logits.begin(), logits.end());
    return false;
  };
  ASSERT_TRUE(runtime.Submit(std::move(r)).ok());
  ASSERT_TRUE(scored.Wait().tokens.empty());
  ASSERT_TRUE(scored.result.ok()) << scored.result.status();
  EXPECT_EQ(scored.result->finish_reason, "stop");
  SequenceState fresh = model_->NewSequence();
  EXPECT_EQ(score_logits, *model_->Forward(&fresh, question));
  ASSERT_NE(fork, nullptr);
  EXPECT_EQ(fork->position, static_cast<int64_t>(fork_at));
  EXPECT_EQ(forked_at, (std::vector<int64_t>{static_cast<int64_t>(fork_at),
                                             static_cast<int64_t>(question.size())}));
  ASSERT_NE(end, nullptr);  // the whole prompt's sequence: a fork at its end
  EXPECT_EQ(end->position, static_cast<int64_t>(question.size()));

  // The generation starts from the fork: the logits and tokens of a fresh prefill.
  Outcome reused;
  std::vector<float> first_logits;
  r = Request(chat, Greedy(24), &reused);
  r.start = std::move(fork);
  r.on_prompt_logits = [&](std::span<const float> logits) {
    first_logits.assign(logits.begin(), logits.end());
    return true;
  };
  ASSERT_TRUE(runtime.Submit(std::move(r)).ok());
  const GenerateResult want = Alone(chat, Greedy(24));
  EXPECT_EQ(reused.Wait().tokens, want.tokens);
  EXPECT_EQ(reused.result->text, want.text);
  fresh = model_->NewSequence();
  EXPECT_EQ(first_logits, *model_->Forward(&fresh, chat));
  EXPECT_EQ(runtime.stats().reserved_bytes, 0u);

  // A fork the backend cannot make is reported to on_fork; the request goes on.
  backend.fail_fork = true;
  Outcome goes_on;
  absl::Status fork_status;
  r = Request(chat, Greedy(4), &goes_on);
  r.forks = {16};
  r.on_fork = [&](int64_t, absl::StatusOr<std::unique_ptr<Sequence>> f) {
    fork_status = f.status();
  };
  ASSERT_TRUE(runtime.Submit(std::move(r)).ok());
  EXPECT_EQ(goes_on.Wait().tokens, Alone(chat, Greedy(4)).tokens);
  EXPECT_EQ(fork_status, absl::ResourceExhaustedError("no memory for a copy"));
}

TEST_F(RuntimeTest, ReuseRequestsThatCannotWorkAreRefused) {
  Runtime runtime(*model_, *tokenizer_);
  const std::vector<int32_t> p = Prompt("hello");
  Outcome out;
  RuntimeRequest r = Request(p, Greedy(4), &out);
  r.start = *model_->StartSequence(64);
  r.start->position = static_cast<int64_t>(p.size());  // holds the whole prompt already
  EXPECT_EQ(runtime.Submit(std::move(r)).status().code(), absl::StatusCode::kInvalidArgument);
  r = Request(p, Greedy(4), &out);
  r.forks = {static_cast<int64_t>(p.size()) + 1};  // past the prompt
  r.on_fork = [](int64_t, absl::StatusOr<std::unique_ptr<Sequence>>) {};
  EXPECT_EQ(runtime.Submit(std::move(r)).status().code(), absl::StatusCode::kInvalidArgument);
  r = Request(p, Greedy(4), &out);
  r.forks = {4, 4};  // not ascending
  r.on_fork = [](int64_t, absl::StatusOr<std::unique_ptr<Sequence>>) {};
  EXPECT_EQ(runtime.Submit(std::move(r)).status().code(), absl::StatusCode::kInvalidArgument);
  r = Request(p, Greedy(4), &out);
  r.forks = {1};  // no on_fork
  auto refused = runtime.Submit(std::move(r));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("fork 0 at 1"), std::string::npos) << refused.status();
}

}  // namespace
}  // namespace airlock::engine
