#include "gateway/cmd/classifier_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "classifier/heads.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "nlohmann/json.hpp"

namespace airlock::gateway::cli {
namespace {

struct Args {
  std::string model, data, question, classes, out, heads;
  int layer = -1;
  double holdout = 0.2;
  uint64_t seed = 1;
  int iterations = 500;
};

struct Error {
  std::string message;
  int code;
};

std::vector<std::string> ClassesFor(const Args& a) {
  if (!a.classes.empty()) return absl::StrSplit(a.classes, ',');
  if (a.question == "level") return {"public", "internal", "confidential", "restricted"};
  if (a.question == "difficulty") return {"easy", "hard"};
  return {"no", "yes"};
}

// Every line's pooled hidden state (n x hidden) and label index.
void Featurize(const Args& a, const engine::Model& model, const engine::Tokenizer& tok,
               const std::vector<std::string>& classes, int layer, std::vector<float>* features,
               std::vector<int>* labels) {
  std::ifstream in(a.data);
  if (!in) throw Error{absl::StrCat(a.data, ": cannot read"), 2};
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = absl::StrCat(a.data, ":", n);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error{absl::StrCat(where, ": ", e.what()), 2};
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string() || !j.contains("label") ||
        !j["label"].is_string()) {
      throw Error{absl::StrCat(where, ": expected {\"text\": ..., \"label\": ...}"), 2};
    }
    const std::string label = j["label"];
    const auto it = std::find(classes.begin(), classes.end(), label);
    if (it == classes.end()) {
      throw Error{absl::StrCat(where, ": label '", label, "' is not one of the classes (",
                               absl::StrJoin(classes, ", "), ")"),
                  2};
    }
    v1::ChatRequest r;
    v1::Message* m = r.add_messages();
    m->set_role(v1::Message::USER);
    m->set_content(j["text"].get<std::string>());
    absl::StatusOr<std::vector<float>> h = classifier::PooledHidden(model, tok, r, layer);
    if (!h.ok()) throw Error{absl::StrCat(where, ": ", h.status().message()), 1};
    features->insert(features->end(), h->begin(), h->end());
    labels->push_back(static_cast<int>(it - classes.begin()));
  }
  if (labels->empty()) throw Error{absl::StrCat(a.data, ": no examples"), 2};
}

struct Loaded {
  std::unique_ptr<engine::Model> model;
  std::unique_ptr<engine::Tokenizer> tokenizer;
};

Loaded Load(const std::string& dir) {
  auto model = engine::Model::Load(dir);
  if (!model.ok()) throw Error{std::string(model.status().message()), 2};
  auto tok = engine::Tokenizer::Load((std::filesystem::path(dir) / "tokenizer.json").string());
  if (!tok.ok()) throw Error{std::string(tok.status().message()), 2};
  return {*std::move(model), *std::move(tok)};
}

std::string HeadsPath(const Args& a, const std::string& given) {
  return given.empty() ? (std::filesystem::path(a.model) / "airlock_heads.json").string() : given;
}

