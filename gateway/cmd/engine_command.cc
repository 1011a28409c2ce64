#include "gateway/cmd/engine_command.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "engine/model.h"

namespace airlock::gateway::cli {
namespace {

struct LogitsArgs {
  std::string dir;
  std::vector<int32_t> ids;
  bool all = false;
  std::string npy;
  size_t top = 0;
};

std::string Shortest(float v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "0";
}

bool WriteNpy(const std::string& path, const std::vector<float>& data, size_t rows, size_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');  // 10 + header + '\n' is 64-aligned
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()),
            static_cast<std::streamsize>(data.size() * sizeof(float)));
  return static_cast<bool>(out.flush());
}

int Logits(const LogitsArgs& a) {
  auto model = engine::Model::Load(a.dir);
  if (!model.ok()) {
    std::fprintf(stderr, "airlock engine logits: %s\n",
                 std::string(model.status().message()).c_str());
    return 2;
  }
  if (a.ids.empty()) {
    std::fprintf(stderr, "airlock engine logits: --ids: give at least one token id\n");
    return 2;
  }
  engine::SequenceState seq = (*model)->NewSequence();
  auto logits = (*model)->Forward(&seq, a.ids, a.all);
  if (!logits.ok()) {
    std::fprintf(stderr, "airlock engine logits: %s\n",
                 std::string(logits.status().message()).c_str());
    return 2;
  }
  const size_t vocab = static_cast<size_t>((*model)->config().vocab_size);
  const size_t rows = logits->size() / vocab;
  if (!a.npy.empty()) {
    if (!WriteNpy(a.npy, *logits, rows, vocab)) {
      std::fprintf(stderr, "airlock engine logits: cannot write %s\n", a.npy.c_str());
      return 2;
    }
    std::printf("%s: %zu x %zu float32\n", a.npy.c_str(), rows, vocab);
    return 0;
  }
  std::string out;
  if (a.top > 0) {
    for (size_t r = 0; r < rows; ++r) {
      const float* row = logits->data() + r * vocab;
      std::vector<size_t> order(vocab);
      std::iota(order.begin(), order.end(), 0);
      const size_t k = std::min(a.top, vocab);
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                        [&](size_t x, size_t y) { return row[x] > row[y]; });
      for (size_t j = 0; j < k; ++j) {
        out += (j > 0 ? " " : "") + std::to_string(order[j]) + ":" + Shortest(row[order[j]]);
      }
      out += "\n";
    }
  } else {
    out = "{\"ids\": [";
    for (size_t i = 0; i < a.ids.size(); ++i) out += (i > 0 ? ", " : "") + std::to_string(a.ids[i]);
    out += "], \"logits\": [";
    for (size_t r = 0; r < rows; ++r) {
      out += r > 0 ? ", [" : "[";
      for (size_t v = 0; v < vocab; ++v)
        out += (v > 0 ? ", " : "") + Shortest((*logits)[r * vocab + v]);
      out += "]";
    }
    out += "]}\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

void AddEngineCommand(CLI::App& app, int* exit_code) {
  CLI::App* group = app.add_subcommand("engine", "run the inference engine from the terminal");
  group->require_subcommand(1);
  auto logits = std::make_shared<LogitsArgs>();
  CLI::App* l = group->add_subcommand("logits", "dump the logits of a prompt (token ids)");
  l->add_option("dir", logits->dir, "model folder")->required();
  l->add_option("--ids", logits->ids, "token ids, comma-separated")->delimiter(',')->required();
  l->add_flag("--all", logits->all, "every token's logits, not only the last one's");
  l->add_option("--npy", logits->npy, "write a float32 .npy file instead of JSON");
  l->add_option("--top", logits->top, "print each row's K largest logits as ID:VALUE");
  l->callback([logits, exit_code] { *exit_code = Logits(*logits); });
}

}  // namespace airlock::gateway::cli
