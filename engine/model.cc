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

// y[r] = sum_c W[offset + r][c] x[c] for r < rows (W row-major with `cols` columns).
void MatVec(const Tensor& w, size_t offset, size_t rows, size_t cols, const float* x, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const size_t base = (offset + r) * cols;
    double acc = 0;
    for (size_t c = 0; c < cols; ++c)
      acc += static_cast<double>(ElementAsFloat(w, base + c)) * x[c];
    y[r] = static_cast<float>(acc);
  }
}

void RmsNorm(const float* x, const Tensor& w, size_t n, double eps, float* out) {
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (size_t i = 0; i < n; ++i) out[i] = ElementAsFloat(w, i) * (x[i] * scale);
}

inline float Silu(float v) { return v / (1.0f + std::exp(-v)); }
inline float Softplus(float v) { return v <= 20.0f ? std::log1p(std::exp(v)) : v; }
inline float Relu2(float v) { return v > 0 ? v * v : 0.0f; }

// The pieces the SSM goes through a step's rows in: a prompt's rows (a run of rows of one
// sequence) in SSD chunks that end at multiples of `chunk` positions, so that a prompt split at
// such positions computes what it computes whole; a decode row alone (a piece of one row runs
// the recurrence). chunk 1: every row alone (the reference path).
struct SsmPiece {
  size_t begin, length;  // rows
};
std::vector<SsmPiece> SsmPieces(std::span<SequenceState* const> rows, size_t chunk) {
  std::vector<SsmPiece> pieces;
  for (size_t j = 0; j < rows.size();) {
    size_t end = j;
    while (end < rows.size() && rows[end] == rows[j]) ++end;
    for (auto pos = static_cast<size_t>(rows[j]->position); j < end;) {
      const size_t length = std::min(chunk - pos % chunk, end - j);
      pieces.push_back({j, length});
      j += length;
      pos += length;
    }
  }
  return pieces;
}

// A chunk's C_t . B_s for s <= t < length (row-major, length x length; rows `stride` floats
// apart from base, B at b_off and C at c_off in each, n wide): one group's scores, shared by
// its heads.
void ChunkScores(const float* base, size_t stride, size_t b_off, size_t c_off, size_t n,
                 size_t length, std::vector<float>* cb) {
  cb->resize(length * length);
  for (size_t t = 0; t < length; ++t) {
    for (size_t s = 0; s <= t; ++s) {
      (*cb)[t * length + s] = Dot(base + t * stride + c_off, base + s * stride + b_off, n);
    }
  }
}

// One head over one SSD chunk of `length` rows (Mamba-2's chunked form, the spec's SSD): with
// lam_t = sum_{u <= t} dt_u A over the chunk,
//   y_t = exp(lam_t) C_t . S + sum_{s <= t} exp(lam_t - lam_s) (C_t . B_s) dt_s x_s + D x_t
//   S   = exp(lam_last) S + sum_s exp(lam_last - lam_s) dt_s x_s B_s^T
// which is `length` steps of the recurrence as products over the chunk. Rows are `stride`
// floats apart from base (x at x_off, P wide; B at b_off and C at c_off, N wide); dt is
// dt_stride apart; cb from ChunkScores; S [P][N]; y rows y_stride apart.
void SsdChunk(const float* base, size_t stride, size_t x_off, size_t b_off, size_t c_off,
              const float* dt, size_t dt_stride, float A, float D, const std::vector<float>& cb,
              size_t length, size_t P, size_t N, float* S, float* y, size_t y_stride) {
  const auto X = [&](size_t t) { return base + t * stride + x_off; };
  std::vector<double> lam(length);
  double sum = 0;
  for (size_t t = 0; t < length; ++t) {
    sum += static_cast<double>(dt[t * dt_stride]) * A;
    lam[t] = sum;
  }
  // From the state before the chunk.
  for (size_t t = 0; t < length; ++t) {
    const auto decay = static_cast<float>(std::exp(lam[t]));
    const float* C = base + t * stride + c_off;
    float* yt = y + t * y_stride;
    for (size_t p = 0; p < P; ++p) yt[p] = decay * Dot(S + p * N, C, N) + D * X(t)[p];
  }
  // Within the chunk.
  for (size_t t = 0; t < length; ++t) {
    for (size_t s = 0; s <= t; ++s) {
      const float m =
          cb[t * length + s] * std::exp(static_cast<float>(lam[t] - lam[s])) * dt[s * dt_stride];
      Axpy(m, X(s), y + t * y_stride, P);
    }
  }
  // The state after it.
  const auto total = static_cast<float>(std::exp(lam[length - 1]));
  std::vector<float> weight(length);
  for (size_t s = 0; s < length; ++s) {
    weight[s] = std::exp(static_cast<float>(lam[length - 1] - lam[s])) * dt[s * dt_stride];
  }
  for (size_t p = 0; p < P; ++p) {
    float* st = S + p * N;
    for (size_t k = 0; k < N; ++k) st[k] *= total;
    for (size_t s = 0; s < length; ++s) Axpy(weight[s] * X(s)[p], base + s * stride + b_off, st, N);
  }
}

}  // namespace

