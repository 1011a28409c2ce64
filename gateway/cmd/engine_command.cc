#include "gateway/cmd/engine_command.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "engine/bench.h"
#include "engine/chat_template.h"
#include "engine/cpu_kernels.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "gateway/cmd/classify_command.h"
#include "kernels/cuda_model.h"
#include "nlohmann/json.hpp"

namespace airlock::gateway::cli {
namespace {

struct LogitsArgs {
  std::string dir;
  std::vector<int32_t> ids;
  std::string text;  // encoded with DIR/tokenizer.json instead of --ids
  bool all = false;
  std::string npy;
  size_t top = 0;
  std::string device = "cpu";
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
  auto model = kernels::LoadBackend(a.dir, a.device);
  if (!model.ok()) {
    std::fprintf(stderr, "airlock engine logits: %s\n",
                 std::string(model.status().message()).c_str());
    return 2;
  }
  std::vector<int32_t> ids = a.ids;
  if (!a.text.empty()) {
    auto tok = engine::Tokenizer::Load(a.dir + "/tokenizer.json");
    if (!tok.ok()) {
      std::fprintf(stderr, "airlock engine logits: %s\n",
                   std::string(tok.status().message()).c_str());
      return 2;
    }
    ids = (*tok)->Encode(a.text);
  }
  if (ids.empty()) {
    std::fprintf(stderr, "airlock engine logits: give --ids or a non-empty --text\n");
    return 2;
  }
  auto seq = (*model)->StartSequence(static_cast<int64_t>(ids.size()));
  if (!seq.ok()) {
    std::fprintf(stderr, "airlock engine logits: %s\n",
                 std::string(seq.status().message()).c_str());
    return 2;
  }
  const engine::StepItem item{seq->get(), ids,
                              a.all ? engine::Logits::kAll : engine::Logits::kLast};
  auto logits = (*model)->Step({&item, 1});
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
    for (size_t i = 0; i < ids.size(); ++i) out += (i > 0 ? ", " : "") + std::to_string(ids[i]);
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

struct TokenizeArgs {
  std::string tokenizer;
  std::string file = "-";
  bool jsonl = false;
};

int Tokenize(const TokenizeArgs& a) {
  auto tok = engine::Tokenizer::Load(a.tokenizer);
  if (!tok.ok()) {
    std::fprintf(stderr, "airlock engine tokenize: %s\n",
                 std::string(tok.status().message()).c_str());
    return 2;
  }
  auto bytes = ReadClassifyInput(a.file);
  if (!bytes.ok()) {
    std::fprintf(stderr, "airlock engine tokenize: %s\n",
                 std::string(bytes.status().message()).c_str());
    return 2;
  }
  const std::string& input = *bytes;
  std::string out;
  if (!a.jsonl) {
    const std::vector<int32_t> ids = (*tok)->Encode(input);
    for (size_t i = 0; i < ids.size(); ++i) out += (i > 0 ? " " : "") + std::to_string(ids[i]);
    out += "\n";
  } else {
    std::istringstream lines(input);
    std::string line;
    size_t n = 0;
    while (std::getline(lines, line)) {
      ++n;
      if (line.empty()) continue;
      nlohmann::json in;
      try {
        in = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error&) {
        std::fprintf(stderr, "airlock engine tokenize: line %zu: not JSON\n", n);
        return 2;
      }
      if (!in.is_object() || !in.contains("b64") || !in["b64"].is_string()) {
        std::fprintf(stderr, "airlock engine tokenize: line %zu: expected {\"b64\": TEXT}\n", n);
        return 2;
      }
      std::string text;
      if (!absl::Base64Unescape(in["b64"].get<std::string>(), &text)) {
        std::fprintf(stderr, "airlock engine tokenize: line %zu: b64 is not base64\n", n);
        return 2;
      }
      const std::vector<int32_t> ids = (*tok)->Encode(text);
      nlohmann::json o = {{"ids", ids}, {"decoded_b64", absl::Base64Escape((*tok)->Decode(ids))}};
      out += o.dump() + "\n";
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

struct BenchArgs {
  std::string dir;
  int tokens = 32;
  int prompt = 128;
  size_t threads = 0;
  size_t batch = 1;
};

int Bench(const BenchArgs& a) {
  const size_t threads =
      a.threads > 0 ? a.threads : std::max(1u, std::thread::hardware_concurrency());
  auto model = engine::Model::Load(a.dir, {.reference = false, .threads = threads});
  if (!model.ok()) {
    std::fprintf(stderr, "airlock engine bench: %s\n",
                 std::string(model.status().message()).c_str());
    return 2;
  }
  const double bandwidth = engine::MeasureBandwidthGBs(threads);
  const engine::EngineSpeed s = engine::MeasureSpeed(**model, a.tokens, a.prompt, a.batch);
  const uint64_t bytes = engine::DecodeBytesPerToken(**model);
  const double roof = bandwidth * 1e9 / static_cast<double>(bytes);
  std::printf("threads %zu, kernels %s, memory bandwidth %.1f GB/s\n", threads,
              engine::CpuKernelName(), bandwidth);
  std::printf("decode:  %.2f tokens/s (batch %zu, %d steps)\n", s.decode_tokens_per_s, a.batch,
              a.tokens);
  std::printf("prefill: %.2f tokens/s (%d-token prompt)\n", s.prefill_tokens_per_s, a.prompt);
  std::printf("roofline: %.1f tokens/s (%.3g weight bytes per batch-1 token)", roof,
              static_cast<double>(bytes));
  if (a.batch == 1) std::printf("; decode is %.0f%% of it", 100.0 * s.decode_tokens_per_s / roof);
  std::printf("\n");
  return 0;
}

struct RunArgs {
  std::string dir;
  std::string prompt;
  std::string system;
  int32_t max_tokens = 128;
  float temperature = 0.6f;
  float top_p = 0.95f;
  int32_t top_k = 0;
  uint64_t seed = 0;
  bool no_thinking = false;
};

int Run(const RunArgs& a) {
  auto fail = [](const std::string& m) {
    std::fprintf(stderr, "airlock engine run: %s\n", m.c_str());
    return 2;
  };
  auto model = engine::Model::Load(a.dir);
  if (!model.ok()) return fail(std::string(model.status().message()));
  auto tok = engine::Tokenizer::Load(a.dir + "/tokenizer.json");
  if (!tok.ok()) return fail(std::string(tok.status().message()));
  std::string prompt = a.prompt;
  if (prompt.empty()) {
    auto in = ReadClassifyInput("-");
    if (!in.ok()) return fail(std::string(in.status().message()));
    prompt = *in;
  }
  std::vector<engine::ChatMessage> messages;
  if (!a.system.empty()) messages.push_back({"system", a.system, "", {}});
  messages.push_back({"user", prompt, "", {}});
  engine::ChatOptions chat;
  chat.enable_thinking = !a.no_thinking;
  const std::vector<int32_t> ids = (*tok)->Encode(engine::RenderNemotron3Chat(messages, {}, chat));
  engine::SequenceState seq = (*model)->NewSequence();
  const auto t0 = std::chrono::steady_clock::now();
  auto logits = (*model)->Forward(&seq, ids);
  if (!logits.ok()) return fail(std::string(logits.status().message()));
  const auto t1 = std::chrono::steady_clock::now();
  engine::GenerateOptions o;
  o.max_tokens = a.max_tokens;
  o.sampling = {.temperature = a.temperature, .top_k = a.top_k, .top_p = a.top_p, .seed = a.seed};
  for (const char* stop : {"<|im_end|>", "</s>"}) {
    if (auto id = (*tok)->TokenId(stop)) o.stop_ids.push_back(*id);
  }
  auto r = engine::Generate(**model, **tok, &seq, *std::move(logits), o, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  if (!r.ok()) return fail(std::string(r.status().message()));
  const auto t2 = std::chrono::steady_clock::now();
  const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
  const double decode_s = std::chrono::duration<double>(t2 - t1).count();
  std::fprintf(stderr,
               "\n[%zu prompt tokens in %.2f s; %zu generated in %.2f s (%.1f tokens/s); finish: "
               "%s]\n",
               ids.size(), prefill_s, r->tokens.size(), decode_s,
               decode_s > 0 ? static_cast<double>(r->tokens.size()) / decode_s : 0.0,
               r->finish_reason.c_str());
  return 0;
}

}  // namespace

void AddEngineCommand(CLI::App& app, int* exit_code) {
  CLI::App* group = app.add_subcommand("engine", "run the inference engine from the terminal");
  group->require_subcommand(1);
  auto logits = std::make_shared<LogitsArgs>();
  CLI::App* l = group->add_subcommand("logits", "dump the logits of a prompt (token ids)");
  l->add_option("dir", logits->dir, "model folder")->required();
  l->add_option("--ids", logits->ids, "token ids, comma-separated")->delimiter(',');
  l->add_option("--text", logits->text,
                "a text, encoded with DIR/tokenizer.json (instead of --ids)");
  l->add_flag("--all", logits->all, "every token's logits, not only the last one's");
  l->add_option("--npy", logits->npy, "write a float32 .npy file instead of JSON");
  l->add_option("--top", logits->top, "print each row's K largest logits as ID:VALUE");
  l->add_option("--device", logits->device, "cpu (default), cuda or auto")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  l->callback([logits, exit_code] { *exit_code = Logits(*logits); });

  auto run = std::make_shared<RunArgs>();
  CLI::App* r = group->add_subcommand("run", "chat with a model folder from the terminal");
  r->add_option("dir", run->dir, "model folder (config.json, tokenizer.json, weights)")->required();
  r->add_option("--prompt,-p", run->prompt, "the user message (default: stdin)");
  r->add_option("--system", run->system, "a system message");
  r->add_option("--max-tokens", run->max_tokens, "at most this many tokens (default 128)");
  r->add_option("--temperature", run->temperature, "0: greedy (default 0.6)");
  r->add_option("--top-p", run->top_p, "nucleus sampling (default 0.95)");
  r->add_option("--top-k", run->top_k, "0: off (default)");
  r->add_option("--seed", run->seed, "sampling seed (default 0)");
  r->add_flag("--no-thinking", run->no_thinking, "start the answer with <think></think>");
  r->callback([run, exit_code] { *exit_code = Run(*run); });

  auto bench = std::make_shared<BenchArgs>();
  CLI::App* b =
      group->add_subcommand("bench", "decode and prefill speed against the memory roofline");
  b->add_option("dir", bench->dir, "model folder")->required();
  b->add_option("--tokens", bench->tokens, "decode steps (default 32)");
  b->add_option("--prompt", bench->prompt, "prefill prompt length (default 128)");
  b->add_option("--threads", bench->threads, "threads (default: all cores)");
  b->add_option("--batch", bench->batch, "sequences decoding together (default 1)")
      ->check(CLI::Range(1, 4096));
  b->callback([bench, exit_code] { *exit_code = Bench(*bench); });

  auto tokenize = std::make_shared<TokenizeArgs>();
  CLI::App* t = group->add_subcommand("tokenize", "token ids of a text with a tokenizer.json");
  t->add_option("tokenizer", tokenize->tokenizer, "tokenizer.json")->required();
  t->add_option("file", tokenize->file, "text file; '-' or none: stdin");
  t->add_flag("--jsonl", tokenize->jsonl,
              "input lines {\"b64\": TEXT}; output lines {\"ids\": [...], \"decoded_b64\": ...}");
  t->callback([tokenize, exit_code] { *exit_code = Tokenize(*tokenize); });
}

}  // namespace airlock::gateway::cli
