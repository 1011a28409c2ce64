// LoadBackend (kernels/cuda_model.h): built with or without CUDA.
#include "engine/model.h"
#include "engine/strings.h"
#include "kernels/cuda_model.h"

namespace airlock::kernels {

absl::StatusOr<std::unique_ptr<engine::Backend>> LoadBackend(const std::string& dir,
                                                             std::string_view device,
                                                             size_t threads, int gpu) {
  if (device == "cuda" || (device == "auto" && CudaAvailable().ok())) {
    return LoadCudaModel(dir, {.device = gpu});
  }
  if (device != "cpu" && device != "auto") {
    return absl::InvalidArgumentError(
        engine::Cat("device '", device, "' is not one of: auto, cpu, cuda"));
  }
  auto model = engine::Model::Load(dir, {.threads = threads});
  if (!model.ok()) return model.status();
  return std::unique_ptr<engine::Backend>(*std::move(model));
}

}  // namespace airlock::kernels