void Model::Mm(const Tensor& w, size_t offset, size_t rows, size_t cols, const float* x, size_t n,
               float* y) const {
  const MatMul job{&w, offset, rows, cols, x, n, y};
  MmGroup({&job, 1});
}

void Model::MmGroup(std::span<const MatMul> jobs) const {
  if (pool_ != nullptr) return MatMulGroup(jobs, pool_.get());
  for (const MatMul& m : jobs) {
    for (size_t j = 0; j < m.n; ++j) {
      MatVec(*m.w, m.row0, m.rows, m.cols, m.x + j * m.cols, m.y + j * m.rows);
    }
  }
}

// down(relu(up x)^2) for n rows, for an expert's or the MLP's weights (rows offset into fused
// tensors).
void Model::Ffn(const Tensor& up, size_t up_offset, const Tensor& down, size_t down_offset,
                size_t inter, size_t hidden, const float* x, size_t n, float* out) const {
  std::vector<float> a(n * inter);
  Mm(up, up_offset, inter, hidden, x, n, a.data());
  for (float& v : a) v = Relu2(v);
  Mm(down, down_offset, hidden, inter, a.data(), n, out);
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

std::string Model::Describe() const {
  if (pool_ == nullptr) return "cpu: reference";
  return Cat("cpu: ", CpuKernelName(), ", ", pool_->threads(), " threads");
}

uint64_t Model::SequenceBytes(int64_t tokens) const { return StateBytes(config_, tokens); }

int64_t Model::prefill_granule() const {
  return pool_ == nullptr ? 1 : std::max<int64_t>(1, config_.chunk_size);
}

absl::StatusOr<std::unique_ptr<Sequence>> Model::Fork(const Sequence& sequence) const {
  return std::make_unique<SequenceState>(static_cast<const SequenceState&>(sequence));
}

absl::StatusOr<std::unique_ptr<Sequence>> Model::StartSequence(int64_t tokens) const {
  auto s = std::make_unique<SequenceState>(NewSequence());
  const auto row = static_cast<size_t>(config_.num_key_value_heads * config_.head_dim);
  for (size_t i = 0; i < s->keys.size(); ++i) {
    if (config_.layers[i] != BlockType::kAttention) continue;
    s->keys[i].reserve(row * static_cast<size_t>(std::max<int64_t>(0, tokens)));
    s->values[i].reserve(row * static_cast<size_t>(std::max<int64_t>(0, tokens)));
  }
  return s;
}

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

void Model::Layer(size_t i, std::span<SequenceState* const> rows, const float* x,
                  float* out) const {
  const ModelConfig& c = config_;
  const LayerWeights& lw = weights_.layers[i];
  const size_t H = static_cast<size_t>(c.hidden_size);
  const size_t n = rows.size();
  switch (lw.type) {
    case BlockType::kMamba: {
      const MambaWeights& w = lw.mamba;
      const size_t d_inner = static_cast<size_t>(c.d_inner());
      const size_t in_dim = static_cast<size_t>(c.in_proj_dim());
      std::vector<float> zxbcdt(n * in_dim), y(n * d_inner);
      Mm(*w.in_proj, 0, in_dim, H, x, n, zxbcdt.data());
      Mamba(i, rows, zxbcdt.data(), y.data());
      Mm(*w.out_proj, 0, H, d_inner, y.data(), n, out);
      break;
    }
    case BlockType::kAttention: {
      const AttentionWeights& w = lw.attention;
      const size_t q_dim = static_cast<size_t>(c.num_attention_heads * c.head_dim);
      const size_t kv_dim = static_cast<size_t>(c.num_key_value_heads * c.head_dim);
      std::vector<float> q(n * q_dim), k(n * kv_dim), v(n * kv_dim), o(n * q_dim);
      MmGroup(std::vector<MatMul>{{w.q_proj, 0, q_dim, H, x, n, q.data()},
                                  {w.k_proj, 0, kv_dim, H, x, n, k.data()},
                                  {w.v_proj, 0, kv_dim, H, x, n, v.data()}});
      // Each row's key and value join its sequence's cache in order; the row then attends over
      // the first `seen[j]` entries (itself last).
      std::vector<size_t> seen(n);
      for (size_t j = 0; j < n; ++j) {
        SequenceState* s = rows[j];
        s->keys[i].insert(s->keys[i].end(), k.begin() + j * kv_dim, k.begin() + (j + 1) * kv_dim);
        s->values[i].insert(s->values[i].end(), v.begin() + j * kv_dim,
                            v.begin() + (j + 1) * kv_dim);
        seen[j] = s->keys[i].size() / kv_dim;
      }
      const size_t heads = static_cast<size_t>(c.num_attention_heads);
      For(n * heads, [&](size_t begin, size_t end) {
        for (size_t jh = begin; jh < end; ++jh) {
          const size_t j = jh / heads;
          Attend(i, *rows[j], seen[j], jh % heads, q.data() + j * q_dim, o.data() + j * q_dim);
        }
      });
      Mm(*w.o_proj, 0, H, q_dim, o.data(), n, out);
      break;
    }
    case BlockType::kMoe:
      Moe(lw.moe, x, n, out);
      break;
    case BlockType::kMlp:
      Ffn(*lw.mlp.up, 0, *lw.mlp.down, 0, static_cast<size_t>(c.intermediate_size), H, x, n, out);
      break;
  }
}

// The Mamba-2 mixer for n rows, from in_proj's output [z | xBC | dt] per row to the gated,
// normed y (before out_proj), advancing each row's sequence state. Channels (the conv) and
// heads (the SSM) are independent, so threads split them, and each goes through the rows in
// order (a sequence's rows are in order): the arithmetic is the same however they are split.
void Model::Mamba(size_t i, std::span<SequenceState* const> rows, const float* zxbcdt,
                  float* y) const {
  const ModelConfig& c = config_;
  const MambaWeights& w = weights_.layers[i].mamba;
  const size_t n = rows.size();
  const size_t d_inner = static_cast<size_t>(c.d_inner());
  const size_t conv_dim = static_cast<size_t>(c.conv_dim());
  const size_t in_dim = static_cast<size_t>(c.in_proj_dim());
  const size_t heads = static_cast<size_t>(c.mamba_num_heads);
  const size_t P = static_cast<size_t>(c.mamba_head_dim);
  const size_t N = static_cast<size_t>(c.ssm_state_size);
  const size_t G = static_cast<size_t>(c.n_groups);
  const size_t K = static_cast<size_t>(c.conv_kernel);
  // Causal depthwise conv over xBC: the K-1 kept inputs, then this one (weight K-1); SiLU.
  std::vector<float> conv(n * conv_dim);  // per row: x [heads][P], B [G][N], C [G][N]
  For(conv_dim, [&](size_t begin, size_t end) {
    for (size_t ch = begin; ch < end; ++ch) {
      for (size_t j = 0; j < n; ++j) {
        const float xbc = zxbcdt[j * in_dim + d_inner + ch];
        float* kept = rows[j]->conv[i].data() + ch * (K - 1);
        double acc = w.conv1d_bias != nullptr ? ElementAsFloat(*w.conv1d_bias, ch) : 0.0f;
        for (size_t k = 0; k + 1 < K; ++k)
          acc += static_cast<double>(ElementAsFloat(*w.conv1d_weight, ch * K + k)) * kept[k];
        acc += static_cast<double>(ElementAsFloat(*w.conv1d_weight, ch * K + K - 1)) * xbc;
        if (K > 1) {
          std::memmove(kept, kept + 1, (K - 2) * sizeof(float));
          kept[K - 2] = xbc;
        }
        conv[j * conv_dim + ch] = Silu(static_cast<float>(acc));
      }
    }
  });
  // SSM: S = S * exp(dt A) + dt B x; y = S C + D x (head h reads group h / (heads / G)). A
  // prompt's rows go through it in SSD chunks (Chunk below), a decode row by the recurrence.
  std::vector<float> dts(n * heads);
  for (size_t j = 0; j < n; ++j) {
    for (size_t h = 0; h < heads; ++h) {
      const float dt =
          Softplus(zxbcdt[j * in_dim + d_inner + conv_dim + h] + ElementAsFloat(*w.dt_bias, h));
      dts[j * heads + h] =
          static_cast<float>(std::clamp<double>(dt, c.time_step_limit_min, c.time_step_limit_max));
    }
  }
  const std::vector<SsmPiece> pieces = SsmPieces(rows, static_cast<size_t>(prefill_granule()));
  For(heads, [&](size_t begin, size_t end) {
    std::vector<float> cb;  // the current piece's C_t . B_s for group cb_group
    size_t cb_group = G;
    for (const SsmPiece& piece : pieces) {
      cb_group = G;
      for (size_t h = begin; h < end; ++h) {
        const size_t g = h / (heads / G);
        const float A = -std::exp(ElementAsFloat(*w.a_log, h));
        const float D = ElementAsFloat(*w.d, h);
        float* S = rows[piece.begin]->ssm[i].data() + h * P * N;  // [P][N]
        if (piece.length > 1) {
          if (g != cb_group) {
            ChunkScores(conv.data() + piece.begin * conv_dim, conv_dim, d_inner + g * N,
                        d_inner + (G + g) * N, N, piece.length, &cb);
            cb_group = g;
          }
          SsdChunk(conv.data() + piece.begin * conv_dim, conv_dim, h * P, d_inner + g * N,
                   d_inner + (G + g) * N, dts.data() + piece.begin * heads + h, heads, A, D, cb,
                   piece.length, P, N, S, y + piece.begin * d_inner + h * P, d_inner);
          continue;
        }
        const size_t j = piece.begin;
        const float* xs = conv.data() + j * conv_dim;
        const float* B = xs + d_inner + g * N;
        const float* C = xs + d_inner + G * N + g * N;
        const float dt = dts[j * heads + h];
        const float dA = std::exp(dt * A);
        for (size_t p = 0; p < P; ++p) {
          float* st = S + p * N;
          const float xv = xs[h * P + p];
          float out;
          if (pool_ != nullptr) {  // the CPU kernels: FP32 SIMD
            out = SsmUpdate(st, B, C, dA, dt * xv, N);
          } else {  // the reference: in order, accumulated in double
            double acc = 0;
            for (size_t k = 0; k < N; ++k) {
              st[k] = st[k] * dA + dt * B[k] * xv;
              acc += static_cast<double>(st[k]) * C[k];
            }
            out = static_cast<float>(acc);
          }
          y[j * d_inner + h * P + p] = out + D * xv;
        }
      }
    }
  });
  // Gate, then RMS norm per group of d_inner / G, then the norm's weight.
  const size_t group = d_inner / G;
  For(n, [&](size_t begin, size_t end) {
    for (size_t j = begin; j < end; ++j) {
      float* yj = y + j * d_inner;
      const float* z = zxbcdt + j * in_dim;
      for (size_t k = 0; k < d_inner; ++k) yj[k] *= Silu(z[k]);
      for (size_t g = 0; g < G; ++g) {
        double ss = 0;
        for (size_t k = 0; k < group; ++k)
          ss += static_cast<double>(yj[g * group + k]) * yj[g * group + k];
        const float scale =
            static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(group) + c.norm_eps));
        for (size_t k = 0; k < group; ++k) {
          yj[g * group + k] = ElementAsFloat(*w.norm, g * group + k) * (yj[g * group + k] * scale);
        }
      }
    }
  });
}

