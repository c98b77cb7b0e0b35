// ModelContract: what a model version carries beside its weights for a
// front-end that serves it under a contract of its own (a typed API whose
// .proto files live in the model's folder: src/typed, docs/typed-apis.md).
//
// The core knows nothing of the contract's form: a ContractLoader, set by
// main on the repository, builds it from the config and the model folder
// when a version loads, so the contract follows the version's lifecycle (a
// version whose contract fails to load fails to load, with that reason, and
// whatever served before keeps serving; a changed .proto is a changed
// version: RepositoryScanner::Fingerprint covers the folder's .proto files).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>

#include "core/model_config.h"
#include "core/status.h"

namespace protoserve {

class ModelContract {
 public:
  virtual ~ModelContract() = default;
};

// Returns null (and OK) for a model that declares no contract.
using ContractLoader = std::function<StatusOr<std::shared_ptr<const ModelContract>>(
    const ModelConfig& config, const std::filesystem::path& model_dir)>;

}  // namespace protoserve
