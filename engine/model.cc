#include "engine/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "engine/cpu_kernels.h"
#include "engine/strings.h"

namespace airlock::engine {
namespace {

// Element i of a tensor as float.
inline float Elem(const Tensor& t, size_t i) {
  switch (t.dtype) {
    case DType::kF32: {
      float v;
      std::memcpy(&v, t.data + i * 4, 4);
      return v;
    }
    case DType::kBF16: {
      uint16_t v;
      std::memcpy(&v, t.data + i * 2, 2);
      return Bf16ToFloat(v);
    }
    case DType::kF16: {
      uint16_t v;
      std::memcpy(&v, t.data + i * 2, 2);
      return F16ToFloat(v);
    }
    case DType::kOther:
      break;
  }
  return 0.0f;
}

// y[r] = sum_c W[offset + r][c] x[c] for r < rows (W row-major with `cols` columns).
void MatVec(const Tensor& w, size_t offset, size_t rows, size_t cols, const float* x, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const size_t base = (offset + r) * cols;
    double acc = 0;
    for (size_t c = 0; c < cols; ++c) acc += static_cast<double>(Elem(w, base + c)) * x[c];
    y[r] = static_cast<float>(acc);
  }
}

void RmsNorm(const float* x, const Tensor& w, size_t n, double eps, float* out) {
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (size_t i = 0; i < n; ++i) out[i] = Elem(w, i) * (x[i] * scale);
}

inline float Silu(float v) { return v / (1.0f + std::exp(-v)); }
inline float Softplus(float v) { return v <= 20.0f ? std::log1p(std::exp(v)) : v; }
inline float Relu2(float v) { return v > 0 ? v * v : 0.0f; }

}  // namespace

void Model::Mv(const Tensor& w, size_t offset, size_t rows, size_t cols, const float* x,
               float* y) const {
  if (pool_ == nullptr) {
    MatVec(w, offset, rows, cols, x, y);
  } else {
    MatVecFast(w, offset, rows, cols, x, y, pool_.get());
  }
}

// down(relu(up x)^2), for an expert's or the MLP's weights (rows offset into fused tensors).
void Model::Ffn(const Tensor& up, size_t up_offset, const Tensor& down, size_t down_offset,
                size_t inter, size_t hidden, const float* x, float* out) const {
  std::vector<float> a(inter);
  Mv(up, up_offset, inter, hidden, x, a.data());
  for (float& v : a) v = Relu2(v);
  Mv(down, down_offset, hidden, inter, a.data(), out);
}

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& dir,
                                                   const ModelOptions& options) {
  auto config = LoadModelConfig((std::filesystem::path(dir) / "config.json").string());
  if (!config.ok()) return config.status();
  auto store = TensorStore::Open(dir);
  if (!store.ok()) return store.status();
  auto weights = BindWeights(*config, **store);
  if (!weights.ok()) return weights.status();
  std::unique_ptr<Model> m(new Model());
  m->config_ = *std::move(config);
  m->store_ = *std::move(store);
  m->weights_ = *std::move(weights);
  if (!options.reference) m->pool_ = std::make_unique<ThreadPool>(options.threads);
  return m;
}

Model::~Model() = default;

SequenceState Model::NewSequence() const {
  const ModelConfig& c = config_;
  SequenceState s;
  const size_t n = c.layers.size();
  s.conv.resize(n);
  s.ssm.resize(n);
  s.keys.resize(n);
  s.values.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (c.layers[i] == BlockType::kMamba) {
      s.conv[i].assign(static_cast<size_t>(c.conv_dim() * (c.conv_kernel - 1)), 0.0f);
      s.ssm[i].assign(static_cast<size_t>(c.d_inner() * c.ssm_state_size), 0.0f);
    }
  }
  return s;
}

