// Heads: the model stage's second method (issue #8). Instead of asking the model questions, a
// small linear classifier per question reads the model's hidden state: the residual stream
// after one layer, mean-pooled over the conversation's tokens (engine/backend.h StepItem
// hidden_layer). One prefill of the conversation, nothing after it.
//
// `airlock classifier train` fits a head from labelled JSONL (multinomial logistic regression
// on standardised features, full-batch gradient descent with L2; deterministic: the held-out
// split comes from a seeded shuffle and nothing else is random) and stores it in a JSON file
// next to the model; `airlock classifier eval` measures one on labelled data.
//
// The file: {"layer": L, "heads": [{"question", "classes", "mean", "scale", "weights" (classes
// x hidden, row-major), "bias"}]}.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "airlock/v1/gateway.pb.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

namespace airlock::classifier {

struct Head {
  std::string question;              // "level", "difficulty", or a category
  std::vector<std::string> classes;  // e.g. public .. restricted; easy, hard
  std::vector<float> mean, scale;    // per feature: x' = (x - mean) * scale
  std::vector<float> weights;        // classes x features
  std::vector<float> bias;           // classes

  size_t features() const { return mean.size(); }
  // Softmax over the classes for one hidden state (features() floats).
  std::vector<float> Probabilities(std::span<const float> hidden) const;
};

struct Heads {
  int layer = 0;  // the hidden layer they read
  std::vector<Head> heads;
  const Head* Find(const std::string& question) const;
};

// INVALID_ARGUMENT naming the file and what is wrong (sizes that do not agree, bad JSON).
absl::StatusOr<Heads> LoadHeads(const std::string& path);
absl::Status SaveHeads(const Heads& heads, const std::string& path);

// The mean-pooled hidden state at `layer` of the request's conversation (classifier/chat_prompt.h),
// from one prefill on a fresh sequence.
absl::StatusOr<std::vector<float>> PooledHidden(const engine::Model& model,
                                                const engine::Tokenizer& tokenizer,
                                                const v1::ChatRequest& request, int layer);

struct TrainOptions {
  int iterations = 500;
  float learning_rate = 0.5f;
  float l2 = 1e-3f;
};

// Fits a head to n examples: `features` row-major (n x dim), labels[i] indexes `classes`.
Head TrainHead(std::string question, std::vector<std::string> classes,
               const std::vector<float>& features, size_t dim, const std::vector<int>& labels,
               const TrainOptions& options = {});

struct HeadReport {
  size_t examples = 0;
  double accuracy = 0;
  double ece = 0;  // expected calibration error: 10 equal-width bins of the top probability
  std::vector<double> precision, recall;  // per class
  std::optional<double> auroc;            // two classes: the second class's probability
  struct Threshold {
    double at, precision, recall;  // predicting the second class when its probability >= at
  };
  std::vector<Threshold> thresholds;  // two classes: 0.1, 0.2, ... 0.9
};
HeadReport Evaluate(const Head& head, const std::vector<float>& features, size_t dim,
                    const std::vector<int>& labels);
std::string FormatReport(const Head& head, const HeadReport& report);

}  // namespace airlock::classifier
