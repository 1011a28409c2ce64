// `airlock model`: write and inspect model folders (engine/).
//
//   airlock model synth DIR [--preset tiny|bench|nano] [--config CONFIG.json] [--seed N]
//                           [--dtype bf16|f16|f32] [--shard-mb N] [--fused-experts]
//   airlock model inspect DIR
//
// synth writes a model with random weights (engine/synth.h) in the Hugging Face layout:
// config.json and model.safetensors (or, with --shard-mb, shards of at most N MiB and
// model.safetensors.index.json). The configuration is a preset (default tiny) or a config.json
// of any Nemotron-H shape. Its weights are random: what such a model writes is meaningless. Prints
// "DIR: PATTERN, P parameters, B bytes" and exits 0; 2 on a bad option or config (the message
// on stderr), 1 when writing fails.
//
// inspect loads DIR's config.json and weights and binds every tensor to the config
// (engine/weights.h): on success it prints the layout, the parameter count, the bytes by dtype
// and the files, and exits 0; a bad config or a missing, misshapen or mistyped tensor is exit
// status 2 with the message naming the key or tensor.
#pragma once

#include "CLI/CLI.hpp"

namespace airlock::gateway::cli {

void AddModelCommand(CLI::App& app, int* exit_code);

}  // namespace airlock::gateway::cli