// Causal attention of query head h of one row over the first `seen` entries of its sequence's
// KV cache (its own key and value last), GQA: head h reads KV head h / (heads / kv_heads).
void Model::Attend(size_t i, const SequenceState& state, size_t seen, size_t h, const float* q,
                   float* o) const {
  const ModelConfig& c = config_;
  const size_t nh = static_cast<size_t>(c.num_attention_heads);
  const size_t nkv = static_cast<size_t>(c.num_key_value_heads);
  const size_t hd = static_cast<size_t>(c.head_dim);
  const float* K = state.keys[i].data();
  const float* V = state.values[i].data();
  std::vector<float> scores(seen);
  q += h * hd;
  o += h * hd;
  std::fill(o, o + hd, 0.0f);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const size_t kvh = h / (nh / nkv);
  const bool fast = pool_ != nullptr;  // the CPU kernels: FP32 SIMD; else in order, in double
  double max = -1e300;
  for (size_t t = 0; t < seen; ++t) {
    const float* k = K + (t * nkv + kvh) * hd;
    double dot = 0;
    if (fast) {
      dot = Dot(q, k, hd);
    } else {
      for (size_t d = 0; d < hd; ++d) dot += static_cast<double>(q[d]) * k[d];
    }
    scores[t] = static_cast<float>(dot * scale);
    max = std::max<double>(max, scores[t]);
  }
  double sum = 0;
  for (size_t t = 0; t < seen; ++t) sum += std::exp(scores[t] - max);
  for (size_t t = 0; t < seen; ++t) {
    const double p = std::exp(scores[t] - max) / sum;
    const float* v = V + (t * nkv + kvh) * hd;
    if (fast) {
      Axpy(static_cast<float>(p), v, o, hd);
    } else {
      for (size_t d = 0; d < hd; ++d) o[d] += static_cast<float>(p * v[d]);
    }
  }
}

