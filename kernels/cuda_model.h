// The CUDA backend (engine/backend.h): a Nemotron-H model's forward pass on an NVIDIA GPU.
//
// At load every weight goes to the device once: the matrices as BF16 (converted when the file
// holds F32 or F16), the norms, conv, dt and SSM parameters and the MoE router as FP32. A step
// runs every item's tokens as the rows of one batch through kernels/cuda_ops.h: cuBLAS BF16
// products with FP32 accumulation for every projection (their inputs rounded to BF16), the FP32
// router, FP32 norms, conv, SSM recurrence (FP32 state) and attention over an FP32 KV cache that
// each sequence reserves whole when it starts (Backend::StartSequence), so a sequence never
// grows on the device and one that would is refused (RESOURCE_EXHAUSTED) before anything
// changes. MoE experts run only on the rows that chose them: in steps of up to 8 rows one
// product per (row, choice) with the choices read on the device (ExpertsUp / ExpertsDown), so
// that such a step never waits for the host and is replayed as a CUDA graph captured at the
// second step of its shape (the first runs eagerly); in larger steps one cuBLAS product per chosen
// expert over its rows, grouped on the host (gather, product, scatter).
//
// Against the CPU backend the logits agree up to the BF16 rounding of the products' inputs (the
// gpu tests bound it); a prompt gives the same logits whole or split anywhere, and a row the
// same alone or in a batch, up to the order of summation, which depends on the step's rows
// (cuBLAS's choice of algorithm, the attention's split of the positions, the MoE path); the
// SSM runs the recurrence for prompts too, so prefill_granule() is 1.
//
// Not yet here (issue #7): the chunked SSD scan for long prompts, fused kernels, a paged KV
// cache, sampling on the device in the runtime's loop.
//
// Thread-safety: Step, StartSequence and Fork may be called from any thread; steps run one at a
// time (one stream, one workspace).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/backend.h"

namespace airlock::kernels {

// OK when this build has the CUDA backend and a CUDA device answers; otherwise UNAVAILABLE with
// the reason ("this build has no CUDA backend: the CUDA toolkit was not found when it was
// built", "no CUDA device: ...").
absl::Status CudaAvailable();

struct CudaOptions {
  int device = 0;  // the CUDA device index
  // Replay steps of up to 8 rows (decode) as CUDA graphs, one per shape (rows, logit rows),
  // captured at the second step of that shape; false runs every step kernel by kernel (the tests
  // compare the two). A capture that fails turns graphs off and the step runs kernel by kernel.
  bool graphs = true;
};

// Loads dir's config.json and weights (as engine::Model::Load does) onto the device.
// UNAVAILABLE as CudaAvailable; RESOURCE_EXHAUSTED when the weights do not fit; the engine's
// errors for a bad model folder.
absl::StatusOr<std::unique_ptr<engine::Backend>> LoadCudaModel(const std::string& dir,
                                                               const CudaOptions& options = {});

// The backend `device` names for the model folder dir: "cpu" (engine::Model on `threads`
// threads, 0: all cores), "cuda" (LoadCudaModel on device `gpu`), or "auto" (CUDA when
// CudaAvailable, else the CPU). INVALID_ARGUMENT for another name.
absl::StatusOr<std::unique_ptr<engine::Backend>> LoadBackend(const std::string& dir,
                                                             std::string_view device,
                                                             size_t threads = 0, int gpu = 0);

// A model of `config`'s shape with random weights made on the device (no file: the real
// Nemotron 3 Nano shape fits an 80 GB GPU without its 60 GB checkpoint), for benchmarks. The
// same seed gives the same weights.
absl::StatusOr<std::unique_ptr<engine::Backend>> SynthesizeCudaModel(
    const engine::ModelConfig& config, uint64_t seed, const CudaOptions& options = {});

// The CUDA graphs `backend` holds now (0 for another backend): for tests and diagnostics.
size_t CudaGraphCount(const engine::Backend& backend);

}  // namespace airlock::kernels
