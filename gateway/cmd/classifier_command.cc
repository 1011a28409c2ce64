#include "gateway/cmd/classifier_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "classifier/eval.h"
#include "classifier/heads.h"
#include "classifier/model_data.h"
#include "classifier/model_stage.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "nlohmann/json.hpp"

namespace airlock::gateway::cli {
namespace {

struct Args {
  std::string model, data, question, classes, out, heads, test;
  int layer = -1;
  double holdout = 0.2;
  uint64_t seed = 1;
  int iterations = 500;
  size_t max_per_class = 1000;  // data
};

struct Error {
  std::string message;
  int code;
};

std::vector<std::string> ClassesFor(const std::string& question, const std::string& given) {
  if (!given.empty()) return absl::StrSplit(given, ',');
  return classifier::DefaultClasses(question);
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

struct Examples {
  std::vector<float> x;  // n x dim, row-major
  std::vector<int> y;    // class index
};

// Labelled JSONL -> pooled hidden states. A text seen before (in another question's file) is
// not prefilled again.
class Featurizer {
 public:
  Featurizer(const Loaded& m, int layer) : m_(m), layer_(layer) {}

  Examples Read(const std::string& path, const std::vector<std::string>& classes) {
    std::ifstream in(path);
    if (!in) throw Error{absl::StrCat(path, ": cannot read"), 2};
    Examples out;
    std::string line;
    for (size_t n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = absl::StrCat(path, ":", n);
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
      const std::vector<float>& h = Hidden(j["text"].get<std::string>(), where);
      out.x.insert(out.x.end(), h.begin(), h.end());
      out.y.push_back(static_cast<int>(it - classes.begin()));
    }
    if (out.y.empty()) throw Error{absl::StrCat(path, ": no examples"), 2};
    return out;
  }

 private:
  const std::vector<float>& Hidden(const std::string& text, const std::string& where) {
    auto it = cache_.find(text);
    if (it != cache_.end()) return it->second;
    v1::ChatRequest r;
    v1::Message* m = r.add_messages();
    m->set_role(v1::Message::USER);
    m->set_content(text);
    absl::StatusOr<std::vector<float>> h =
        classifier::PooledHidden(*m_.model, *m_.tokenizer, r, layer_);
    if (!h.ok()) throw Error{absl::StrCat(where, ": ", h.status().message()), 1};
    return cache_.emplace(text, *std::move(h)).first->second;
  }

  const Loaded& m_;
  int layer_;
  std::map<std::string, std::vector<float>> cache_;
};

std::string HeadsPath(const Args& a, const std::string& given) {
  return given.empty() ? (std::filesystem::path(a.model) / "airlock_heads.json").string() : given;
}

// Splits `all` into train and held-out parts by a Fisher-Yates shuffle driven by splitmix64
// from the seed.
void HoldOut(const Examples& all, size_t dim, double fraction, uint64_t seed, Examples* train,
             Examples* test) {
  std::vector<size_t> order(all.y.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  uint64_t state = seed;
  for (size_t i = order.size(); i > 1; --i) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    std::swap(order[i - 1], order[(z ^ (z >> 31)) % i]);
  }
  const auto held = static_cast<size_t>(fraction * static_cast<double>(order.size()));
  for (size_t r = 0; r < order.size(); ++r) {
    const size_t i = order[r];
    Examples& e = r < held ? *test : *train;
    e.x.insert(e.x.end(), all.x.begin() + static_cast<std::ptrdiff_t>(i * dim),
               all.x.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
    e.y.push_back(all.y[i]);
  }
}

struct Job {
  std::string question, train, test;  // test: "" to hold out
};

// DATA is a file (one head: --question, optional --test) or a folder such as `airlock
// classifier data` writes (a head per QUESTION.train.jsonl, tested on QUESTION.test.jsonl).
std::vector<Job> JobsOf(const Args& a) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(a.data)) {
    if (a.question.empty()) throw Error{"--question is required when DATA is a file", 2};
    return {{a.question, a.data, a.test}};
  }
  if (!a.question.empty() || !a.test.empty() || !a.classes.empty()) {
    throw Error{absl::StrCat(a.data,
                             " is a folder: its file names give the questions (no "
                             "--question, --test or --classes)"),
                2};
  }
  std::vector<Job> jobs;
  for (const auto& entry : fs::directory_iterator(a.data)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".train.jsonl")) continue;
    Job job{name.substr(0, name.size() - std::string_view(".train.jsonl").size()),
            entry.path().string(), ""};
    const fs::path test = entry.path().parent_path() / (job.question + ".test.jsonl");
    if (fs::exists(test)) job.test = test.string();
    jobs.push_back(std::move(job));
  }
  if (jobs.empty()) throw Error{absl::StrCat(a.data, ": no QUESTION.train.jsonl files"), 2};
  std::sort(jobs.begin(), jobs.end(),
            [](const Job& x, const Job& y) { return x.question < y.question; });
  return jobs;
}

