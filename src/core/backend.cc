#include "core/backend.h"

namespace protoserve {

void BackendRegistry::Register(const std::string& name, std::shared_ptr<Backend> backend) {
  backends_[name] = std::move(backend);
}

StatusOr<Backend*> BackendRegistry::Find(const ModelConfig& config) const {
  const std::string& key = config.backend().empty() ? config.platform() : config.backend();
  auto it = backends_.find(key);
  if (it == backends_.end()) {
    std::string known;
    for (const auto& [name, _] : backends_) known += (known.empty() ? "" : ", ") + name;
    return InvalidArgument("model '" + config.name() + "': no backend for '" + key + "' (known: " + known + ")");
  }
  return it->second.get();
}

}  // namespace protoserve
