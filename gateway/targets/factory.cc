#include "gateway/targets/factory.h"

#include "absl/strings/str_cat.h"
#include "gateway/targets/local_target.h"
#include "gateway/targets/openai_target.h"

namespace airlock::gateway {

absl::StatusOr<std::unique_ptr<Target>> MakeTarget(const TargetConfig& config,
                                                   const std::vector<std::string>& egress_allowlist,
                                                   boost::asio::io_context& io) {
  if (config.kind == "openai") {
    absl::StatusOr<std::unique_ptr<OpenAiTarget>> target =
        OpenAiTarget::Create(config, egress_allowlist, io);
    if (!target.ok()) return target.status();
    return std::unique_ptr<Target>(std::move(*target));
  }
  if (config.kind == "local") {
    absl::StatusOr<std::unique_ptr<LocalTarget>> target = LocalTarget::Create(config);
    if (!target.ok()) {
      return absl::Status(target.status().code(),
                          absl::StrCat("target '", config.name, "': ", target.status().message()));
    }
    return std::unique_ptr<Target>(std::move(*target));
  }
  if (config.kind.empty()) {
    return absl::InvalidArgumentError("kind: required ('openai' or 'local')");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("kind: '", config.kind, "' is not a target kind ('openai' or 'local')"));
}

}  // namespace airlock::gateway
