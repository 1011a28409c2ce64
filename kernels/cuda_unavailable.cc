// The kernels library of a build without the CUDA toolkit: the CUDA backend is not in it, and
// asking for it says so (kernels/cuda_model.h).
#include "kernels/cuda_model.h"

namespace airlock::kernels {

absl::Status CudaAvailable() {
  return absl::UnavailableError(
      "this build has no CUDA backend: the CUDA toolkit was not found when it was built (or "
      "AIRLOCK_CUDA was OFF)");
}

absl::StatusOr<std::unique_ptr<engine::Backend>> LoadCudaModel(const std::string&,
                                                               const CudaOptions&) {
  return CudaAvailable();
}

absl::StatusOr<std::unique_ptr<engine::Backend>> SynthesizeCudaModel(const engine::ModelConfig&,
                                                                     uint64_t, const CudaOptions&) {
  return CudaAvailable();
}

size_t CudaGraphCount(const engine::Backend&) { return 0; }

}  // namespace airlock::kernels