void Model::For(size_t n, const std::function<void(size_t, size_t)>& fn) const {
  if (pool_ == nullptr) {
    fn(0, n);
  } else {
    pool_->ParallelFor(n, fn);
  }
}

// MoE for n rows: each expert runs once over the rows that selected it (its weights read once
// per step), and each row sums its experts' outputs in its own selection order.
void Model::Moe(const MoeWeights& w, const float* x, size_t n, float* out) const {
  const ModelConfig& c = config_;
  const size_t H = static_cast<size_t>(c.hidden_size);
  const size_t E = static_cast<size_t>(c.n_routed_experts);
  const size_t I = static_cast<size_t>(c.moe_intermediate_size);
  const size_t k = static_cast<size_t>(c.num_experts_per_tok);
  std::vector<float> logits(n * E);
  Mm(*w.gate, 0, E, H, x, n, logits.data());
  std::vector<size_t> chosen(n * k);  // row j's experts, best first
  std::vector<double> weight(n * k);
  std::vector<std::vector<size_t>> users(E);  // expert -> slots j * k + s that chose it
  std::vector<float> score(E), select(E);
  std::vector<size_t> order(E);
  for (size_t j = 0; j < n; ++j) {
    for (size_t e = 0; e < E; ++e) {
      score[e] = 1.0f / (1.0f + std::exp(-logits[j * E + e]));
      select[e] = score[e] + ElementAsFloat(*w.score_bias, e);
    }
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](size_t a, size_t b) {
                        return select[a] > select[b] || (select[a] == select[b] && a < b);
                      });
    double total = 0;
    for (size_t s = 0; s < k; ++s) total += score[order[s]];
    for (size_t s = 0; s < k; ++s) {
      const size_t e = order[s];
      double wt = score[e];
      if (c.norm_topk_prob) wt /= total + 1e-20;
      chosen[j * k + s] = e;
      weight[j * k + s] = wt * c.routed_scaling_factor;
      users[e].push_back(j * k + s);
    }
  }
  // Every used expert's up projection (and the shared expert's) in one parallel loop, then
  // every down projection in another.
  const size_t SI = static_cast<size_t>(c.moe_shared_expert_intermediate_size);
  std::vector<std::vector<float>> in(E), mid(E), res(E);
  std::vector<float> shared_mid, shared;
  std::vector<MatMul> up, down;
  for (size_t e = 0; e < E; ++e) {
    const std::vector<size_t>& u = users[e];
    if (u.empty()) continue;
    in[e].resize(u.size() * H);
    mid[e].resize(u.size() * I);
    res[e].resize(u.size() * H);
    for (size_t m = 0; m < u.size(); ++m) {
      std::copy_n(x + (u[m] / k) * H, H, in[e].begin() + static_cast<std::ptrdiff_t>(m * H));
    }
    const bool fused = w.up_fused != nullptr;
    up.push_back({fused ? w.up_fused : w.up[e], fused ? e * I : 0, I, H, in[e].data(), u.size(),
                  mid[e].data()});
    down.push_back({fused ? w.down_fused : w.down[e], fused ? e * H : 0, H, I, mid[e].data(),
                    u.size(), res[e].data()});
  }
  if (w.shared_up != nullptr) {
    shared_mid.resize(n * SI);
    shared.resize(n * H);
    up.push_back({w.shared_up, 0, SI, H, x, n, shared_mid.data()});
    down.push_back({w.shared_down, 0, H, SI, shared_mid.data(), n, shared.data()});
  }
  MmGroup(up);
  for (auto& m : mid) {
    for (float& v : m) v = Relu2(v);
  }
  for (float& v : shared_mid) v = Relu2(v);
  MmGroup(down);
  std::vector<float> expert_out(n * k * H);
  for (size_t e = 0; e < E; ++e) {
    for (size_t m = 0; m < users[e].size(); ++m) {
      std::copy_n(res[e].begin() + static_cast<std::ptrdiff_t>(m * H), H,
                  expert_out.begin() + static_cast<std::ptrdiff_t>(users[e][m] * H));
    }
  }
  std::vector<double> acc(H);
  for (size_t j = 0; j < n; ++j) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (size_t s = 0; s < k; ++s) {
      const float* ex = expert_out.data() + (j * k + s) * H;
      for (size_t d = 0; d < H; ++d) acc[d] += weight[j * k + s] * ex[d];
    }
    if (!shared.empty()) {
      for (size_t d = 0; d < H; ++d) acc[d] += shared[j * H + d];
    }
    for (size_t d = 0; d < H; ++d) out[j * H + d] = static_cast<float>(acc[d]);
  }
}

