#include "classifier/heads.h"

#include <cmath>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "classifier/chat_prompt.h"
#include "classifier/eval.h"
#include "nlohmann/json.hpp"

namespace airlock::classifier {

std::vector<float> Head::Probabilities(std::span<const float> hidden) const {
  const size_t dim = features();
  std::vector<double> z(classes.size());
  double max = -INFINITY;
  for (size_t k = 0; k < classes.size(); ++k) {
    double acc = bias[k];
    for (size_t d = 0; d < dim; ++d) {
      acc += static_cast<double>(weights[k * dim + d]) * ((hidden[d] - mean[d]) * scale[d]);
    }
    z[k] = acc;
    max = std::max(max, acc);
  }
  double sum = 0;
  for (double& v : z) sum += (v = std::exp(v - max));
  std::vector<float> p(classes.size());
  for (size_t k = 0; k < p.size(); ++k) p[k] = static_cast<float>(z[k] / sum);
  return p;
}

const Head* Heads::Find(const std::string& question) const {
  for (const Head& h : heads) {
    if (h.question == question) return &h;
  }
  return nullptr;
}

absl::StatusOr<Heads> LoadHeads(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read"));
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    Heads heads;
    heads.layer = j.at("layer").get<int>();
    for (size_t i = 0; i < j.at("heads").size(); ++i) {
      const nlohmann::json& h = j["heads"][i];
      Head head;
      h.at("question").get_to(head.question);
      h.at("classes").get_to(head.classes);
      h.at("mean").get_to(head.mean);
      h.at("scale").get_to(head.scale);
      h.at("weights").get_to(head.weights);
      h.at("bias").get_to(head.bias);
      const size_t k = head.classes.size();
      if (k < 2 || head.scale.size() != head.features() ||
          head.weights.size() != k * head.features() || head.bias.size() != k) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": heads[", i, "] ('", head.question,
                         "'): the sizes of classes, mean, scale, weights and bias do not agree"));
      }
      heads.heads.push_back(std::move(head));
    }
    return heads;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
}

