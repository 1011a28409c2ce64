// Every op of kernels/cuda_ops.h against the same math computed plainly on the CPU (in double),
// on random inputs (label gpu; skipped without a CUDA device).
//
// Bounds, as normalised mean squared error (sum (gpu - cpu)^2 / sum cpu^2): FP32 ops 1e-10
// (FP32 rounding in another summation order; the bound is 1e-7); the products take
// BF16 inputs (rounded the same way on both sides here) and accumulate in FP32: 1e-10 too.
// Routing and arg max are exact.
#include "kernels/cuda_ops.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include "engine/dtype.h"
#include "gtest/gtest.h"
#include "kernels/cuda_model.h"

namespace airlock::kernels {
namespace {

constexpr double kFp32Nmse = 1e-10;

double Nmse(const std::vector<float>& got, const std::vector<double>& want) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    err += (got[i] - want[i]) * (got[i] - want[i]);
    ref += want[i] * want[i];
  }
  return err / ref;
}

std::vector<float> Random(size_t n, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

// A device copy of a host vector.
template <typename T>
class Dev {
 public:
  explicit Dev(const std::vector<T>& host) {
    EXPECT_TRUE(DeviceBuffer::Allocate(host.size() * sizeof(T), "test", &buf_).ok());
    EXPECT_TRUE(CopyToDevice(buf_.data(), host.data(), host.size() * sizeof(T)).ok());
    size_ = host.size();
  }
  explicit Dev(size_t n) : Dev(std::vector<T>(n)) {}
  T* get() const { return buf_.as<T>(); }
  std::vector<T> Read() const {
    std::vector<T> host(size_);
    EXPECT_TRUE(CopyToHost(host.data(), buf_.data(), size_ * sizeof(T)).ok());
    return host;
  }

 private:
  DeviceBuffer buf_;
  size_t size_ = 0;
};

double Silu(double v) { return v / (1 + std::exp(-v)); }

class CudaOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (absl::Status s = CudaAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  }
  // Waits for the work queued on the default stream and checks for errors.
  static void Sync() { ASSERT_EQ(Synchronize(nullptr, "test"), absl::OkStatus()); }
};

TEST_F(CudaOpsTest, RmsNormAndGatedRmsNorm) {
  const int n = 3, H = 96, groups = 2;
  const std::vector<float> x = Random(n * H, 1), w = Random(H, 2, 0.5f, 1.5f);
  const std::vector<float> z = Random(n * 2 * H, 3);  // z rows 2H apart
  Dev<float> dx(x), dw(w), dz(z), out(n * H);
  RmsNorm(dx.get(), dw.get(), n, H, 1e-5f, out.get(), nullptr);
  GatedRmsNorm(dx.get(), dz.get(), 2 * H, dw.get(), n, H, groups, 1e-5f, nullptr);
  Sync();
  std::vector<double> norm(n * H), gated(n * H);
  for (int j = 0; j < n; ++j) {
    double ss = 0;
    for (int d = 0; d < H; ++d) ss += double(x[j * H + d]) * x[j * H + d];
    for (int d = 0; d < H; ++d) norm[j * H + d] = w[d] * x[j * H + d] / std::sqrt(ss / H + 1e-5);
    const int g_size = H / groups;
    for (int g = 0; g < groups; ++g) {
      double gs = 0;
      for (int k = 0; k < g_size; ++k) {
        const int d = g * g_size + k;
        gated[j * H + d] = x[j * H + d] * Silu(z[j * 2 * H + d]);
        gs += gated[j * H + d] * gated[j * H + d];
      }
      for (int k = 0; k < g_size; ++k) {
        const int d = g * g_size + k;
        gated[j * H + d] = w[d] * gated[j * H + d] / std::sqrt(gs / g_size + 1e-5);
      }
    }
  }
  EXPECT_LT(Nmse(out.Read(), norm), kFp32Nmse);
  EXPECT_LT(Nmse(dx.Read(), gated), kFp32Nmse);
}