void Model::Layer(size_t i, SequenceState* state, const float* x, float* out) const {
  const ModelConfig& c = config_;
  const LayerWeights& lw = weights_.layers[i];
  const size_t H = static_cast<size_t>(c.hidden_size);
  switch (lw.type) {
    case BlockType::kMamba: {
      const MambaWeights& w = lw.mamba;
      const size_t d_inner = static_cast<size_t>(c.d_inner());
      const size_t conv_dim = static_cast<size_t>(c.conv_dim());
      const size_t heads = static_cast<size_t>(c.mamba_num_heads);
      const size_t P = static_cast<size_t>(c.mamba_head_dim);
      const size_t N = static_cast<size_t>(c.ssm_state_size);
      const size_t G = static_cast<size_t>(c.n_groups);
      const size_t K = static_cast<size_t>(c.conv_kernel);
      std::vector<float> zxbcdt(static_cast<size_t>(c.in_proj_dim()));
      Mv(*w.in_proj, 0, zxbcdt.size(), H, x, zxbcdt.data());
      const float* z = zxbcdt.data();
      const float* xbc = z + d_inner;
      const float* dt_raw = xbc + conv_dim;
      // Causal depthwise conv over xBC: the K-1 kept inputs, then this one (weight K-1).
      std::vector<float>& cs = state->conv[i];
      std::vector<float> conv(conv_dim);
      for (size_t ch = 0; ch < conv_dim; ++ch) {
        float* kept = cs.data() + ch * (K - 1);
        double acc = w.conv1d_bias != nullptr ? Elem(*w.conv1d_bias, ch) : 0.0f;
        for (size_t k = 0; k + 1 < K; ++k)
          acc += static_cast<double>(Elem(*w.conv1d_weight, ch * K + k)) * kept[k];
        acc += static_cast<double>(Elem(*w.conv1d_weight, ch * K + K - 1)) * xbc[ch];
        if (K > 1) {
          std::memmove(kept, kept + 1, (K - 2) * sizeof(float));
          kept[K - 2] = xbc[ch];
        }
        conv[ch] = Silu(static_cast<float>(acc));
      }
      const float* xs = conv.data();  // [heads][P]
      const float* B = xs + d_inner;  // [G][N]
      const float* C = B + G * N;     // [G][N]
      std::vector<float> y(d_inner);
      float* S = state->ssm[i].data();  // [heads][P][N]
      for (size_t h = 0; h < heads; ++h) {
        const size_t g = h / (heads / G);
        float dt = Softplus(dt_raw[h] + Elem(*w.dt_bias, h));
        dt = static_cast<float>(
            std::clamp<double>(dt, c.time_step_limit_min, c.time_step_limit_max));
        const float A = -std::exp(Elem(*w.a_log, h));
        const float dA = std::exp(dt * A);
        const float D = Elem(*w.d, h);
        for (size_t p = 0; p < P; ++p) {
          float* s = S + (h * P + p) * N;
          const float xv = xs[h * P + p];
          double acc = 0;
          for (size_t n = 0; n < N; ++n) {
            s[n] = s[n] * dA + dt * B[g * N + n] * xv;
            acc += static_cast<double>(s[n]) * C[g * N + n];
          }
          y[h * P + p] = static_cast<float>(acc) + D * xv;
        }
      }
      // Gate, then RMS norm per group of d_inner / G, then the norm's weight.
      for (size_t k = 0; k < d_inner; ++k) y[k] *= Silu(z[k]);
      const size_t group = d_inner / G;
      for (size_t g = 0; g < G; ++g) {
        double ss = 0;
        for (size_t k = 0; k < group; ++k)
          ss += static_cast<double>(y[g * group + k]) * y[g * group + k];
        const float scale =
            static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(group) + c.norm_eps));
        for (size_t k = 0; k < group; ++k) {
          y[g * group + k] = Elem(*w.norm, g * group + k) * (y[g * group + k] * scale);
        }
      }
      Mv(*w.out_proj, 0, H, d_inner, y.data(), out);
      break;
    }
    case BlockType::kAttention: {
      const AttentionWeights& w = lw.attention;
      const size_t nh = static_cast<size_t>(c.num_attention_heads);
      const size_t nkv = static_cast<size_t>(c.num_key_value_heads);
      const size_t hd = static_cast<size_t>(c.head_dim);
      std::vector<float> q(nh * hd), k(nkv * hd), v(nkv * hd);
      Mv(*w.q_proj, 0, q.size(), H, x, q.data());
      Mv(*w.k_proj, 0, k.size(), H, x, k.data());
      Mv(*w.v_proj, 0, v.size(), H, x, v.data());
      state->keys[i].insert(state->keys[i].end(), k.begin(), k.end());
      state->values[i].insert(state->values[i].end(), v.begin(), v.end());
      const size_t T = state->keys[i].size() / (nkv * hd);
      const float* K = state->keys[i].data();
      const float* V = state->values[i].data();
      std::vector<float> o(nh * hd, 0.0f), scores(T);
      const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
      for (size_t h = 0; h < nh; ++h) {
        const size_t kvh = h / (nh / nkv);
        double max = -1e300;
        for (size_t t = 0; t < T; ++t) {
          double dot = 0;
          for (size_t d = 0; d < hd; ++d)
            dot += static_cast<double>(q[h * hd + d]) * K[(t * nkv + kvh) * hd + d];
          scores[t] = static_cast<float>(dot * scale);
          max = std::max<double>(max, scores[t]);
        }
        double sum = 0;
        for (size_t t = 0; t < T; ++t) sum += std::exp(scores[t] - max);
        for (size_t t = 0; t < T; ++t) {
          const double p = std::exp(scores[t] - max) / sum;
          for (size_t d = 0; d < hd; ++d)
            o[h * hd + d] += static_cast<float>(p * V[(t * nkv + kvh) * hd + d]);
        }
      }
      Mv(*w.o_proj, 0, H, nh * hd, o.data(), out);
      break;
    }
    case BlockType::kMoe: {
      const MoeWeights& w = lw.moe;
      const size_t E = static_cast<size_t>(c.n_routed_experts);
      const size_t I = static_cast<size_t>(c.moe_intermediate_size);
      std::vector<float> logits(E), score(E), select(E);
      Mv(*w.gate, 0, E, H, x, logits.data());
      for (size_t e = 0; e < E; ++e) {
        score[e] = 1.0f / (1.0f + std::exp(-logits[e]));
        select[e] = score[e] + Elem(*w.score_bias, e);
      }
      std::vector<size_t> order(E);
      std::iota(order.begin(), order.end(), 0);
      const size_t k = static_cast<size_t>(c.num_experts_per_tok);
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                        [&](size_t a, size_t b) {
                          return select[a] > select[b] || (select[a] == select[b] && a < b);
                        });
      double total = 0;
      for (size_t j = 0; j < k; ++j) total += score[order[j]];
      std::vector<double> acc(H, 0.0);
      std::vector<float> expert(H);
      for (size_t j = 0; j < k; ++j) {
        const size_t e = order[j];
        double weight = score[e];
        if (c.norm_topk_prob) weight /= total + 1e-20;
        weight *= c.routed_scaling_factor;
        if (w.up_fused != nullptr) {
          Ffn(*w.up_fused, e * I, *w.down_fused, e * H, I, H, x, expert.data());
        } else {
          Ffn(*w.up[e], 0, *w.down[e], 0, I, H, x, expert.data());
        }
        for (size_t d = 0; d < H; ++d) acc[d] += weight * expert[d];
      }
      if (w.shared_up != nullptr) {
        Ffn(*w.shared_up, 0, *w.shared_down, 0,
            static_cast<size_t>(c.moe_shared_expert_intermediate_size), H, x, expert.data());
        for (size_t d = 0; d < H; ++d) acc[d] += expert[d];
      }
      for (size_t d = 0; d < H; ++d) out[d] = static_cast<float>(acc[d]);
      break;
    }
    case BlockType::kMlp:
      Ffn(*lw.mlp.up, 0, *lw.mlp.down, 0, static_cast<size_t>(c.intermediate_size), H, x, out);
      break;
  }
}

