// bench_model_stage: the classifier's model stage (classifier/model_stage.h, issue #8) on a
// synthetic model: what the stage adds to a request, and what reusing its prefill saves.
//
//   bench_model_stage [--model DIR] [--runs 3] [--threads 0]
//
// Without --model it writes the `bench` preset (engine/synth.h, as bench_engine_decode) to a
// temporary folder first. For conversations of 128, 512 and 2048 tokens (one user message),
// with the default five questions and with two heads (level, difficulty; the heads method),
// on the CPU kernels:
//   stage ms        Assess, from the call to the verdict (min / median / max over --runs)
//   plain TTFT ms   a plain request (no stage): its whole prompt prefilled, to the first token's
//                   logits
//   reused TTFT ms  the same request started from the prefill the stage kept
//   routed / plain  (stage + reused TTFT) / plain TTFT: the first token of a request assessed
//                   by the model and sent to it, against the same request without the stage
// Goals (issue #8, on an H100 at the real Nano shape): stage p99 <= 25 ms at 512 tokens, and
// time to first token with reuse no more than 5% above a plain request. This CPU build only
// shows where the time goes. Exit status 0; 1 when the model cannot be written or loaded.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "classifier/chat_prompt.h"
#include "classifier/heads.h"
#include "classifier/model_stage.h"
#include "engine/model.h"
#include "engine/prefix_cache.h"
#include "engine/runtime.h"
#include "engine/synth.h"