TEST_F(CudaOpsTest, GemmTakesBf16InputsWithFp32Accumulation) {
  const int rows = 70, cols = 130, n = 5;
  std::vector<float> w = Random(rows * cols, 4), x = Random(n * cols, 5);
  std::vector<Bf16> wb(w.size()), xb(x.size());
  for (size_t i = 0; i < w.size(); ++i) wb[i] = engine::FloatToBf16(w[i]);
  for (size_t i = 0; i < x.size(); ++i) xb[i] = engine::FloatToBf16(x[i]);
  Dev<Bf16> dw(wb), dx(xb);
  Dev<float> dwf(w), dxf(x), y(n * rows), yf(n * rows);
  BlasHandle blas = nullptr;
  ASSERT_EQ(CreateBlas(&blas), absl::OkStatus());
  ASSERT_TRUE(Gemm(blas, dw.get(), rows, cols, dx.get(), n, y.get()).ok());
  ASSERT_TRUE(GemmF32(blas, dwf.get(), rows, cols, dxf.get(), n, yf.get()).ok());
  Sync();
  DestroyBlas(blas);
  std::vector<double> want(n * rows), want_f(n * rows);
  for (int j = 0; j < n; ++j) {
    for (int r = 0; r < rows; ++r) {
      double acc = 0, acc_f = 0;
      for (int c = 0; c < cols; ++c) {
        acc +=
            double(engine::Bf16ToFloat(wb[r * cols + c])) * engine::Bf16ToFloat(xb[j * cols + c]);
        acc_f += double(w[r * cols + c]) * x[j * cols + c];
      }
      want[j * rows + r] = acc;
      want_f[j * rows + r] = acc_f;
    }
  }
  EXPECT_LT(Nmse(y.Read(), want), kFp32Nmse);
  EXPECT_LT(Nmse(yf.Read(), want_f), kFp32Nmse);
}

TEST_F(CudaOpsTest, ConvDtAndSsmFollowTheRecurrenceAcrossSequences) {
  // Three sequences in one batch, states non-zero: rows 0-2, 3-34 and 35-39. With more rows
  // than the ops' 32 shares of sequences, one share takes the sequences starting at rows 3 and
  // 35.
  const int heads = 4, P = 8, N = 48, G = 2, K = 4, Q = 3;
  const int d_inner = heads * P, conv_dim = d_inner + 2 * G * N, n = 40;
  const auto seq = [](int j) { return j < 3 ? 0 : j < 35 ? 1 : 2; };
  const int in_stride = conv_dim + heads + 3;  // rows wider than what the ops read
  const std::vector<float> in = Random(n * in_stride, 6);
  const std::vector<float> w = Random(conv_dim * K, 7), bias = Random(conv_dim, 8);
  const std::vector<float> dt_bias = Random(heads, 9, -4, -2), a_log = Random(heads, 10, 0, 2);
  const std::vector<float> D = Random(heads, 11, 0.5f, 1.5f);
  std::vector<std::vector<float>> conv_state, ssm_state;
  std::vector<Dev<float>> dconv, dssm;
  dconv.reserve(Q);
  dssm.reserve(Q);
  for (int q = 0; q < Q; ++q) {
    conv_state.push_back(Random(conv_dim * (K - 1), 12 + q));
    ssm_state.push_back(Random(heads * P * N, 20 + q));
    dconv.emplace_back(conv_state[q]);
    dssm.emplace_back(ssm_state[q]);
  }
  Dev<float> din(in), dw(w), dbias(bias), ddt_bias(dt_bias), da(a_log), dD(D);
  std::vector<float*> conv_ptrs, ssm_ptrs;
  for (int j = 0; j < n; ++j) {
    conv_ptrs.push_back(dconv[seq(j)].get());
    ssm_ptrs.push_back(dssm[seq(j)].get());
  }
  Dev<float*> dconv_ptrs(conv_ptrs), dssm_ptrs(ssm_ptrs);
  Dev<float> conv_out(n * conv_dim), dt(n * heads), y(n * d_inner);
  ConvSilu(din.get(), in_stride, n, conv_dim, K, dw.get(), dbias.get(), dconv_ptrs.get(),
           conv_out.get(), nullptr);
  DtSoftplus(din.get() + conv_dim, in_stride, n, heads, ddt_bias.get(), 0.0f, 1e30f, dt.get(),
             nullptr);
  SsmScan(conv_out.get(), conv_dim, dt.get(), da.get(), dD.get(), n, heads, P, N, G,
          dssm_ptrs.get(), y.get(), nullptr);
  Sync();
  // The CPU: the same recurrences, row after row.
  std::vector<double> want_conv(n * conv_dim), want_dt(n * heads), want_y(n * d_inner);
  std::vector<double> cs[Q], ss[Q];
  for (int q = 0; q < Q; ++q) {
    cs[q].assign(conv_state[q].begin(), conv_state[q].end());
    ss[q].assign(ssm_state[q].begin(), ssm_state[q].end());
  }
  for (int j = 0; j < n; ++j) {
    const int q = seq(j);
    for (int ch = 0; ch < conv_dim; ++ch) {
      double* kept = cs[q].data() + ch * (K - 1);
      const double xv = in[j * in_stride + ch];
      double acc = bias[ch] + w[ch * K + K - 1] * xv;
      for (int k = 0; k < K - 1; ++k) acc += w[ch * K + k] * kept[k];
      for (int k = 0; k < K - 2; ++k) kept[k] = kept[k + 1];
      kept[K - 2] = xv;
      want_conv[j * conv_dim + ch] = Silu(acc);
    }
    for (int h = 0; h < heads; ++h) {
      const double v = in[j * in_stride + conv_dim + h] + dt_bias[h];
      want_dt[j * heads + h] = v <= 20 ? std::log1p(std::exp(v)) : v;
    }
    for (int h = 0; h < heads; ++h) {
      const int g = h / (heads / G);
      const double dtv = want_dt[j * heads + h], dA = std::exp(-dtv * std::exp(a_log[h]));
      for (int p = 0; p < P; ++p) {
        const double xv = want_conv[j * conv_dim + h * P + p];
        double acc = 0;
        for (int k = 0; k < N; ++k) {
          double& s = ss[q][(h * P + p) * N + k];
          s = s * dA + dtv * want_conv[j * conv_dim + d_inner + g * N + k] * xv;
          acc += s * want_conv[j * conv_dim + d_inner + (G + g) * N + k];
        }
        want_y[j * d_inner + h * P + p] = acc + D[h] * xv;
      }
    }
  }
  EXPECT_LT(Nmse(conv_out.Read(), want_conv), kFp32Nmse);
  EXPECT_LT(Nmse(dt.Read(), want_dt), kFp32Nmse);
  EXPECT_LT(Nmse(y.Read(), want_y), kFp32Nmse);
  for (int q = 0; q < Q; ++q) {
    EXPECT_LT(Nmse(dconv[q].Read(), cs[q]), kFp32Nmse) << "sequence " << q;
    EXPECT_LT(Nmse(dssm[q].Read(), ss[q]), kFp32Nmse) << "sequence " << q;
  }
}