int Train(const Args& a) {
  const Loaded m = Load(a.model);
  const int layers = static_cast<int>(m.model->config().layers.size());
  const int layer = a.layer >= 0 ? a.layer : layers / 2;
  if (layer >= layers) {
    throw Error{absl::StrCat("--layer ", layer, ": the model has layers 0 to ", layers - 1), 2};
  }
  const std::vector<std::string> classes = ClassesFor(a);
  std::vector<float> features;
  std::vector<int> labels;
  Featurize(a, *m.model, *m.tokenizer, classes, layer, &features, &labels);
  const size_t dim = static_cast<size_t>(m.model->config().hidden_size);
  // The held-out split: a Fisher-Yates shuffle driven by splitmix64 from the seed.
  std::vector<size_t> order(labels.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  uint64_t state = a.seed;
  for (size_t i = order.size(); i > 1; --i) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    std::swap(order[i - 1], order[(z ^ (z >> 31)) % i]);
  }
  const auto held = static_cast<size_t>(a.holdout * static_cast<double>(order.size()));
  std::vector<float> train_x, test_x;
  std::vector<int> train_y, test_y;
  for (size_t r = 0; r < order.size(); ++r) {
    const size_t i = order[r];
    std::vector<float>& x = r < held ? test_x : train_x;
    x.insert(x.end(), features.begin() + static_cast<std::ptrdiff_t>(i * dim),
             features.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
    (r < held ? test_y : train_y).push_back(labels[i]);
  }
  classifier::Head head = classifier::TrainHead(a.question, classes, train_x, dim, train_y,
                                                {.iterations = a.iterations});
  const std::string path = HeadsPath(a, a.out);
  classifier::Heads heads{.layer = layer, .heads = {}};
  if (std::filesystem::exists(path)) {
    absl::StatusOr<classifier::Heads> old = classifier::LoadHeads(path);
    if (!old.ok()) throw Error{std::string(old.status().message()), 2};
    if (old->layer != layer) {
      throw Error{absl::StrCat(path, ": its heads read layer ", old->layer, ", not ", layer), 2};
    }
    for (classifier::Head& h : old->heads) {
      if (h.question != a.question) heads.heads.push_back(std::move(h));
    }
  }
  heads.heads.push_back(head);
  if (absl::Status s = classifier::SaveHeads(heads, path); !s.ok()) {
    throw Error{std::string(s.message()), 1};
  }
  std::printf("%s: head '%s' on layer %d, %zu examples to train, %zu held out (seed %llu)\n\n",
              path.c_str(), a.question.c_str(), layer, train_y.size(), test_y.size(),
              static_cast<unsigned long long>(a.seed));
  if (!test_y.empty()) {
    std::printf("held out: %s",
                FormatReport(head, classifier::Evaluate(head, test_x, dim, test_y)).c_str());
  }
  return 0;
}

int Eval(const Args& a) {
  const std::string path = HeadsPath(a, a.heads);
  absl::StatusOr<classifier::Heads> heads = classifier::LoadHeads(path);
  if (!heads.ok()) throw Error{std::string(heads.status().message()), 2};
  const classifier::Head* head = heads->Find(a.question);
  if (head == nullptr) throw Error{absl::StrCat(path, ": no head for '", a.question, "'"), 2};
  const Loaded m = Load(a.model);
  if (head->features() != static_cast<size_t>(m.model->config().hidden_size)) {
    throw Error{
        absl::StrCat(path, ": the head reads ", head->features(),
                     " features; the model's hidden size is ", m.model->config().hidden_size),
        2};
  }
  std::vector<float> features;
  std::vector<int> labels;
  Featurize(a, *m.model, *m.tokenizer, head->classes, heads->layer, &features, &labels);
  std::printf(
      "%s",
      FormatReport(*head, classifier::Evaluate(*head, features, head->features(), labels)).c_str());
  return 0;
}

int Run(const char* command, int (*fn)(const Args&), const Args& a) {
  try {
    return fn(a);
  } catch (const Error& e) {
    std::fprintf(stderr, "airlock classifier %s: %s\n", command, e.message.c_str());
    return e.code;
  }
}

}  // namespace

void AddClassifierCommand(CLI::App& app, int* exit_code) {
  CLI::App* group = app.add_subcommand("classifier", "train and measure the model stage's heads");
  group->require_subcommand(1);
  auto train = std::make_shared<Args>();
  CLI::App* t = group->add_subcommand("train", "fit a head on a model's hidden states");
  t->add_option("model", train->model, "model folder")->required();
  t->add_option("data", train->data, "labelled JSONL: {\"text\", \"label\"} per line")->required();
  t->add_option("--question", train->question, "level, difficulty or a category")->required();
  t->add_option("--classes", train->classes, "the labels, comma-separated (default by question)");
  t->add_option("--layer", train->layer, "hidden layer (default: the middle one)");
  t->add_option("--out", train->out, "heads file (default MODEL/airlock_heads.json)");
  t->add_option("--holdout", train->holdout, "fraction held out for the report (default 0.2)")
      ->check(CLI::Range(0.0, 0.9));
  t->add_option("--seed", train->seed, "seed of the held-out split (default 1)");
  t->add_option("--iterations", train->iterations, "gradient steps (default 500)")
      ->check(CLI::Range(1, 100000));
  t->callback([train, exit_code] { *exit_code = Run("train", Train, *train); });

  auto eval = std::make_shared<Args>();
  CLI::App* e = group->add_subcommand("eval", "measure a trained head on labelled data");
  e->add_option("model", eval->model, "model folder")->required();
  e->add_option("data", eval->data, "labelled JSONL")->required();
  e->add_option("--question", eval->question, "the head's question")->required();
  e->add_option("--heads", eval->heads, "heads file (default MODEL/airlock_heads.json)");
  e->callback([eval, exit_code] { *exit_code = Run("eval", Eval, *eval); });
}

}  // namespace airlock::gateway::cli