int Train(const Args& a) {
  const std::vector<Job> jobs = JobsOf(a);
  const Loaded m = Load(a.model);
  const int layers = static_cast<int>(m.model->config().layers.size());
  const int layer = a.layer >= 0 ? a.layer : layers / 2;
  if (layer >= layers) {
    throw Error{absl::StrCat("--layer ", layer, ": the model has layers 0 to ", layers - 1), 2};
  }
  const std::string path = HeadsPath(a, a.out);
  classifier::Heads heads{.layer = layer, .heads = {}};
  if (std::filesystem::exists(path)) {
    absl::StatusOr<classifier::Heads> old = classifier::LoadHeads(path);
    if (!old.ok()) throw Error{std::string(old.status().message()), 2};
    if (old->layer != layer) {
      throw Error{absl::StrCat(path, ": its heads read layer ", old->layer, ", not ", layer), 2};
    }
    for (classifier::Head& h : old->heads) {
      const bool retrained = std::any_of(jobs.begin(), jobs.end(),
                                         [&](const Job& j) { return j.question == h.question; });
      if (!retrained) heads.heads.push_back(std::move(h));
    }
  }
  const size_t dim = static_cast<size_t>(m.model->config().hidden_size);
  Featurizer featurizer(m, layer);
  std::vector<std::string> reports;
  for (const Job& job : jobs) {
    const std::vector<std::string> classes = ClassesFor(job.question, a.classes);
    Examples train, test;
    if (job.test.empty()) {
      HoldOut(featurizer.Read(job.train, classes), dim, a.holdout, a.seed, &train, &test);
    } else {
      train = featurizer.Read(job.train, classes);
      test = featurizer.Read(job.test, classes);
    }
    classifier::Head head = classifier::TrainHead(job.question, classes, train.x, dim, train.y,
                                                  {.iterations = a.iterations});
    std::string report =
        absl::StrCat("head '", job.question, "' on layer ", layer, ": ", train.y.size(),
                     " examples to train, ", test.y.size(),
                     job.test.empty() ? absl::StrCat(" held out (seed ", a.seed, ")")
                                      : absl::StrCat(" in ", job.test),
                     "\n");
    if (!test.y.empty()) {
      absl::StrAppend(
          &report, "test: ", FormatReport(head, classifier::Evaluate(head, test.x, dim, test.y)));
    }
    reports.push_back(std::move(report));
    heads.heads.push_back(std::move(head));
  }
  if (absl::Status s = classifier::SaveHeads(heads, path); !s.ok()) {
    throw Error{std::string(s.message()), 1};
  }
  std::printf("%s\n\n%s", path.c_str(), absl::StrJoin(reports, "\n").c_str());
  return 0;
}