TEST_F(CudaOpsTest, AttentionOverTheCacheWithGqa) {
  // Two sequences: the first has 300 cached positions and adds 2 rows, the second adds 1 row
  // at position 0 (it attends to itself only).
  const int heads = 4, kv_heads = 2, hd = 64, kv_dim = kv_heads * hd, cap = 320, n = 3;
  std::vector<float> kc0 = Random(cap * kv_dim, 20), vc0 = Random(cap * kv_dim, 21);
  std::vector<float> kc1(cap * kv_dim, 0.0f), vc1(cap * kv_dim, 0.0f);
  const std::vector<float> q = Random(n * heads * hd, 22), k = Random(n * kv_dim, 23),
                           v = Random(n * kv_dim, 24);
  const std::vector<int32_t> pos = {300, 301, 0}, seen = {301, 302, 1};
  Dev<float> dk0(kc0), dv0(vc0), dk1(kc1), dv1(vc1), dq(q), dk(k), dv(v), o(n * heads * hd);
  Dev<float*> kptr(std::vector<float*>{dk0.get(), dk0.get(), dk1.get()});
  Dev<float*> vptr(std::vector<float*>{dv0.get(), dv0.get(), dv1.get()});
  Dev<int32_t> dpos(pos), dseen(seen);
  AppendKv(dk.get(), dv.get(), n, kv_dim, kptr.get(), vptr.get(), dpos.get(), nullptr);
  // One block per (row, head), and the positions spread over 7 blocks (some of the one-position
  // row's splits get none).
  Dev<float> split_o(n * heads * hd), partial(AttentionPartialFloats(n, heads, hd, 7));
  Attention(dq.get(), n, heads, kv_heads, hd, kptr.get(), vptr.get(), dseen.get(), 1, nullptr,
            o.get(), nullptr);
  Attention(dq.get(), n, heads, kv_heads, hd, kptr.get(), vptr.get(), dseen.get(), 7, partial.get(),
            split_o.get(), nullptr);
  Sync();
  for (int j = 0; j < n; ++j) {
    std::vector<float>& K = j < 2 ? kc0 : kc1;
    std::vector<float>& V = j < 2 ? vc0 : vc1;
    std::copy_n(k.begin() + j * kv_dim, kv_dim, K.begin() + pos[j] * kv_dim);
    std::copy_n(v.begin() + j * kv_dim, kv_dim, V.begin() + pos[j] * kv_dim);
  }
  std::vector<double> want(n * heads * hd, 0.0);
  for (int j = 0; j < n; ++j) {
    const std::vector<float>& K = j < 2 ? kc0 : kc1;
    const std::vector<float>& V = j < 2 ? vc0 : vc1;
    for (int h = 0; h < heads; ++h) {
      const int kvh = h / (heads / kv_heads);
      std::vector<double> score(seen[j]);
      for (int t = 0; t < seen[j]; ++t) {
        double dot = 0;
        for (int d = 0; d < hd; ++d)
          dot += double(q[(j * heads + h) * hd + d]) * K[t * kv_dim + kvh * hd + d];
        score[t] = dot / std::sqrt(double(hd));
      }
      const double mx = *std::max_element(score.begin(), score.end());
      double sum = 0;
      for (double& s : score) sum += (s = std::exp(s - mx));
      for (int t = 0; t < seen[j]; ++t) {
        for (int d = 0; d < hd; ++d) {
          want[(j * heads + h) * hd + d] += score[t] / sum * V[t * kv_dim + kvh * hd + d];
        }
      }
    }
  }
  EXPECT_LT(Nmse(o.Read(), want), kFp32Nmse);
  EXPECT_LT(Nmse(split_o.Read(), want), kFp32Nmse);
  EXPECT_EQ(AttentionSplits(1 << 20, heads, 132), 1);  // rows enough to fill the device
  EXPECT_EQ(AttentionSplits(1, heads, 132), kMaxAttentionSplits);
  EXPECT_EQ(AttentionSplits(1, 32, 132), 33);  // 1,056 blocks of 4 warps for 132 SMs
  EXPECT_EQ(AttentionPartialFloats(n, heads, hd, 1), 0u);
  EXPECT_EQ(dk0.Read(), kc0);
  EXPECT_EQ(dv1.Read(), vc1);
}

