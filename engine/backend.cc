#include "engine/backend.h"

#include <algorithm>

#include "engine/strings.h"

namespace airlock::engine {

absl::Status CheckStepItems(const ModelConfig& c, std::span<const StepItem> items) {
  for (size_t it = 0; it < items.size(); ++it) {
    const StepItem& item = items[it];
    for (size_t t = 0; t < item.tokens.size(); ++t) {
      const int32_t id = item.tokens[t];
      if (id < 0 || id >= c.vocab_size) {
        return absl::InvalidArgumentError(
            Cat(items.size() > 1 ? Cat("sequence ", it, ", ") : std::string(), "token ", t, ": id ",
                id, " is outside the vocabulary (0 to ", c.vocab_size - 1, ")"));
      }
    }
  }
  for (size_t it = 0; it < items.size(); ++it) {
    if (items[it].hidden_sum != nullptr &&
        (items[it].hidden_layer < 0 ||
         static_cast<size_t>(items[it].hidden_layer) >= c.layers.size())) {
      return absl::InvalidArgumentError(Cat("sequence ", it, ": hidden_layer ",
                                            items[it].hidden_layer, " is not a layer (0 to ",
                                            c.layers.size() - 1, ")"));
    }
  }
  return absl::OkStatus();
}

uint64_t StateBytes(const ModelConfig& c, int64_t tokens) {
  uint64_t per_token = 0, fixed = 0;
  for (BlockType t : c.layers) {
    if (t == BlockType::kAttention) {
      per_token += 2 * static_cast<uint64_t>(c.num_key_value_heads * c.head_dim) * sizeof(float);
    } else if (t == BlockType::kMamba) {
      fixed += static_cast<uint64_t>(c.conv_dim() * (c.conv_kernel - 1) +
                                     c.d_inner() * c.ssm_state_size) *
               sizeof(float);
    }
  }
  return fixed + per_token * static_cast<uint64_t>(std::max<int64_t>(0, tokens));
}

}  // namespace airlock::engine
