#include "kernels/cuda_model.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include "engine/strings.h"
#include "engine/weights.h"
#include "kernels/cuda_ops.h"

namespace airlock::kernels {
namespace {

using engine::BlockType;
using engine::Cat;
using engine::ModelConfig;
using engine::Tensor;

// ---- Weights on the device ----

// count elements of t from element `offset` on, as BF16 (a copy when the file holds BF16).
absl::Status UploadBf16(const Tensor& t, size_t offset, size_t count, DeviceBuffer* out) {
  if (absl::Status s = DeviceBuffer::Allocate(count * sizeof(Bf16), t.name, out); !s.ok()) return s;
  if (t.dtype == engine::DType::kBF16) {
    return CopyToDevice(out->data(), t.data + offset * sizeof(Bf16), count * sizeof(Bf16));
  }
  constexpr size_t kChunk = size_t{1} << 22;
  std::vector<Bf16> host(std::min(count, kChunk));
  for (size_t begin = 0; begin < count; begin += kChunk) {
    const size_t n = std::min(kChunk, count - begin);
    for (size_t i = 0; i < n; ++i) {
      host[i] = engine::FloatToBf16(engine::ElementAsFloat(t, offset + begin + i));
    }
    if (absl::Status s = CopyToDevice(out->as<Bf16>() + begin, host.data(), n * sizeof(Bf16));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status UploadBf16(const Tensor& t, DeviceBuffer* out) {
  return UploadBf16(t, 0, static_cast<size_t>(t.elements()), out);
}

absl::Status UploadF32(const Tensor& t, DeviceBuffer* out) {
  const auto count = static_cast<size_t>(t.elements());
  std::vector<float> host(count);
  for (size_t i = 0; i < count; ++i) host[i] = engine::ElementAsFloat(t, i);
  if (absl::Status s = DeviceBuffer::Allocate(count * sizeof(float), t.name, out); !s.ok())
    return s;
  return CopyToDevice(out->data(), host.data(), count * sizeof(float));
}

struct MambaOnDevice {
  DeviceBuffer in_proj, out_proj;                                // BF16
  DeviceBuffer conv_weight, conv_bias, dt_bias, a_log, d, norm;  // FP32; conv_bias may be empty
};
struct AttentionOnDevice {
  DeviceBuffer q, k, v, o;  // BF16
};
struct MoeOnDevice {
  DeviceBuffer gate, score_bias;        // FP32
  std::vector<DeviceBuffer> up, down;   // BF16, per expert
  DeviceBuffer up_table, down_table;    // the experts' addresses, for ExpertsUp / ExpertsDown
  DeviceBuffer shared_up, shared_down;  // BF16; empty without a shared expert
};

// Fills e's address tables from its experts.
absl::Status UploadTables(MoeOnDevice* e) {
  for (auto [experts, table] : {std::pair{&e->up, &e->up_table}, {&e->down, &e->down_table}}) {
    std::vector<const Bf16*> addresses;
    for (const DeviceBuffer& b : *experts) addresses.push_back(b.as<Bf16>());
    const size_t bytes = addresses.size() * sizeof(const Bf16*);
    if (absl::Status s = DeviceBuffer::Allocate(bytes, "the experts' addresses", table); !s.ok())
      return s;
    if (absl::Status s = CopyToDevice(table->data(), addresses.data(), bytes); !s.ok()) return s;
  }
  return absl::OkStatus();
}
struct MlpOnDevice {
  DeviceBuffer up, down;  // BF16
};
struct LayerOnDevice {
  BlockType type = BlockType::kMamba;
  DeviceBuffer norm;  // FP32
  MambaOnDevice mamba;
  AttentionOnDevice attention;
  MoeOnDevice moe;
  MlpOnDevice mlp;
};

absl::Status Upload(const ModelConfig& c, const engine::LayerWeights& w, LayerOnDevice* out) {
  out->type = w.type;
  std::vector<absl::Status> s;
  s.push_back(UploadF32(*w.norm, &out->norm));
  switch (w.type) {
    case BlockType::kMamba: {
      MambaOnDevice& m = out->mamba;
      s.push_back(UploadBf16(*w.mamba.in_proj, &m.in_proj));
      s.push_back(UploadBf16(*w.mamba.out_proj, &m.out_proj));
      s.push_back(UploadF32(*w.mamba.conv1d_weight, &m.conv_weight));
      if (w.mamba.conv1d_bias != nullptr)
        s.push_back(UploadF32(*w.mamba.conv1d_bias, &m.conv_bias));
      s.push_back(UploadF32(*w.mamba.dt_bias, &m.dt_bias));
      s.push_back(UploadF32(*w.mamba.a_log, &m.a_log));
      s.push_back(UploadF32(*w.mamba.d, &m.d));
      s.push_back(UploadF32(*w.mamba.norm, &m.norm));
      break;
    }
    case BlockType::kAttention: {
      AttentionOnDevice& a = out->attention;
      s.push_back(UploadBf16(*w.attention.q_proj, &a.q));
      s.push_back(UploadBf16(*w.attention.k_proj, &a.k));
      s.push_back(UploadBf16(*w.attention.v_proj, &a.v));
      s.push_back(UploadBf16(*w.attention.o_proj, &a.o));
      break;
    }
    case BlockType::kMoe: {
      MoeOnDevice& e = out->moe;
      const auto E = static_cast<size_t>(c.n_routed_experts);
      const auto H = static_cast<size_t>(c.hidden_size);
      const auto I = static_cast<size_t>(c.moe_intermediate_size);
      s.push_back(UploadF32(*w.moe.gate, &e.gate));
      s.push_back(UploadF32(*w.moe.score_bias, &e.score_bias));
      e.up.resize(E);
      e.down.resize(E);
      for (size_t x = 0; x < E && s.back().ok(); ++x) {
        if (w.moe.up_fused != nullptr) {
          s.push_back(UploadBf16(*w.moe.up_fused, x * I * H, I * H, &e.up[x]));
          s.push_back(UploadBf16(*w.moe.down_fused, x * H * I, H * I, &e.down[x]));
        } else {
          s.push_back(UploadBf16(*w.moe.up[x], &e.up[x]));
          s.push_back(UploadBf16(*w.moe.down[x], &e.down[x]));
        }
      }
      if (s.back().ok()) s.push_back(UploadTables(&e));
      if (w.moe.shared_up != nullptr) {
        s.push_back(UploadBf16(*w.moe.shared_up, &e.shared_up));
        s.push_back(UploadBf16(*w.moe.shared_down, &e.shared_down));
      }
      break;
    }
    case BlockType::kMlp:
      s.push_back(UploadBf16(*w.mlp.up, &out->mlp.up));
      s.push_back(UploadBf16(*w.mlp.down, &out->mlp.down));
      break;
  }
  for (const absl::Status& x : s) {
    if (!x.ok()) return x;
  }
  return absl::OkStatus();
}

// ---- Sequences ----

// One device allocation of StateBytes(capacity), zeroed, carved per layer.
struct CudaSequence : engine::Sequence {
  // Frees the memory under the backend's step lock (no cudaFree while a step is captured); the
  // lock is shared, so a sequence may outlive its backend.
  ~CudaSequence() override {
    if (device_mu == nullptr) return;
    std::lock_guard<std::mutex> lock(*device_mu);
    memory = DeviceBuffer();
  }
  std::shared_ptr<std::mutex> device_mu;
  int64_t capacity = 0;
  DeviceBuffer memory;
  std::vector<float*> conv, ssm, keys, values;  // per layer; null where the layer keeps none
};

// Carves `memory` for config c, in the order StateBytes counts it.
void Carve(const ModelConfig& c, CudaSequence* s) {
  const size_t layers = c.layers.size();
  s->conv.assign(layers, nullptr);
  s->ssm.assign(layers, nullptr);
  s->keys.assign(layers, nullptr);
  s->values.assign(layers, nullptr);
  float* at = s->memory.as<float>();
  const auto kv = static_cast<size_t>(c.num_key_value_heads * c.head_dim);
  for (size_t i = 0; i < layers; ++i) {
    if (c.layers[i] == BlockType::kMamba) {
      s->conv[i] = at;
      at += c.conv_dim() * (c.conv_kernel - 1);
      s->ssm[i] = at;
      at += c.d_inner() * c.ssm_state_size;
    } else if (c.layers[i] == BlockType::kAttention) {
      s->keys[i] = at;
      at += kv * static_cast<size_t>(s->capacity);
      s->values[i] = at;
      at += kv * static_cast<size_t>(s->capacity);
    }
  }
}

// ---- The step's scratch memory ----

// Bump allocation in one device buffer that grows to the largest step seen.
class Workspace {
 public:
  // Starts a plan; Take then hands out aligned pieces of `bytes` until Commit.
  void Begin() { used_ = 0; }
  template <typename T>
  T* Take(size_t count) {
    const size_t at = used_;
    used_ = (used_ + count * sizeof(T) + 255) / 256 * 256;
    return base_ == nullptr ? nullptr : reinterpret_cast<T*>(base_ + at);
  }
  size_t used() const { return used_; }
  const char* base() const { return base_; }
  // Makes room for what the last plan took; pointers from it are void when this reallocates,
  // so plan twice: once to size, once to use.
  absl::Status Reserve(size_t bytes) {
    if (absl::Status s = buffer_.Grow(bytes, "the step's workspace"); !s.ok()) return s;
    base_ = buffer_.as<char>();
    return absl::OkStatus();
  }

 private:
  DeviceBuffer buffer_;
  char* base_ = nullptr;
  size_t used_ = 0;
};

class CudaModel final : public engine::Backend {
 public:
  static absl::StatusOr<std::unique_ptr<engine::Backend>> Load(const std::string& dir,
                                                               const CudaOptions& options);
  static absl::StatusOr<std::unique_ptr<engine::Backend>> Synthesize(ModelConfig config,
                                                                     uint64_t seed,
                                                                     const CudaOptions& options);
  ~CudaModel() override {
    cudaSetDevice(device_);
    DropGraphs();
    DestroyBlas(blas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  const ModelConfig& config() const override { return config_; }
  std::string Describe() const override { return description_; }
  uint64_t SequenceBytes(int64_t tokens) const override {
    return engine::StateBytes(config_, tokens);
  }
  absl::StatusOr<std::unique_ptr<engine::Sequence>> StartSequence(int64_t tokens) const override;
  absl::StatusOr<std::unique_ptr<engine::Sequence>> Fork(
      const engine::Sequence& sequence) const override;
  absl::StatusOr<std::vector<float>> Step(std::span<const engine::StepItem> items) const override;
  absl::Status Reserve(size_t rows, size_t logit_rows, uint64_t state_bytes) const override;
  absl::Status Fault() const override {
    std::lock_guard<std::mutex> lock(fault_mu_);
    return fault_;
  }

 private:
  // The device, stream and cuBLAS handle for `config`, no weights yet.
  static absl::StatusOr<std::unique_ptr<CudaModel>> Create(ModelConfig config,
                                                           const CudaOptions& options);
  absl::StatusOr<std::vector<float>> Run(std::span<const engine::StepItem> items) const;
  // Pointers into the workspace for a step of n rows, m of them with logits.
  struct Scratch {
    float *h, *x, *mixed;
    Bf16* xb;  // a product's input rows, the widest input
    float *zxbcdt, *conv, *dt, *y;
    float *q, *k, *v, *o;
    int attn_splits;
    float* attn_partial;
    float *router, *weight, *mid, *res, *expert_out, *shared_mid, *shared;
    int32_t *chosen, *slots;
    Bf16 *gathered, *mid_b;
    float* mlp_mid;
    float *normed, *logits;
    int32_t* ints;     // ids [n], pos [n], seen [n], logit rows [m]
    float** pointers;  // per layer: conv [n], ssm [n] or keys [n], values [n]
  };
  Scratch Plan(size_t n, size_t m) const;
  absl::Status Layer(size_t i, size_t n, const Scratch& s, float* const* p0, float* const* p1,
                     const int32_t* pos, const int32_t* seen) const;
  absl::Status Moe(const MoeOnDevice& w, size_t n, const Scratch& s) const;
  absl::Status DeviceExperts(const MoeOnDevice& w, size_t n, const Scratch& s) const;
  absl::Status GroupedExperts(const MoeOnDevice& w, size_t n, const Scratch& s) const;
  // Whether a step of n rows runs its routed experts on the device alone (DeviceExperts): up to
  // kDeviceMoeRows rows, where reading each (row, choice)'s expert apart costs little more than
  // grouping (8 rows choosing 6 of 128 experts: 48 reads for about 41 distinct experts), and
  // the step needs no synchronisation, so that it can be a CUDA graph.
  bool DeviceMoe(size_t n) const {
    return n <= kDeviceMoeRows && config_.hidden_size <= kMaxExpertGemvWidth &&
           config_.moe_intermediate_size <= kMaxExpertGemvWidth;
  }
  static constexpr size_t kDeviceMoeRows = 8;
  // The step's work on the stream, from the ids in the workspace to the logits: the layers, and
  // the hidden states items ask for (read back as they pass; none when items is empty).
  absl::Status Forward(size_t n, size_t m, const Scratch& s,
                       std::span<const engine::StepItem> items,
                       const std::vector<int32_t>& first_row) const;
  // Forward for n rows and m logit rows as a CUDA graph, captured at the second step of that
  // shape and replayed after: one launch instead of hundreds. Graphs hold the workspace's
  // addresses and the weights'; what changes from step to step (ids, positions, state
  // pointers) is read from the workspace, written before the launch.
  absl::Status LaunchGraph(size_t n, size_t m, const Scratch& s) const;
  void DropGraphs() const;
  // workspace_.Reserve, dropping the graphs when the workspace moves (they hold its addresses).
  absl::Status ReserveWorkspace(size_t bytes) const {
    const char* before = workspace_.base();
    absl::Status s = workspace_.Reserve(bytes);
    if (workspace_.base() != before) DropGraphs();
    return s;
  }

 public:
  // The CUDA graphs held now (tests and diagnostics).
  size_t GraphCount() const;

 private:
  ModelConfig config_;
  int device_ = 0;
  int multiprocessors_ = 1;
  std::string description_;
  cudaStream_t stream_ = nullptr;
  BlasHandle blas_ = nullptr;
  // cuBLAS's scratch, given to it so that it allocates none while a step is captured.
  static constexpr size_t kBlasWorkspace = size_t{32} << 20;
  DeviceBuffer blas_workspace_;
  DeviceBuffer embeddings_, norm_f_, lm_head_;
  std::vector<LayerOnDevice> layers_;
  // One step at a time: the stream, the workspace and the graphs are shared. StartSequence,
  // Fork and the sequences' frees take it too, so that no other work of this backend touches
  // the device while a step is captured.
  std::shared_ptr<std::mutex> step_mu_ = std::make_shared<std::mutex>();
  mutable Workspace workspace_;
  mutable bool use_graphs_ = true;  // false from the start (options) or after a failed capture
  mutable std::set<std::pair<size_t, size_t>> shapes_seen_;  // (rows, logit rows) run eagerly
  mutable std::map<std::pair<size_t, size_t>, cudaGraphExec_t> graphs_;  // by (rows, logit rows)
  mutable std::mutex fault_mu_;
  mutable absl::Status fault_;  // the first device error (INTERNAL); OK before any
};

absl::StatusOr<std::unique_ptr<CudaModel>> CudaModel::Create(ModelConfig config,
                                                             const CudaOptions& options) {
  if (absl::Status s = CudaAvailable(); !s.ok()) return s;
  const ModelConfig& c = config;
  if (c.ssm_state_size > 256 || c.head_dim > 256 || c.n_routed_experts > 1024 ||
      c.conv_kernel > 8) {
    return absl::InvalidArgumentError(
        "the CUDA backend takes ssm_state_size and head_dim up to 256, up to 1024 experts and "
        "conv_kernel up to 8");
  }
  // The kernels map heads to groups and KV heads by division (config validation checks these
  // too; a backend does not rely on it).
  if ((c.has(BlockType::kMamba) &&
       (c.n_groups <= 0 || c.mamba_num_heads % c.n_groups != 0 || c.d_inner() % c.n_groups != 0)) ||
      (c.has(BlockType::kAttention) &&
       (c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads != 0)) ||
      (c.has(BlockType::kMoe) && c.num_experts_per_tok > c.n_routed_experts)) {
    return absl::InvalidArgumentError(
        "the CUDA backend needs mamba_num_heads and d_inner divisible by n_groups, "
        "num_attention_heads by num_key_value_heads, and num_experts_per_tok <= n_routed_experts");
  }
  std::unique_ptr<CudaModel> m(new CudaModel());
  m->config_ = std::move(config);
  m->device_ = options.device;
  if (cudaSetDevice(options.device) != cudaSuccess)
    return CudaCheck(Cat("device ", options.device));
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, options.device);
  m->multiprocessors_ = prop.multiProcessorCount;
  m->description_ = Cat("cuda: ", prop.name, ", sm_", prop.major, prop.minor, ", ",
                        prop.totalGlobalMem >> 30, " GiB");
  // A stream that does not wait for the default one (a capture on it would fail if another
  // thread's work on the default stream joined it): the weight uploads end with a device-wide
  // synchronisation, and StartSequence and Fork work on this stream.
  if (cudaStreamCreateWithFlags(&m->stream_, cudaStreamNonBlocking) != cudaSuccess) {
    return CudaCheck("creating a stream");
  }
  if (absl::Status s = CreateBlas(&m->blas_, m->stream_); !s.ok()) return s;
  if (absl::Status s =
          DeviceBuffer::Allocate(kBlasWorkspace, "cuBLAS's workspace", &m->blas_workspace_);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          SetBlasWorkspace(m->blas_, m->blas_workspace_.data(), m->blas_workspace_.bytes());
      !s.ok()) {
    return s;
  }
  m->layers_.resize(m->config_.layers.size());
  m->use_graphs_ = options.graphs;
  return m;
}

absl::StatusOr<std::unique_ptr<engine::Backend>> CudaModel::Load(const std::string& dir,
                                                                 const CudaOptions& options) {
  if (absl::Status s = CudaAvailable(); !s.ok()) return s;  // before reading anything
  auto config = engine::LoadModelConfig((std::filesystem::path(dir) / "config.json").string());
  if (!config.ok()) return config.status();
  auto store = engine::TensorStore::Open(dir);
  if (!store.ok()) return store.status();
  auto weights = engine::BindWeights(*config, **store);
  if (!weights.ok()) return weights.status();
  auto m = Create(*std::move(config), options);
  if (!m.ok()) return m.status();
  if (absl::Status s = UploadBf16(*weights->embeddings, &(*m)->embeddings_); !s.ok()) return s;
  if (absl::Status s = UploadF32(*weights->norm_f, &(*m)->norm_f_); !s.ok()) return s;
  if (absl::Status s = UploadBf16(*weights->lm_head, &(*m)->lm_head_); !s.ok()) return s;
  for (size_t i = 0; i < weights->layers.size(); ++i) {
    if (absl::Status s = Upload((*m)->config_, weights->layers[i], &(*m)->layers_[i]); !s.ok()) {
      return s;
    }
  }
  // Pageable copies may still be in flight on the default stream when they return.
  if (absl::Status s = Synchronize(nullptr, "uploading the weights"); !s.ok()) return s;
  return std::unique_ptr<engine::Backend>(*std::move(m));
}

// Random weights on the device in the ranges engine/synth.h gives them (uniform here, with the
// same spreads): numerically tame, every path taken, nothing read from disk.
absl::StatusOr<std::unique_ptr<engine::Backend>> CudaModel::Synthesize(ModelConfig config,
                                                                       uint64_t seed,
                                                                       const CudaOptions& options) {
  auto made = Create(std::move(config), options);
  if (!made.ok()) return made.status();
  CudaModel& m = **made;
  const ModelConfig& c = m.config_;
  uint64_t stream = seed * 0x100000001b3ull;
  // A projection [rows][cols]: std 0.02 / sqrt(fan_in / 64), as a uniform of that spread
  // (fan_in: cols, or what is given for the embeddings, whose rows are read, not multiplied).
  const auto matrix = [&](DeviceBuffer* out, int64_t rows, int64_t cols, int64_t fan_in = 0) {
    const auto count = static_cast<size_t>(rows * cols);
    if (absl::Status s = DeviceBuffer::Allocate(count * sizeof(Bf16), "synthetic weights", out);
        !s.ok()) {
      return s;
    }
    const float a =
        0.02f * std::sqrt(3.0f) / std::sqrt(static_cast<float>(fan_in > 0 ? fan_in : cols) / 64.0f);
    FillRandomBf16(out->as<Bf16>(), static_cast<int64_t>(count), ++stream, -a, a, m.stream_);
    return CudaCheck("synthesizing weights");
  };
  const auto vec = [&](DeviceBuffer* out, int64_t count, float lo, float hi, Fill fill) {
    if (absl::Status s = DeviceBuffer::Allocate(static_cast<size_t>(count) * sizeof(float),
                                                "synthetic weights", out);
        !s.ok()) {
      return s;
    }
    FillRandom(out->as<float>(), count, ++stream, lo, hi, fill, m.stream_);
    return CudaCheck("synthesizing weights");
  };
  const int64_t H = c.hidden_size;
  std::vector<absl::Status> s;
  s.push_back(matrix(&m.embeddings_, c.vocab_size, H, 64));  // embeddings of std 0.02
  s.push_back(vec(&m.norm_f_, H, 0.83f, 1.17f, Fill::kUniform));
  s.push_back(matrix(&m.lm_head_, c.vocab_size, H));
  for (size_t i = 0; i < c.layers.size() && s.back().ok(); ++i) {
    LayerOnDevice& L = m.layers_[i];
    L.type = c.layers[i];
    s.push_back(vec(&L.norm, H, 0.83f, 1.17f, Fill::kUniform));
    switch (L.type) {
      case BlockType::kMamba: {
        MambaOnDevice& w = L.mamba;
        const int64_t heads = c.mamba_num_heads;
        s.push_back(matrix(&w.in_proj, c.in_proj_dim(), H));
        s.push_back(matrix(&w.out_proj, H, c.d_inner()));
        s.push_back(
            vec(&w.conv_weight, c.conv_dim() * c.conv_kernel, -0.14f, 0.14f, Fill::kUniform));
        if (c.use_conv_bias)
          s.push_back(vec(&w.conv_bias, c.conv_dim(), -0.17f, 0.17f, Fill::kUniform));
        s.push_back(vec(&w.dt_bias, heads, 0.001f, 0.1f, Fill::kInverseSoftplus));
        s.push_back(vec(&w.a_log, heads, 1.0f, 16.0f, Fill::kLog));
        s.push_back(vec(&w.d, heads, 0.5f, 1.5f, Fill::kUniform));
        s.push_back(vec(&w.norm, c.d_inner(), 0.83f, 1.17f, Fill::kUniform));
        break;
      }
      case BlockType::kAttention: {
        AttentionOnDevice& w = L.attention;
        const int64_t q = c.num_attention_heads * c.head_dim,
                      kv = c.num_key_value_heads * c.head_dim;
        s.push_back(matrix(&w.q, q, H));
        s.push_back(matrix(&w.k, kv, H));
        s.push_back(matrix(&w.v, kv, H));
        s.push_back(matrix(&w.o, H, q));
        break;
      }
      case BlockType::kMoe: {
        MoeOnDevice& w = L.moe;
        const int64_t E = c.n_routed_experts, I = c.moe_intermediate_size;
        const float a = 0.02f * std::sqrt(3.0f) / std::sqrt(static_cast<float>(H) / 64.0f);
        s.push_back(vec(&w.gate, E * H, -a, a, Fill::kUniform));
        s.push_back(vec(&w.score_bias, E, 0.0f, 0.1f, Fill::kUniform));
        w.up.resize(static_cast<size_t>(E));
        w.down.resize(static_cast<size_t>(E));
        for (size_t e = 0; e < static_cast<size_t>(E) && s.back().ok(); ++e) {
          s.push_back(matrix(&w.up[e], I, H));
          s.push_back(matrix(&w.down[e], H, I));
        }
        if (s.back().ok()) s.push_back(UploadTables(&w));
        if (c.n_shared_experts > 0) {
          s.push_back(matrix(&w.shared_up, c.moe_shared_expert_intermediate_size, H));
          s.push_back(matrix(&w.shared_down, H, c.moe_shared_expert_intermediate_size));
        }
        break;
      }
      case BlockType::kMlp:
        s.push_back(matrix(&L.mlp.up, c.intermediate_size, H));
        s.push_back(matrix(&L.mlp.down, H, c.intermediate_size));
        break;
    }
  }
  for (const absl::Status& x : s) {
    if (!x.ok()) return x;
  }
  if (absl::Status st = Synchronize(m.stream_, "synthesizing weights"); !st.ok()) return st;
  if (absl::Status st = Synchronize(nullptr, "uploading the experts' addresses"); !st.ok())
    return st;
  return std::unique_ptr<engine::Backend>(*std::move(made));
}

absl::StatusOr<std::unique_ptr<engine::Sequence>> CudaModel::StartSequence(int64_t tokens) const {
  auto s = std::make_unique<CudaSequence>();  // before the lock: freed after it on failure
  s->capacity = std::max<int64_t>(0, tokens);
  {
    std::lock_guard<std::mutex> lock(*step_mu_);
    cudaSetDevice(device_);
    if (absl::Status st = DeviceBuffer::Allocate(
            SequenceBytes(s->capacity), Cat("a sequence of ", s->capacity, " tokens"), &s->memory);
        !st.ok()) {
      return st;
    }
    cudaMemsetAsync(s->memory.data(), 0, s->memory.bytes(), stream_);
    if (absl::Status st = Synchronize(stream_, "clearing a sequence's state"); !st.ok()) return st;
  }
  s->device_mu = step_mu_;
  Carve(config_, s.get());
  return s;
}

absl::StatusOr<std::unique_ptr<engine::Sequence>> CudaModel::Fork(
    const engine::Sequence& sequence) const {
  const auto& from = static_cast<const CudaSequence&>(sequence);
  auto s = StartSequence(from.capacity);
  if (!s.ok()) return s.status();
  auto* to = static_cast<CudaSequence*>(s->get());
  {
    std::lock_guard<std::mutex> lock(*step_mu_);
    cudaSetDevice(device_);
    if (absl::Status st =
            CopyOnDevice(to->memory.data(), from.memory.data(), from.memory.bytes(), stream_);
        !st.ok()) {
      return st;
    }
    if (absl::Status st = Synchronize(stream_, "copying a sequence's state"); !st.ok()) return st;
    to->position = from.position;  // under the lock, as steps advance it
  }
  return s;
}

CudaModel::Scratch CudaModel::Plan(size_t n, size_t m) const {
  const ModelConfig& c = config_;
  const auto H = static_cast<size_t>(c.hidden_size);
  const auto q_dim = static_cast<size_t>(c.num_attention_heads * c.head_dim);
  const auto kv_dim = static_cast<size_t>(c.num_key_value_heads * c.head_dim);
  const auto k = static_cast<size_t>(c.num_experts_per_tok);
  const auto I = static_cast<size_t>(c.moe_intermediate_size);
  const auto SI = static_cast<size_t>(c.moe_shared_expert_intermediate_size);
  const size_t widest = std::max(
      {H, static_cast<size_t>(c.d_inner()), q_dim, static_cast<size_t>(c.intermediate_size), SI});
  Scratch s{};
  Workspace& w = workspace_;
  w.Begin();
  s.h = w.Take<float>(n * H);
  s.x = w.Take<float>(n * H);
  s.mixed = w.Take<float>(n * H);
  s.xb = w.Take<Bf16>(n * widest);
  if (c.has(BlockType::kMamba)) {
    s.zxbcdt = w.Take<float>(n * static_cast<size_t>(c.in_proj_dim()));
    s.conv = w.Take<float>(n * static_cast<size_t>(c.conv_dim()));
    s.dt = w.Take<float>(n * static_cast<size_t>(c.mamba_num_heads));
    s.y = w.Take<float>(n * static_cast<size_t>(c.d_inner()));
  }
  if (c.has(BlockType::kAttention)) {
    s.q = w.Take<float>(n * q_dim);
    s.k = w.Take<float>(n * kv_dim);
    s.v = w.Take<float>(n * kv_dim);
    s.o = w.Take<float>(n * q_dim);
    const int heads = static_cast<int>(c.num_attention_heads);
    s.attn_splits = AttentionSplits(static_cast<int>(n), heads, multiprocessors_);
    s.attn_partial = w.Take<float>(AttentionPartialFloats(
        static_cast<int>(n), heads, static_cast<int>(c.head_dim), s.attn_splits));
  }
  if (c.has(BlockType::kMoe)) {
    s.router = w.Take<float>(n * static_cast<size_t>(c.n_routed_experts));
    s.chosen = w.Take<int32_t>(n * k);
    s.weight = w.Take<float>(n * k);
    s.slots = w.Take<int32_t>(n * k);
    s.gathered = w.Take<Bf16>(n * k * H);
    s.mid = w.Take<float>(n * k * std::max(I, SI));
    s.mid_b = w.Take<Bf16>(n * k * std::max(I, SI));
    s.res = w.Take<float>(n * k * H);
    s.expert_out = w.Take<float>(n * k * H);
    s.shared_mid = w.Take<float>(n * SI);
    s.shared = w.Take<float>(n * H);
  }
  if (c.has(BlockType::kMlp)) {
    s.mlp_mid = w.Take<float>(n * static_cast<size_t>(c.intermediate_size));
  }
  s.normed = w.Take<float>(m * H);
  s.logits = w.Take<float>(m * static_cast<size_t>(c.vocab_size));
  s.ints = w.Take<int32_t>(3 * n + m);
  s.pointers = w.Take<float*>(2 * n * c.layers.size());
  return s;
}

absl::Status CudaModel::Reserve(size_t rows, size_t logit_rows, uint64_t state_bytes) const {
  std::lock_guard<std::mutex> lock(*step_mu_);
  cudaSetDevice(device_);
  // The largest plan: `rows` rows, or a small (graphed) step, whose attention partials may
  // take more than a larger step's.
  size_t workspace = 0;
  for (size_t n = 1; n <= rows; n = n < kDeviceMoeRows ? n + 1 : std::max(n + 1, rows)) {
    Plan(n, std::min(n, logit_rows));
    workspace = std::max(workspace, workspace_.used());
  }
  if (absl::Status s = ReserveWorkspace(workspace); !s.ok()) return s;
  size_t free = 0, total = 0;
  if (absl::Status s = DeviceMemory(&free, &total); !s.ok()) return s;
  if (free < state_bytes) {
    return absl::ResourceExhaustedError(
        Cat("the GPU has ", free >> 20, " MiB free after the weights and the workspace of a ", rows,
            "-token step (", workspace >> 20, " MiB), less than the ", state_bytes >> 20,
            " MiB of sequence state asked for (engine.state_memory_mb)"));
  }
  return absl::OkStatus();
}

absl::Status CudaModel::Moe(const MoeOnDevice& w, size_t n, const Scratch& s) const {
  const ModelConfig& c = config_;
  const int H = static_cast<int>(c.hidden_size), E = static_cast<int>(c.n_routed_experts);
  const int k = static_cast<int>(c.num_experts_per_tok);
  const int rows = static_cast<int>(n);
  if (absl::Status st = GemmF32(blas_, w.gate.as<float>(), E, H, s.x, rows, s.router); !st.ok()) {
    return st;
  }
  MoeRoute(s.router, w.score_bias.as<float>(), rows, E, k, c.norm_topk_prob,
           static_cast<float>(c.routed_scaling_factor), s.chosen, s.weight, stream_);
  if (absl::Status st = DeviceMoe(n) ? DeviceExperts(w, n, s) : GroupedExperts(w, n, s); !st.ok())
    return st;
  const float* shared = nullptr;
  if (w.shared_up.data() != nullptr) {
    const int SI = static_cast<int>(c.moe_shared_expert_intermediate_size);
    ToBf16(s.x, s.xb, static_cast<int64_t>(n) * H, false, stream_);
    if (absl::Status st = Gemm(blas_, w.shared_up.as<Bf16>(), SI, H, s.xb, rows, s.shared_mid);
        !st.ok()) {
      return st;
    }
    ToBf16(s.shared_mid, s.mid_b, static_cast<int64_t>(n) * SI, true, stream_);
    if (absl::Status st = Gemm(blas_, w.shared_down.as<Bf16>(), H, SI, s.mid_b, rows, s.shared);
        !st.ok()) {
      return st;
    }
    shared = s.shared;
  }
  MoeCombine(s.expert_out, s.weight, shared, rows, k, H, s.mixed, stream_);
  return CudaCheck("MoE");
}

// The routed experts on the device alone (small steps): one product per (row, choice).
absl::Status CudaModel::DeviceExperts(const MoeOnDevice& w, size_t n, const Scratch& s) const {
  const ModelConfig& c = config_;
  const int H = static_cast<int>(c.hidden_size), I = static_cast<int>(c.moe_intermediate_size);
  const int k = static_cast<int>(c.num_experts_per_tok);
  const int pairs = static_cast<int>(n) * k;
  ExpertsUp(w.up_table.as<const Bf16*>(), s.chosen, s.x, pairs, k, I, H, s.mid_b, stream_);
  ExpertsDown(w.down_table.as<const Bf16*>(), s.chosen, s.mid_b, pairs, H, I, s.expert_out,
              stream_);
  return absl::OkStatus();
}

// The routed experts as one cuBLAS product per chosen expert over the rows that chose it,
// grouped on the host (a synchronisation per layer).
absl::Status CudaModel::GroupedExperts(const MoeOnDevice& w, size_t n, const Scratch& s) const {
  const ModelConfig& c = config_;
  const int H = static_cast<int>(c.hidden_size), E = static_cast<int>(c.n_routed_experts);
  const int k = static_cast<int>(c.num_experts_per_tok);
  const int I = static_cast<int>(c.moe_intermediate_size);
  // The experts' rows, grouped by expert on the host: slot j * k + r of row j.
  std::vector<int32_t> chosen(n * static_cast<size_t>(k));
  if (absl::Status st = CopyToHostAsync(chosen.data(), s.chosen, chosen.size() * 4, stream_);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = Synchronize(stream_, "MoE routing"); !st.ok()) return st;
  std::vector<std::vector<int32_t>> users(static_cast<size_t>(E));
  for (size_t slot = 0; slot < chosen.size(); ++slot) {
    users[static_cast<size_t>(chosen[slot])].push_back(static_cast<int32_t>(slot));
  }
  std::vector<int32_t> slots;
  std::vector<std::pair<int, int>> runs;  // (expert, first slot index in `slots`)
  for (int e = 0; e < E; ++e) {
    if (users[static_cast<size_t>(e)].empty()) continue;
    runs.emplace_back(e, static_cast<int>(slots.size()));
    slots.insert(slots.end(), users[static_cast<size_t>(e)].begin(),
                 users[static_cast<size_t>(e)].end());
  }
  if (absl::Status st = CopyToDeviceAsync(s.slots, slots.data(), slots.size() * 4, stream_);
      !st.ok()) {
    return st;
  }
  const int total = static_cast<int>(slots.size());
  GatherBf16(s.x, s.slots, k, total, H, s.gathered, stream_);
  for (size_t r = 0; r < runs.size(); ++r) {
    const auto [e, first] = runs[r];
    const int count = (r + 1 < runs.size() ? runs[r + 1].second : total) - first;
    if (absl::Status st = Gemm(blas_, w.up[static_cast<size_t>(e)].as<Bf16>(), I, H,
                               s.gathered + static_cast<size_t>(first) * H, count,
                               s.mid + static_cast<size_t>(first) * I);
        !st.ok()) {
      return st;
    }
  }
  ToBf16(s.mid, s.mid_b, static_cast<int64_t>(total) * I, /*relu2=*/true, stream_);
  for (size_t r = 0; r < runs.size(); ++r) {
    const auto [e, first] = runs[r];
    const int count = (r + 1 < runs.size() ? runs[r + 1].second : total) - first;
    if (absl::Status st = Gemm(blas_, w.down[static_cast<size_t>(e)].as<Bf16>(), H, I,
                               s.mid_b + static_cast<size_t>(first) * I, count,
                               s.res + static_cast<size_t>(first) * H);
        !st.ok()) {
      return st;
    }
  }
  Scatter(s.res, s.slots, total, H, s.expert_out, stream_);
  return absl::OkStatus();
}

// Layer i's mixer from s.x (normed rows) into s.mixed. p0 / p1: the rows' conv and SSM states
// (Mamba) or keys and values (attention).
absl::Status CudaModel::Layer(size_t i, size_t n, const Scratch& s, float* const* p0,
                              float* const* p1, const int32_t* pos, const int32_t* seen) const {
  const ModelConfig& c = config_;
  const LayerOnDevice& L = layers_[i];
  const int H = static_cast<int>(c.hidden_size);
  const int rows = static_cast<int>(n);
  switch (L.type) {
    case BlockType::kMamba: {
      const MambaOnDevice& w = L.mamba;
      const int d_inner = static_cast<int>(c.d_inner()), conv_dim = static_cast<int>(c.conv_dim());
      const int in_dim = static_cast<int>(c.in_proj_dim()),
                heads = static_cast<int>(c.mamba_num_heads);
      ToBf16(s.x, s.xb, static_cast<int64_t>(n) * H, false, stream_);
      if (absl::Status st = Gemm(blas_, w.in_proj.as<Bf16>(), in_dim, H, s.xb, rows, s.zxbcdt);
          !st.ok()) {
        return st;
      }
      ConvSilu(s.zxbcdt + d_inner, in_dim, rows, conv_dim, static_cast<int>(c.conv_kernel),
               w.conv_weight.as<float>(), w.conv_bias.as<float>(), p0, s.conv, stream_);
      DtSoftplus(s.zxbcdt + d_inner + conv_dim, in_dim, rows, heads, w.dt_bias.as<float>(),
                 static_cast<float>(c.time_step_limit_min),
                 static_cast<float>(c.time_step_limit_max), s.dt, stream_);
      SsmScan(s.conv, conv_dim, s.dt, w.a_log.as<float>(), w.d.as<float>(), rows, heads,
              static_cast<int>(c.mamba_head_dim), static_cast<int>(c.ssm_state_size),
              static_cast<int>(c.n_groups), p1, s.y, stream_);
      GatedRmsNorm(s.y, s.zxbcdt, in_dim, w.norm.as<float>(), rows, d_inner,
                   static_cast<int>(c.n_groups), static_cast<float>(c.norm_eps), stream_);
      ToBf16(s.y, s.xb, static_cast<int64_t>(n) * d_inner, false, stream_);
      return Gemm(blas_, w.out_proj.as<Bf16>(), H, d_inner, s.xb, rows, s.mixed);
    }
    case BlockType::kAttention: {
      const AttentionOnDevice& w = L.attention;
      const int heads = static_cast<int>(c.num_attention_heads);
      const int kv_heads = static_cast<int>(c.num_key_value_heads),
                hd = static_cast<int>(c.head_dim);
      ToBf16(s.x, s.xb, static_cast<int64_t>(n) * H, false, stream_);
      for (auto [weight, out, dim] :
           {std::tuple{&w.q, s.q, heads * hd}, std::tuple{&w.k, s.k, kv_heads * hd},
            std::tuple{&w.v, s.v, kv_heads * hd}}) {
        if (absl::Status st = Gemm(blas_, weight->as<Bf16>(), dim, H, s.xb, rows, out); !st.ok()) {
          return st;
        }
      }
      AppendKv(s.k, s.v, rows, kv_heads * hd, p0, p1, pos, stream_);
      Attention(s.q, rows, heads, kv_heads, hd, p0, p1, seen, s.attn_splits, s.attn_partial, s.o,
                stream_);
      ToBf16(s.o, s.xb, static_cast<int64_t>(n) * heads * hd, false, stream_);
      return Gemm(blas_, w.o.as<Bf16>(), H, heads * hd, s.xb, rows, s.mixed);
    }
    case BlockType::kMoe:
      return Moe(L.moe, n, s);
    case BlockType::kMlp: {
      const int inter = static_cast<int>(c.intermediate_size);
      ToBf16(s.x, s.xb, static_cast<int64_t>(n) * H, false, stream_);
      if (absl::Status st = Gemm(blas_, L.mlp.up.as<Bf16>(), inter, H, s.xb, rows, s.mlp_mid);
          !st.ok()) {
        return st;
      }
      ToBf16(s.mlp_mid, s.xb, static_cast<int64_t>(n) * inter, true, stream_);
      return Gemm(blas_, L.mlp.down.as<Bf16>(), H, inter, s.xb, rows, s.mixed);
    }
  }
  return absl::OkStatus();
}

// A device error fails the step and marks the backend unfit for good (Fault): the sequences of
// the step are in an unknown state, and a sticky error would fail every later step too.
absl::StatusOr<std::vector<float>> CudaModel::Step(std::span<const engine::StepItem> items) const {
  if (absl::Status fault = Fault(); !fault.ok()) {
    return absl::UnavailableError(Cat("the CUDA backend failed earlier: ", fault.message()));
  }
  absl::StatusOr<std::vector<float>> result = Run(items);
  if (result.status().code() == absl::StatusCode::kInternal) {
    std::lock_guard<std::mutex> lock(fault_mu_);
    if (fault_.ok()) fault_ = result.status();
  }
  return result;
}

absl::StatusOr<std::vector<float>> CudaModel::Run(std::span<const engine::StepItem> items) const {
  const ModelConfig& c = config_;
  if (absl::Status s = engine::CheckStepItems(c, items); !s.ok()) return s;
  for (size_t it = 0; it < items.size(); ++it) {
    const auto& seq = static_cast<const CudaSequence&>(*items[it].sequence);
    const int64_t end = seq.position + static_cast<int64_t>(items[it].tokens.size());
    if (end > seq.capacity) {
      return absl::ResourceExhaustedError(Cat("sequence ", it, ": ", end, " tokens exceed the ",
                                              seq.capacity, " its state was started with"));
    }
  }
  const size_t layers = c.layers.size();
  const auto V = static_cast<size_t>(c.vocab_size);
  // The rows: ids, positions, and for each layer the rows' state pointers.
  std::vector<int32_t> ids, pos, logit_rows, first_row;
  std::vector<const CudaSequence*> seqs;
  for (const engine::StepItem& item : items) {
    const auto& seq = static_cast<const CudaSequence&>(*item.sequence);
    first_row.push_back(static_cast<int32_t>(ids.size()));
    for (size_t t = 0; t < item.tokens.size(); ++t) {
      if (item.logits == engine::Logits::kAll ||
          (item.logits == engine::Logits::kLast && t + 1 == item.tokens.size())) {
        logit_rows.push_back(static_cast<int32_t>(ids.size()));
      }
      ids.push_back(item.tokens[t]);
      pos.push_back(static_cast<int32_t>(seq.position + static_cast<int64_t>(t)));
      seqs.push_back(&seq);
    }
  }
  const size_t n = ids.size(), m = logit_rows.size();
  if (n == 0) return std::vector<float>();
  std::vector<int32_t> ints = ids;
  ints.insert(ints.end(), pos.begin(), pos.end());
  for (int32_t p : pos) ints.push_back(p + 1);  // seen
  ints.insert(ints.end(), logit_rows.begin(), logit_rows.end());
  std::vector<float*> pointers(2 * n * layers, nullptr);
  for (size_t i = 0; i < layers; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const bool mamba = c.layers[i] == BlockType::kMamba;
      pointers[(2 * i) * n + j] = mamba ? seqs[j]->conv[i] : seqs[j]->keys[i];
      pointers[(2 * i + 1) * n + j] = mamba ? seqs[j]->ssm[i] : seqs[j]->values[i];
    }
  }

  const bool hidden = std::any_of(items.begin(), items.end(), [](const engine::StepItem& item) {
    return item.hidden_sum != nullptr;
  });

  std::lock_guard<std::mutex> lock(*step_mu_);
  cudaSetDevice(device_);
  Plan(n, m);
  if (absl::Status s = ReserveWorkspace(workspace_.used()); !s.ok()) return s;
  const Scratch s = Plan(n, m);
  if (absl::Status st = CopyToDeviceAsync(s.ints, ints.data(), ints.size() * 4, stream_);
      !st.ok()) {
    return st;
  }
  if (absl::Status st =
          CopyToDeviceAsync(s.pointers, pointers.data(), pointers.size() * sizeof(float*), stream_);
      !st.ok()) {
    return st;
  }
  // Only small steps (decode) replay graphs: a step reading hidden states back midway, or
  // grouping experts on the host, runs eagerly, and so do prompts, whose shapes rarely recur.
  const bool graph =
      use_graphs_ && !hidden && n <= kDeviceMoeRows && (!c.has(BlockType::kMoe) || DeviceMoe(n));
  if (absl::Status st = graph ? LaunchGraph(n, m, s) : Forward(n, m, s, items, first_row);
      !st.ok()) {
    return st;
  }
  std::vector<float> logits(m * V);
  if (m > 0) {
    if (absl::Status st =
            CopyToHostAsync(logits.data(), s.logits, logits.size() * sizeof(float), stream_);
        !st.ok()) {
      return st;
    }
  }
  if (absl::Status st = Synchronize(stream_, "a forward step"); !st.ok()) return st;
  for (const engine::StepItem& item : items) {
    item.sequence->position += static_cast<int64_t>(item.tokens.size());
  }
  return logits;
}

absl::Status CudaModel::Forward(size_t n, size_t m, const Scratch& s,
                                std::span<const engine::StepItem> items,
                                const std::vector<int32_t>& first_row) const {
  const ModelConfig& c = config_;
  const size_t layers = c.layers.size();
  const auto H = static_cast<size_t>(c.hidden_size);
  const auto V = static_cast<size_t>(c.vocab_size);
  const int32_t* d_ids = s.ints;
  const int32_t* d_pos = s.ints + n;
  const int32_t* d_seen = s.ints + 2 * n;
  const int32_t* d_logit_rows = s.ints + 3 * n;
  const int rows = static_cast<int>(n);
  const auto eps = static_cast<float>(c.norm_eps);
  Embed(embeddings_.as<Bf16>(), d_ids, rows, static_cast<int>(H), s.h, stream_);
  std::vector<float> hidden;
  for (size_t i = 0; i < layers; ++i) {
    RmsNorm(s.h, layers_[i].norm.as<float>(), rows, static_cast<int>(H), eps, s.x, stream_);
    if (absl::Status st =
            Layer(i, n, s, s.pointers + 2 * i * n, s.pointers + (2 * i + 1) * n, d_pos, d_seen);
        !st.ok()) {
      return st;
    }
    AddTo(s.h, s.mixed, static_cast<int64_t>(n * H), stream_);
    for (size_t it = 0; it < items.size(); ++it) {
      const engine::StepItem& item = items[it];
      if (item.hidden_sum == nullptr || static_cast<size_t>(item.hidden_layer) != i) continue;
      hidden.resize(item.tokens.size() * H);
      if (absl::Status st =
              CopyToHostAsync(hidden.data(), s.h + static_cast<size_t>(first_row[it]) * H,
                              hidden.size() * sizeof(float), stream_);
          !st.ok()) {
        return st;
      }
      if (absl::Status st = Synchronize(stream_, "reading hidden states"); !st.ok()) return st;
      for (size_t t = 0; t < item.tokens.size(); ++t) {
        for (size_t d = 0; d < H; ++d) item.hidden_sum[d] += hidden[t * H + d];
      }
    }
  }
  if (m == 0) return CudaCheck("a forward step");
  Gather(s.h, d_logit_rows, static_cast<int>(m), static_cast<int>(H), s.normed, stream_);
  RmsNorm(s.normed, norm_f_.as<float>(), static_cast<int>(m), static_cast<int>(H), eps, s.normed,
          stream_);
  ToBf16(s.normed, s.xb, static_cast<int64_t>(m * H), false, stream_);
  if (absl::Status st = Gemm(blas_, lm_head_.as<Bf16>(), static_cast<int>(V), static_cast<int>(H),
                             s.xb, static_cast<int>(m), s.logits);
      !st.ok()) {
    return st;
  }
  return CudaCheck("a forward step");
}

absl::Status CudaModel::LaunchGraph(size_t n, size_t m, const Scratch& s) const {
  const std::pair shape{n, m};
  auto it = graphs_.find(shape);
  if (it == graphs_.end()) {
    // The first step of a shape runs eagerly (it loads the kernels and sets cuBLAS up, neither
    // of which may happen while capturing); the second is captured.
    if (shapes_seen_.insert(shape).second) return Forward(n, m, s, {}, {});
    // Thread-local capture: other threads (other backends on this device) may go on; this
    // backend's own StartSequence, Fork and frees wait for step_mu_.
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    bool captured =
        cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
    if (captured) {
      const absl::Status forward = Forward(n, m, s, {}, {});
      captured = cudaStreamEndCapture(stream_, &graph) == cudaSuccess && forward.ok() &&
                 cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
      if (graph != nullptr) cudaGraphDestroy(graph);
    }
    if (!captured) {
      // Nothing of the step ran: it runs eagerly, and so do later ones. A device fault shows
      // there too.
      cudaGetLastError();
      use_graphs_ = false;
      return Forward(n, m, s, {}, {});
    }
    it = graphs_.emplace(shape, exec).first;
  }
  cudaGraphLaunch(it->second, stream_);
  return CudaCheck("launching a step's CUDA graph");
}

size_t CudaModel::GraphCount() const {
  std::lock_guard<std::mutex> lock(*step_mu_);
  return graphs_.size();
}

void CudaModel::DropGraphs() const {
  for (auto& [shape, exec] : graphs_) cudaGraphExecDestroy(exec);
  graphs_.clear();
}

}  // namespace

absl::Status CudaAvailable() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return absl::UnavailableError(Cat("no CUDA device: ", cudaGetErrorString(e)));
  }
  if (count == 0) return absl::UnavailableError("no CUDA device: the driver reports none");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<engine::Backend>> LoadCudaModel(const std::string& dir,
                                                               const CudaOptions& options) {
  return CudaModel::Load(dir, options);
}

absl::StatusOr<std::unique_ptr<engine::Backend>> SynthesizeCudaModel(
    const engine::ModelConfig& config, uint64_t seed, const CudaOptions& options) {
  return CudaModel::Synthesize(config, seed, options);
}

size_t CudaGraphCount(const engine::Backend& backend) {
  const auto* cuda = dynamic_cast<const CudaModel*>(&backend);
  return cuda == nullptr ? 0 : cuda->GraphCount();
}

}  // namespace airlock::kernels