TEST_F(CudaOpsTest, MoeRoutingCombineAndGatherScatter) {
  const int n = 4, E = 40, k = 3, H = 16;
  const std::vector<float> logits = Random(n * E, 30, -3, 3), bias = Random(E, 31, 0, 0.1f);
  Dev<float> dl(logits), db(bias), weight(n * k);
  Dev<int32_t> chosen(n * k);
  MoeRoute(dl.get(), db.get(), n, E, k, true, 2.5f, chosen.get(), weight.get(), nullptr);
  Sync();
  const std::vector<int32_t> got_chosen = chosen.Read();
  const std::vector<float> got_weight = weight.Read();
  for (int j = 0; j < n; ++j) {
    std::vector<double> score(E), select(E);
    for (int e = 0; e < E; ++e) {
      score[e] = 1 / (1 + std::exp(-double(logits[j * E + e])));
      select[e] = score[e] + bias[e];
    }
    std::vector<int> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return select[a] > select[b]; });
    double total = 0;
    for (int s = 0; s < k; ++s) total += score[order[s]];
    for (int s = 0; s < k; ++s) {
      EXPECT_EQ(got_chosen[j * k + s], order[s]) << "row " << j << " slot " << s;
      EXPECT_NEAR(got_weight[j * k + s], score[order[s]] / total * 2.5, 1e-5);
    }
  }
  // Combine: out[j] = sum_s weight[j][s] expert_out[j * k + s] + shared[j].
  const std::vector<float> expert_out = Random(n * k * H, 32), shared = Random(n * H, 33);
  Dev<float> de(expert_out), ds(shared), out(n * H);
  MoeCombine(de.get(), weight.get(), ds.get(), n, k, H, out.get(), nullptr);
  // Gather rows 5 / 3 = 1 and 0, then scatter them back elsewhere.
  const std::vector<int32_t> rows = {5, 0};
  Dev<int32_t> drows(rows);
  Dev<Bf16> gathered(2 * H);
  Dev<float> gathered_f(2 * H), scattered(n * k * H);
  GatherBf16(ds.get(), drows.get(), 3, 2, H, gathered.get(), nullptr);
  Gather(de.get(), drows.get(), 2, H, gathered_f.get(), nullptr);
  Scatter(gathered_f.get(), drows.get(), 2, H, scattered.get(), nullptr);
  Sync();
  std::vector<double> want(n * H);
  for (int j = 0; j < n; ++j) {
    for (int d = 0; d < H; ++d) {
      double acc = shared[j * H + d];
      for (int s = 0; s < k; ++s)
        acc += double(got_weight[j * k + s]) * expert_out[(j * k + s) * H + d];
      want[j * H + d] = acc;
    }
  }
  EXPECT_LT(Nmse(out.Read(), want), kFp32Nmse);
  const std::vector<Bf16> g = gathered.Read();
  const std::vector<float> sc = scattered.Read();
  for (int d = 0; d < H; ++d) {
    EXPECT_EQ(g[d], engine::FloatToBf16(shared[1 * H + d]));
    EXPECT_EQ(g[H + d], engine::FloatToBf16(shared[0 * H + d]));
    EXPECT_EQ(sc[5 * H + d], expert_out[5 * H + d]);
    EXPECT_EQ(sc[0 * H + d], expert_out[0 * H + d]);
  }
}

