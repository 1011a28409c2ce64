#include "gateway/cmd/model_command.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "engine/model_config.h"
#include "engine/safetensors.h"
#include "engine/synth.h"
#include "engine/weights.h"

namespace airlock::gateway::cli {
namespace {

struct SynthArgs {
  std::string dir;
  std::string preset = "tiny";
  std::string config;
  uint64_t seed = 0;
  std::string dtype = "bf16";
  uint64_t shard_mb = 0;
  bool fused_experts = false;
};

int Fail(const char* command, const std::string& message, int code) {
  std::fprintf(stderr, "airlock model %s: %s\n", command, message.c_str());
  return code;
}

uint64_t Parameters(const engine::TensorStore& store) {
  uint64_t n = 0;
  for (const std::string& name : store.names()) {
    n += static_cast<uint64_t>(store.Find(name)->elements());
  }
  return n;
}

int Synth(const SynthArgs& a) {
  auto config =
      a.config.empty() ? engine::PresetConfig(a.preset) : engine::LoadModelConfig(a.config);
  if (!config.ok()) return Fail("synth", std::string(config.status().message()), 2);
  engine::SynthOptions o;
  o.seed = a.seed;
  o.dtype = a.dtype == "f32"   ? engine::DType::kF32
            : a.dtype == "f16" ? engine::DType::kF16
                               : engine::DType::kBF16;
  o.shard_bytes = a.shard_mb << 20;
  o.fused_experts = a.fused_experts;
  if (absl::Status s = engine::SynthesizeModel(*config, a.dir, o); !s.ok()) {
    return Fail("synth", std::string(s.message()), 1);
  }
  auto store = engine::TensorStore::Open(a.dir);
  if (!store.ok()) return Fail("synth", std::string(store.status().message()), 1);
  std::printf("%s: %s, %llu parameters, %llu bytes (random weights)\n", a.dir.c_str(),
              config->pattern().c_str(), static_cast<unsigned long long>(Parameters(**store)),
              static_cast<unsigned long long>((*store)->total_bytes()));
  return 0;
}

int Inspect(const std::string& dir) {
  auto config = engine::LoadModelConfig((std::filesystem::path(dir) / "config.json").string());
  if (!config.ok()) return Fail("inspect", std::string(config.status().message()), 2);
  auto store = engine::TensorStore::Open(dir);
  if (!store.ok()) return Fail("inspect", std::string(store.status().message()), 2);
  auto weights = engine::BindWeights(*config, **store);
  if (!weights.ok()) return Fail("inspect", std::string(weights.status().message()), 2);
  std::map<std::string, uint64_t> by_dtype;
  std::set<std::string> files;
  for (const std::string& name : (*store)->names()) {
    const engine::Tensor* t = (*store)->Find(name);
    by_dtype[t->dtype_name] += t->bytes;
    files.insert(t->file);
  }
  std::map<char, int> counts;
  for (engine::BlockType b : config->layers) ++counts[engine::BlockLetter(b)];
  std::printf("layout: %s (%zu layers: %d mamba, %d attention, %d moe, %d mlp)\n",
              config->pattern().c_str(), config->layers.size(), counts['M'], counts['*'],
              counts['E'], counts['-']);
  std::printf("hidden %lld, vocab %lld, tensor prefix %s\n",
              static_cast<long long>(config->hidden_size),
              static_cast<long long>(config->vocab_size), weights->prefix.c_str());
  std::printf("parameters: %llu\n", static_cast<unsigned long long>(Parameters(**store)));
  for (const auto& [dtype, bytes] : by_dtype) {
    std::printf("bytes %s: %llu\n", dtype.c_str(), static_cast<unsigned long long>(bytes));
  }
  for (const std::string& f : files) std::printf("file: %s\n", f.c_str());
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

void AddModelCommand(CLI::App& app, int* exit_code) {
  CLI::App* group = app.add_subcommand("model", "write and inspect model folders");
  group->require_subcommand(1);

  auto synth = std::make_shared<SynthArgs>();
  CLI::App* s = group->add_subcommand(
      "synth", "write a model with random weights in the real format (config.json, safetensors)");
  s->add_option("dir", synth->dir, "output folder")->required();
  s->add_option("--preset", synth->preset, "tiny (default), bench or nano")
      ->check(CLI::IsMember({"tiny", "bench", "nano"}));
  s->add_option("--config", synth->config, "a config.json to use instead of a preset");
  s->add_option("--seed", synth->seed, "random seed (default 0)");
  s->add_option("--dtype", synth->dtype, "bf16 (default), f16 or f32")
      ->check(CLI::IsMember({"bf16", "f16", "f32"}));
  s->add_option("--shard-mb", synth->shard_mb,
                "shards of at most N MiB with an index (0: one file)");
  s->add_flag("--fused-experts", synth->fused_experts, "write experts as fused 3-D tensors");
  s->callback([synth, exit_code] { *exit_code = Synth(*synth); });

  auto dir = std::make_shared<std::string>();
  CLI::App* i = group->add_subcommand("inspect", "load a model folder and check every tensor");
  i->add_option("dir", *dir, "model folder")->required();
  i->callback([dir, exit_code] { *exit_code = Inspect(*dir); });
}

}  // namespace airlock::gateway::cli