absl::StatusOr<std::vector<float>> Model::Forward(SequenceState* state,
                                                  std::span<const int32_t> tokens,
                                                  bool all_logits) const {
  const StepItem item{state, tokens, all_logits ? Logits::kAll : Logits::kLast};
  return Step({&item, 1});
}

absl::StatusOr<std::vector<float>> Model::Step(std::span<const StepItem> items) const {
  const ModelConfig& c = config_;
  std::vector<SequenceState*> rows;  // the sequence of each row
  std::vector<size_t> logit_rows;    // the rows whose logits are returned
  std::vector<float> h;              // [rows][H], the residual stream
  const size_t H = static_cast<size_t>(c.hidden_size);
  const size_t V = static_cast<size_t>(c.vocab_size);
  if (absl::Status checked = CheckStepItems(c, items); !checked.ok()) return checked;
  std::vector<size_t> first_row;  // each item's first row
  for (const StepItem& item : items) {
    first_row.push_back(rows.size());
    for (size_t t = 0; t < item.tokens.size(); ++t) {
      if (item.logits == Logits::kAll ||
          (item.logits == Logits::kLast && t + 1 == item.tokens.size())) {
        logit_rows.push_back(rows.size());
      }
      rows.push_back(static_cast<SequenceState*>(item.sequence));
      const size_t at = h.size();
      h.resize(at + H);
      const size_t row = static_cast<size_t>(item.tokens[t]) * H;
      for (size_t d = 0; d < H; ++d) h[at + d] = ElementAsFloat(*weights_.embeddings, row + d);
    }
  }
  const size_t n = rows.size();
  std::vector<float> x(n * H), mixed(n * H);
  for (size_t i = 0; i < c.layers.size(); ++i) {
    for (size_t j = 0; j < n; ++j) {
      RmsNorm(h.data() + j * H, *weights_.layers[i].norm, H, c.norm_eps, x.data() + j * H);
    }
    Layer(i, rows, x.data(), mixed.data());
    for (size_t d = 0; d < n * H; ++d) h[d] += mixed[d];
    for (size_t it = 0; it < items.size(); ++it) {
      const StepItem& item = items[it];
      if (item.hidden_sum == nullptr || static_cast<size_t>(item.hidden_layer) != i) continue;
      for (size_t t = 0; t < item.tokens.size(); ++t) {
        const float* row = h.data() + (first_row[it] + t) * H;
        for (size_t d = 0; d < H; ++d) item.hidden_sum[d] += row[d];
      }
    }
  }
  for (const StepItem& item : items)
    item.sequence->position += static_cast<int64_t>(item.tokens.size());
  std::vector<float> normed(logit_rows.size() * H);
  for (size_t r = 0; r < logit_rows.size(); ++r) {
    RmsNorm(h.data() + logit_rows[r] * H, *weights_.norm_f, H, c.norm_eps, normed.data() + r * H);
  }
  std::vector<float> logits(logit_rows.size() * V);
  Mm(*weights_.lm_head, 0, V, H, normed.data(), logit_rows.size(), logits.data());
  return logits;
}

}  // namespace airlock::engine