// ExpertsUp / ExpertsDown against the products they stand for, with widths that take the 16-byte
// loads (H = 520, wider than a block, and I = 40) and widths that do not (H = 66, I = 36).
TEST_F(CudaOpsTest, ExpertProductsPerRowAndChoice) {
  for (const auto& [H, I] : {std::pair{520, 40}, std::pair{66, 36}}) {
    const int E = 5, n = 3, k = 2, pairs = n * k;
    std::vector<std::vector<Bf16>> up(E), down(E);
    std::vector<DeviceBuffer> dev(2 * E);
    std::vector<const Bf16*> up_at, down_at;
    for (int e = 0; e < E; ++e) {
      for (auto [w, size, slot, at] : {std::tuple{&up[e], I * H, 2 * e, &up_at},
                                       std::tuple{&down[e], H * I, 2 * e + 1, &down_at}}) {
        for (float v : Random(size, 100 + slot)) w->push_back(engine::FloatToBf16(v));
        ASSERT_TRUE(DeviceBuffer::Allocate(w->size() * 2, "test", &dev[slot]).ok());
        ASSERT_TRUE(CopyToDevice(dev[slot].data(), w->data(), w->size() * 2).ok());
        at->push_back(dev[slot].as<Bf16>());
      }
    }
    const std::vector<int32_t> chosen = {4, 1, 1, 3, 0, 4};  // [n][k]
    const std::vector<float> x = Random(n * H, 7);
    Dev<const Bf16*> dup(up_at), ddown(down_at);
    Dev<int32_t> dchosen(chosen);
    Dev<float> dx(x), out(pairs * H);
    Dev<Bf16> mid(pairs * I);
    ExpertsUp(dup.get(), dchosen.get(), dx.get(), pairs, k, I, H, mid.get(), nullptr);
    ExpertsDown(ddown.get(), dchosen.get(), mid.get(), pairs, H, I, out.get(), nullptr);
    Sync();
    const std::vector<Bf16> got_mid = mid.Read();
    std::vector<float> mid_f(got_mid.size());
    std::vector<double> want_mid(got_mid.size()), want_out(pairs * H);
    for (int p = 0; p < pairs; ++p) {
      const std::vector<Bf16>& wu = up[chosen[p]];
      const std::vector<Bf16>& wd = down[chosen[p]];
      for (int r = 0; r < I; ++r) {
        double acc = 0;
        for (int c = 0; c < H; ++c) {
          acc += double(engine::Bf16ToFloat(wu[r * H + c])) *
                 engine::Bf16ToFloat(engine::FloatToBf16(x[(p / k) * H + c]));
        }
        want_mid[p * I + r] = acc > 0 ? acc * acc : 0;
        mid_f[p * I + r] = engine::Bf16ToFloat(got_mid[p * I + r]);
      }
      for (int r = 0; r < H; ++r) {
        double acc = 0;
        for (int c = 0; c < I; ++c) {
          acc +=
              double(engine::Bf16ToFloat(wd[r * I + c])) * engine::Bf16ToFloat(got_mid[p * I + c]);
        }
        want_out[p * H + r] = acc;
      }
    }
    // mid is rounded to BF16 (8 bits of mantissa): within 2^-8 relative, NMSE below 2e-5.
    EXPECT_LT(Nmse(mid_f, want_mid), 2e-5) << "H = " << H << ", I = " << I;
    EXPECT_LT(Nmse(out.Read(), want_out), kFp32Nmse) << "H = " << H << ", I = " << I;
  }
}