absl::StatusOr<std::vector<float>> Model::Forward(SequenceState* state,
                                                  std::span<const int32_t> tokens,
                                                  bool all_logits) const {
  const ModelConfig& c = config_;
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || tokens[t] >= c.vocab_size) {
      return absl::InvalidArgumentError(Cat("token ", t, ": id ", tokens[t],
                                            " is outside the vocabulary (0 to ", c.vocab_size - 1,
                                            ")"));
    }
  }
  const size_t H = static_cast<size_t>(c.hidden_size);
  const size_t V = static_cast<size_t>(c.vocab_size);
  std::vector<float> logits;
  std::vector<float> h(H), x(H), mixed(H);
  for (size_t t = 0; t < tokens.size(); ++t) {
    const size_t row = static_cast<size_t>(tokens[t]) * H;
    for (size_t d = 0; d < H; ++d) h[d] = Elem(*weights_.embeddings, row + d);
    for (size_t i = 0; i < c.layers.size(); ++i) {
      RmsNorm(h.data(), *weights_.layers[i].norm, H, c.norm_eps, x.data());
      Layer(i, state, x.data(), mixed.data());
      for (size_t d = 0; d < H; ++d) h[d] += mixed[d];
    }
    ++state->position;
    if (all_logits || t + 1 == tokens.size()) {
      RmsNorm(h.data(), *weights_.norm_f, H, c.norm_eps, x.data());
      const size_t at = logits.size();
      logits.resize(at + V);
      Mv(*weights_.lm_head, 0, V, H, x.data(), logits.data() + at);
    }
  }
  return logits;
}

}  // namespace airlock::engine
