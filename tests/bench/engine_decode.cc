// bench_engine_decode: the engine's decode and prefill speed on a synthetic model, against this
// machine's memory bandwidth measured in the same run.
//
//   bench_engine_decode [--model DIR] [--tokens 32] [--prompt 512] [--threads 0]
//
// Without --model it writes the `bench` preset (engine/synth.h: hidden 2048, 16 layers of the
// real pattern, 32 experts top-6, BF16, about 1.3 GB) to a temporary folder first. Reports, for
// the CPU kernels (engine/cpu_kernels.h) on --threads threads (0: all cores) and for the plain
// reference path:
//   batch           sequences decoding together (Model::Step: one pass over the weights)
//   decode tok/s    greedy decode after a 16-token prompt, --tokens steps, all sequences' tokens
//   prefill tok/s   a --prompt-token prompt in one step (batch-1 rows)
//   bytes/token     the weight bytes one batch-1 decode step reads: every tensor but the
//                   embeddings (one row) and the unselected experts (num_experts_per_tok of
//                   n_routed_experts per MoE layer)
//   roofline tok/s  bandwidth / bytes per token; the batch-1 decode as a fraction of it
// Bandwidth: the best of 5 multi-threaded passes summing a 1 GiB buffer. Goals (issue #6):
// batch-1 decode >= 60% of the roofline. Exit status 0; 1 when the model cannot be written or
// loaded.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/bench.h"
#include "engine/cpu_kernels.h"
#include "engine/model.h"
#include "engine/synth.h"

using airlock::engine::Model;

int main(int argc, char** argv) {
  std::string model_dir;
  int tokens = 32, prompt = 512;
  size_t threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") model_dir = argv[i + 1];
    if (a == "--tokens") tokens = std::atoi(argv[i + 1]);
    if (a == "--prompt") prompt = std::atoi(argv[i + 1]);
    if (a == "--threads") threads = static_cast<size_t>(std::atoi(argv[i + 1]));
  }
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  std::string temp;
  if (model_dir.empty()) {
    temp = (std::filesystem::temp_directory_path() / ("bench_engine_" + std::to_string(::getpid())))
               .string();
    std::printf("writing the bench model (random weights) to %s ...\n", temp.c_str());
    if (!airlock::engine::SynthesizeModel(*airlock::engine::PresetConfig("bench"), temp, {}).ok()) {
      return 1;
    }
    model_dir = temp;
  }
  const double bandwidth = airlock::engine::MeasureBandwidthGBs(threads);
  std::printf("memory bandwidth: %.1f GB/s (%zu threads, read)\n", bandwidth, threads);
  std::printf("kernels: %s\n\n", airlock::engine::CpuKernelName());
  std::printf("%-20s %6s %8s %12s %13s %12s %14s %9s\n", "path", "batch", "threads", "decode tok/s",
              "prefill tok/s", "bytes/token", "roofline tok/s", "of roof");
  int status = 0;
  for (const bool reference : {false, true}) {
    auto m = Model::Load(model_dir, {.reference = reference, .threads = threads});
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", std::string(m.status().message()).c_str());
      status = 1;
      break;
    }
    const uint64_t bytes = airlock::engine::DecodeBytesPerToken(**m);
    const double roof = bandwidth * 1e9 / static_cast<double>(bytes);
    for (const size_t batch : reference ? std::vector<size_t>{1} : std::vector<size_t>{1, 4, 16}) {
      const int steps = reference ? std::max(2, tokens / 8) : tokens;
      const int prompt_tokens = batch > 1 ? 0 : reference ? std::max(8, prompt / 32) : prompt;
      const airlock::engine::EngineSpeed s =
          airlock::engine::MeasureSpeed(**m, steps, prompt_tokens, batch);
      char prefill[32] = "-", of_roof[32] = "-";
      if (batch == 1) {
        std::snprintf(prefill, sizeof prefill, "%.2f", s.prefill_tokens_per_s);
        std::snprintf(of_roof, sizeof of_roof, "%.0f%%", 100.0 * s.decode_tokens_per_s / roof);
      }
      std::printf("%-20s %6zu %8zu %12.2f %13s %12.3g %14.1f %9s\n",
                  reference ? "reference (scalar)" : "cpu kernels", batch,
                  reference ? size_t{1} : threads, s.decode_tokens_per_s, prefill,
                  static_cast<double>(bytes), roof, of_roof);
    }
  }
  std::printf("\ngoal: batch-1 decode >= 60%% of the roofline (cpu kernels row)\n");
  if (!temp.empty()) std::filesystem::remove_all(temp);
  return status;
}