TEST_F(CudaOpsTest, EmbedToBf16AddAndArgMax) {
  const int V = 1000, H = 24, n = 3;
  std::vector<float> table = Random(V * H, 40);
  std::vector<Bf16> tb(table.size());
  for (size_t i = 0; i < table.size(); ++i) tb[i] = engine::FloatToBf16(table[i]);
  const std::vector<int32_t> ids = {7, 999, 7};
  std::vector<float> logits = Random(n * V, 41);
  logits[0 * V + 17] = 5;
  logits[1 * V + 998] = 5;
  logits[2 * V + 3] = 5;
  logits[2 * V + 600] = 5;  // a tie: the lower index wins
  Dev<Bf16> dt(tb);
  Dev<int32_t> dids(ids), argmax(n);
  Dev<float> rows(n * H), dlogits(logits), relu_in(std::vector<float>{-2, 0.5f, 3});
  Dev<Bf16> relu_out(3);
  Embed(dt.get(), dids.get(), n, H, rows.get(), nullptr);
  AddTo(rows.get(), rows.get(), n * H, nullptr);  // doubles them
  ArgMax(dlogits.get(), n, V, argmax.get(), nullptr);
  ToBf16(relu_in.get(), relu_out.get(), 3, /*relu2=*/true, nullptr);
  Sync();
  const std::vector<float> got = rows.Read();
  for (int j = 0; j < n; ++j) {
    for (int d = 0; d < H; ++d) {
      EXPECT_EQ(got[j * H + d], 2 * engine::Bf16ToFloat(tb[ids[j] * H + d]));
    }
  }
  EXPECT_EQ(argmax.Read(), (std::vector<int32_t>{17, 998, 3}));
  EXPECT_EQ(relu_out.Read(), (std::vector<Bf16>{engine::FloatToBf16(0), engine::FloatToBf16(0.25f),
                                                engine::FloatToBf16(9)}));
}

TEST_F(CudaOpsTest, RandomFillsStayInTheirRangeAndRepeatWithTheSeed) {
  const int64_t n = 10000;
  Dev<float> u(n), lg(n), isp(n), again(n);
  Dev<Bf16> b(n);
  FillRandom(u.get(), n, 7, -0.5f, 0.5f, Fill::kUniform, nullptr);
  FillRandom(lg.get(), n, 8, 1.0f, 16.0f, Fill::kLog, nullptr);
  FillRandom(isp.get(), n, 9, 0.001f, 0.1f, Fill::kInverseSoftplus, nullptr);
  FillRandom(again.get(), n, 7, -0.5f, 0.5f, Fill::kUniform, nullptr);
  FillRandomBf16(b.get(), n, 10, -1.0f, 1.0f, nullptr);
  Sync();
  const std::vector<float> uv = u.Read(), lv = lg.Read(), iv = isp.Read();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_GE(uv[i], -0.5f);
    ASSERT_LT(uv[i], 0.5f);
    sum += uv[i];
    ASSERT_GE(lv[i], 0.0f);
    ASSERT_LE(lv[i], std::log(16.0f) + 1e-6f);
    const double softplus = std::log1p(std::exp(double(iv[i])));
    ASSERT_GE(softplus, 0.001 - 1e-5);
    ASSERT_LE(softplus, 0.1 + 1e-5);
  }
  EXPECT_NEAR(sum / n, 0.0, 0.02);  // not all the same value
  EXPECT_EQ(uv, again.Read());
  for (Bf16 v : b.Read()) ASSERT_LE(std::abs(engine::Bf16ToFloat(v)), 1.0f);
  size_t free = 0, total = 0;
  ASSERT_TRUE(DeviceMemory(&free, &total).ok());
  EXPECT_GT(total, 0u);
  EXPECT_LE(free, total);
}

TEST_F(CudaOpsTest, AllocationFailureIsResourceExhaustedAndNotSticky) {
  DeviceBuffer huge;
  const absl::Status s = DeviceBuffer::Allocate(size_t{1} << 50, "a test", &huge);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("a test"), std::string::npos) << s;
  EXPECT_TRUE(CudaCheck("after").ok());
  DeviceBuffer small;
  EXPECT_TRUE(DeviceBuffer::Allocate(1024, "a test", &small).ok());
}

}  // namespace
}  // namespace airlock::kernels