int Data(const Args& a) {
  absl::StatusOr<std::vector<classifier::LabelledSet>> sets =
      classifier::BuildModelData(a.data, {.max_per_class = a.max_per_class});
  if (!sets.ok()) throw Error{std::string(sets.status().message()), 2};
  if (absl::Status s = classifier::WriteModelData(*sets, a.out); !s.ok()) {
    throw Error{std::string(s.message()), 1};
  }
  classifier::EvalTable table;
  table.title = absl::StrCat("Labelled data for the model stage's heads, in ", a.out);
  table.header = {"question", "class", "train", "test", "sources"};
  for (const classifier::LabelledSet& set : *sets) {
    for (const std::string& c : set.classes) {
      std::map<std::string, int> sources;
      size_t n[2] = {0, 0};
      for (int split = 0; split < 2; ++split) {
        for (const classifier::LabelledText& t : split == 0 ? set.train : set.test) {
          if (t.label != c) continue;
          ++n[split];
          ++sources[t.source];
        }
      }
      std::vector<std::string> parts;
      for (const auto& [source, count] : sources) parts.push_back(absl::StrCat(source, " ", count));
      table.rows.push_back({set.question, c, std::to_string(n[0]), std::to_string(n[1]),
                            absl::StrJoin(parts, ", ")});
    }
  }
  table.notes = {
      "test: texts whose FNV-1a 64 hash is 0 mod 5 (fixed; the same for every question).",
      absl::StrCat("at most ", a.max_per_class,
                   " per class; see classifier/model_data.h for the labels' sources.")};
  std::printf("%s", classifier::FormatTable(table).c_str());
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
  Featurizer featurizer(m, heads->layer);
  const Examples e = featurizer.Read(a.data, head->classes);
  std::printf("%s",
              FormatReport(*head, classifier::Evaluate(*head, e.x, head->features(), e.y)).c_str());
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
  CLI::App* t = group->add_subcommand("train", "fit heads on a model's hidden states");
  t->add_option("model", train->model, "model folder")->required();
  t->add_option("data", train->data,
                "labelled JSONL ({\"text\", \"label\"} per line), or a folder of "
                "QUESTION.train.jsonl and QUESTION.test.jsonl")
      ->required();
  t->add_option("--question", train->question, "level, difficulty or a category (DATA a file)");
  t->add_option("--test", train->test, "labelled JSONL to report on instead of a held-out part");
  t->add_option("--classes", train->classes, "the labels, comma-separated (default by question)");
  t->add_option("--layer", train->layer, "hidden layer (default: the middle one)");
  t->add_option("--out", train->out, "heads file (default MODEL/airlock_heads.json)");
  t->add_option("--holdout", train->holdout, "fraction held out for the report (default 0.2)")
      ->check(CLI::Range(0.0, 0.9));
  t->add_option("--seed", train->seed, "seed of the held-out split (default 1)");
  t->add_option("--iterations", train->iterations, "gradient steps (default 500)")
      ->check(CLI::Range(1, 100000));
  t->callback([train, exit_code] { *exit_code = Run("train", Train, *train); });

  auto data = std::make_shared<Args>();
  CLI::App* d = group->add_subcommand(
      "data", "build the labelled data for the heads from the public evaluation data");
  d->add_option("data_dir", data->data, "the public data (../shared/data)")->required();
  d->add_option("--out", data->out, "folder for QUESTION.{train,test}.jsonl")->required();
  d->add_option("--max-per-class", data->max_per_class, "cap per question and class (default 1000)")
      ->check(CLI::Range(1, 1000000));
  d->callback([data, exit_code] { *exit_code = Run("data", Data, *data); });

  auto eval = std::make_shared<Args>();
  CLI::App* e = group->add_subcommand("eval", "measure a trained head on labelled data");
  e->add_option("model", eval->model, "model folder")->required();
  e->add_option("data", eval->data, "labelled JSONL")->required();
  e->add_option("--question", eval->question, "the head's question")->required();
  e->add_option("--heads", eval->heads, "heads file (default MODEL/airlock_heads.json)");
  e->callback([eval, exit_code] { *exit_code = Run("eval", Eval, *eval); });
}

}  // namespace airlock::gateway::cli