namespace {

using Clock = std::chrono::steady_clock;
using airlock::classifier::ChatPromptOf;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// A request whose conversation is at least `tokens` tokens.
airlock::v1::ChatRequest RequestOf(const airlock::engine::Tokenizer& tok, size_t tokens) {
  static const char* kWords[] = {"the",    "quarterly", "plan",  "for",  "our",
                                 "harbor", "project",   "needs", "a",    "summary",
                                 "of",     "risks",     "and",   "costs"};
  airlock::v1::ChatRequest r;
  auto* m = r.add_messages();
  m->set_role(airlock::v1::Message::USER);
  std::string text;
  for (size_t i = 0;; ++i) {
    text += kWords[i % 14];
    text += ' ';
    if (i % 16 == 15) {
      m->set_content(text);
      if (tok.Encode(airlock::classifier::RenderConversation(ChatPromptOf(r))).size() >= tokens) {
        return r;
      }
    }
  }
}

// Time from submitting `prompt` (from `start` if set) to its last token's logits.
double Ttft(airlock::engine::Runtime& runtime, const std::vector<int32_t>& prompt,
            std::unique_ptr<airlock::engine::Sequence> start) {
  std::promise<Clock::time_point> logits;
  std::promise<void> done;
  airlock::engine::RuntimeRequest r;
  r.prompt = prompt;
  r.options.max_tokens = 1;
  r.start = std::move(start);
  r.on_prompt_logits = [&](std::span<const float>) {
    logits.set_value(Clock::now());
    return false;
  };
  r.on_done = [&](absl::StatusOr<airlock::engine::GenerateResult>) { done.set_value(); };
  const Clock::time_point t0 = Clock::now();
  if (!runtime.Submit(std::move(r)).ok()) return -1;
  done.get_future().wait();
  return Ms(logits.get_future().get() - t0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  int runs = 3;
  size_t threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") model_dir = argv[i + 1];
    if (a == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
    if (a == "--threads") threads = static_cast<size_t>(std::atoi(argv[i + 1]));
  }
  std::string temp;
  if (model_dir.empty()) {
    temp = (std::filesystem::temp_directory_path() / ("bench_stage_" + std::to_string(::getpid())))
               .string();
    std::printf("writing the bench model (random weights) to %s ...\n", temp.c_str());
    if (!airlock::engine::SynthesizeModel(*airlock::engine::PresetConfig("bench"), temp, {}).ok()) {
      return 1;
    }
    model_dir = temp;
  }
  auto model = airlock::engine::Model::Load(model_dir, {.threads = threads});
  auto tok = airlock::engine::Tokenizer::Load(model_dir + "/tokenizer.json");
  if (!model.ok() || !tok.ok()) {
    std::fprintf(stderr, "cannot load %s\n", model_dir.c_str());
    return 1;
  }
  airlock::engine::Runtime runtime(**model, **tok);
  airlock::engine::PrefixCache cache(4, std::chrono::minutes(10));
  auto questions = airlock::classifier::ModelStage::Create(
      &runtime, &cache, airlock::classifier::DefaultModelQuestions());
  // Heads of the right shape (their weights do not matter to the time): level and difficulty
  // on the middle layer.
  const auto hidden = static_cast<size_t>((*model)->config().hidden_size);
  airlock::classifier::Heads heads{static_cast<int>((*model)->config().layers.size() / 2), {}};
  for (const auto& [q, classes] :
       {std::pair<std::string, std::vector<std::string>>{
            "level", {"public", "internal", "confidential", "restricted"}},
        {"difficulty", {"easy", "hard"}}}) {
    heads.heads.push_back({q, classes, std::vector<float>(hidden, 0.0f),
                           std::vector<float>(hidden, 1.0f),
                           std::vector<float>(classes.size() * hidden, 0.001f),
                           std::vector<float>(classes.size(), 0.0f)});
  }
  auto with_heads = airlock::classifier::ModelStage::Create(&runtime, &cache, heads);
  if (!questions.ok() || !with_heads.ok()) return 1;
  size_t turns = 0;
  for (const auto& t : (*questions)->question_turns()) turns += t.size();
  std::printf(
      "model: %s (%s), %zu questions (%zu tokens in all after the conversation) or 2 heads on "
      "layer %d, %d runs\n\n",
      model_dir.c_str(), (*model)->Describe().c_str(), (*questions)->questions().size(), turns,
      heads.layer, runs);
  std::printf("%-10s %7s %28s %15s %15s %14s\n", "method", "tokens", "stage ms (min/median/max)",
              "plain TTFT ms", "reused TTFT ms", "routed/plain");
  for (const auto& [method, stage] :
       {std::pair<const char*, const airlock::classifier::ModelStage*>{"questions",
                                                                       questions->get()},
        {"heads", with_heads->get()}}) {
    for (const size_t tokens : {128, 512, 2048}) {
      const airlock::v1::ChatRequest request = RequestOf(**tok, tokens);
      const std::vector<int32_t> prompt =
          (*tok)->Encode(airlock::classifier::RenderForGeneration(ChatPromptOf(request)));
      std::vector<double> stage_ms, plain, reused;
      for (int r = 0; r < runs; ++r) {
        plain.push_back(Ttft(runtime, prompt, nullptr));
        std::promise<bool> verdict;
        const Clock::time_point t0 = Clock::now();
        stage->Assess(request, Clock::time_point::max(), /*keep_prefill=*/true,
                      [&](absl::StatusOr<airlock::classifier::ModelVerdict> v) {
                        verdict.set_value(v.ok() && v->reused);
                      });
        const bool kept = verdict.get_future().get();
        stage_ms.push_back(Ms(Clock::now() - t0));
        std::unique_ptr<airlock::engine::Sequence> start = cache.Take(prompt);
        if (!kept || start == nullptr) std::fprintf(stderr, "the stage kept no prefill\n");
        reused.push_back(Ttft(runtime, prompt, std::move(start)));
      }
      std::sort(stage_ms.begin(), stage_ms.end());
      std::sort(plain.begin(), plain.end());
      std::sort(reused.begin(), reused.end());
      const auto median = [](const std::vector<double>& v) { return v[v.size() / 2]; };
      char stage_col[64];
      std::snprintf(stage_col, sizeof stage_col, "%.0f / %.0f / %.0f", stage_ms.front(),
                    median(stage_ms), stage_ms.back());
      std::printf("%-10s %7zu %28s %15.0f %15.0f %14.2f\n", method, prompt.size(), stage_col,
                  median(plain), median(reused),
                  (median(stage_ms) + median(reused)) / median(plain));
    }
  }
  if (!temp.empty()) std::filesystem::remove_all(temp);
  return 0;
}