absl::Status SaveHeads(const Heads& heads, const std::string& path) {
  nlohmann::ordered_json j;
  j["layer"] = heads.layer;
  j["heads"] = nlohmann::ordered_json::array();
  for (const Head& h : heads.heads) {
    j["heads"].push_back({{"question", h.question},
                          {"classes", h.classes},
                          {"mean", h.mean},
                          {"scale", h.scale},
                          {"weights", h.weights},
                          {"bias", h.bias}});
  }
  std::ofstream out(path);
  out << j.dump() << "\n";
  if (!out) return absl::InternalError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> PooledHidden(const engine::Model& model,
                                                const engine::Tokenizer& tokenizer,
                                                const v1::ChatRequest& request, int layer) {
  const std::vector<int32_t> ids = tokenizer.Encode(RenderConversation(ChatPromptOf(request)));
  std::vector<float> sum(static_cast<size_t>(model.config().hidden_size), 0.0f);
  engine::SequenceState s = model.NewSequence();
  const engine::StepItem item{&s, ids, engine::Logits::kNone, layer, sum.data()};
  absl::StatusOr<std::vector<float>> step = model.Step({&item, 1});
  if (!step.ok()) return step.status();
  for (float& v : sum) v /= static_cast<float>(ids.size());
  return sum;
}

Head TrainHead(std::string question, std::vector<std::string> classes,
               const std::vector<float>& features, size_t dim, const std::vector<int>& labels,
               const TrainOptions& options) {
  const size_t n = labels.size(), k = classes.size();
  Head h;
  h.question = std::move(question);
  h.classes = std::move(classes);
  h.mean.assign(dim, 0.0f);
  h.scale.assign(dim, 1.0f);
  h.weights.assign(k * dim, 0.0f);
  h.bias.assign(k, 0.0f);
  if (n == 0) return h;
  for (size_t d = 0; d < dim; ++d) {  // standardise each feature
    double m = 0, v = 0;
    for (size_t i = 0; i < n; ++i) m += features[i * dim + d];
    m /= static_cast<double>(n);
    for (size_t i = 0; i < n; ++i) v += std::pow(features[i * dim + d] - m, 2);
    const double sd = std::sqrt(v / static_cast<double>(n));
    h.mean[d] = static_cast<float>(m);
    h.scale[d] = sd > 1e-12 ? static_cast<float>(1.0 / sd) : 1.0f;
  }
  std::vector<float> x(n * dim);
  for (size_t i = 0; i < n; ++i) {
    for (size_t d = 0; d < dim; ++d) {
      x[i * dim + d] = (features[i * dim + d] - h.mean[d]) * h.scale[d];
    }
  }
  // Full-batch gradient descent on the mean cross-entropy + l2 / 2 |W|^2.
  std::vector<double> gw(k * dim), gb(k);
  Head raw = h;  // probabilities on standardised rows: identity standardisation
  std::fill(raw.mean.begin(), raw.mean.end(), 0.0f);
  std::fill(raw.scale.begin(), raw.scale.end(), 1.0f);
  for (int it = 0; it < options.iterations; ++it) {
    std::fill(gw.begin(), gw.end(), 0.0);
    std::fill(gb.begin(), gb.end(), 0.0);
    for (size_t i = 0; i < n; ++i) {
      const std::span<const float> row(x.data() + i * dim, dim);
      const std::vector<float> p = raw.Probabilities(row);
      for (size_t c = 0; c < k; ++c) {
        const double err = p[c] - (static_cast<size_t>(labels[i]) == c ? 1.0 : 0.0);
        gb[c] += err;
        for (size_t d = 0; d < dim; ++d) gw[c * dim + d] += err * row[d];
      }
    }
    for (size_t c = 0; c < k; ++c) {
      raw.bias[c] -= static_cast<float>(options.learning_rate * gb[c] / static_cast<double>(n));
      for (size_t d = 0; d < dim; ++d) {
        float& w = raw.weights[c * dim + d];
        w -= static_cast<float>(options.learning_rate *
                                (gw[c * dim + d] / static_cast<double>(n) + options.l2 * w));
      }
    }
  }
  h.weights = std::move(raw.weights);
  h.bias = std::move(raw.bias);
  return h;
}

HeadReport Evaluate(const Head& head, const std::vector<float>& features, size_t dim,
                    const std::vector<int>& labels) {
  const size_t n = labels.size(), k = head.classes.size();
  HeadReport r;
  r.examples = n;
  r.precision.assign(k, 0);
  r.recall.assign(k, 0);
  std::vector<double> predicted(k), actual(k), right(k);
  std::vector<double> bin_count(10), bin_conf(10), bin_right(10);
  std::vector<std::pair<float, bool>> scored;
  std::vector<std::vector<float>> probs;
  for (size_t i = 0; i < n; ++i) {
    std::vector<float> p = head.Probabilities({features.data() + i * dim, dim});
    const auto best = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    const auto truth = static_cast<size_t>(labels[i]);
    predicted[best] += 1;
    actual[truth] += 1;
    if (best == truth) right[best] += 1;
    const auto bin = std::min<size_t>(9, static_cast<size_t>(p[best] * 10));
    bin_count[bin] += 1;
    bin_conf[bin] += p[best];
    bin_right[bin] += best == truth ? 1 : 0;
    if (k == 2) scored.emplace_back(p[1], truth == 1);
    probs.push_back(std::move(p));
  }
  double total_right = 0;
  for (size_t c = 0; c < k; ++c) {
    total_right += right[c];
    r.precision[c] = predicted[c] > 0 ? right[c] / predicted[c] : 0;
    r.recall[c] = actual[c] > 0 ? right[c] / actual[c] : 0;
  }
  r.accuracy = n > 0 ? total_right / static_cast<double>(n) : 0;
  for (size_t b = 0; b < 10; ++b) {
    if (bin_count[b] > 0) {
      r.ece += bin_count[b] / static_cast<double>(n) *
               std::abs(bin_right[b] / bin_count[b] - bin_conf[b] / bin_count[b]);
    }
  }
  if (k == 2) {
    r.auroc = Auroc(scored);
    for (int t = 1; t <= 9; ++t) {
      const double at = t / 10.0;
      double tp = 0, fp = 0, fn = 0;
      for (const auto& [score, positive] : scored) {
        const bool yes = score >= at;
        tp += yes && positive;
        fp += yes && !positive;
        fn += !yes && positive;
      }
      r.thresholds.push_back(
          {at, tp + fp > 0 ? tp / (tp + fp) : 0, tp + fn > 0 ? tp / (tp + fn) : 0});
    }
  }
  return r;
}

std::string FormatReport(const Head& head, const HeadReport& r) {
  std::string out = absl::StrFormat("%s: %zu examples, accuracy %.3f, ECE %.3f", head.question,
                                    r.examples, r.accuracy, r.ece);
  if (r.auroc) absl::StrAppend(&out, absl::StrFormat(", AUROC %.3f", *r.auroc));
  absl::StrAppend(&out, "\n\nclass              precision  recall\n");
  for (size_t c = 0; c < head.classes.size(); ++c) {
    absl::StrAppend(
        &out, absl::StrFormat("%-18s %9.3f %7.3f\n", head.classes[c], r.precision[c], r.recall[c]));
  }
  if (!r.thresholds.empty()) {
    absl::StrAppend(&out, absl::StrFormat("\np(%s) >=  precision  recall\n", head.classes[1]));
    for (const auto& t : r.thresholds) {
      absl::StrAppend(&out, absl::StrFormat("%9.1f %10.3f %7.3f\n", t.at, t.precision, t.recall));
    }
  }
  return out;
}

}  // namespace airlock::classifier
