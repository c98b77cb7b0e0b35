// Backend: the narrow interface between the core and a framework.
//
// A Backend turns a version directory into a LoadedModel. A LoadedModel is
// one version's weights in memory; it is shared by all instances of that
// version (an instance is an execution thread, not a copy of the weights), so
// Execute() is called concurrently from several threads and must be
// thread-safe. The core validates inputs against the config before calling
// Execute(): dtypes match, shapes match the configured dims with the batch
// dimension first when max_batch_size > 0, byte sizes are consistent.
// Backends know nothing of gRPC or HTTP; only src/backends/<name>/ include
// framework headers.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/model_config.h"
#include "core/status.h"
#include "core/tensor.h"

namespace protoserve {

class LoadedModel {
 public:
  virtual ~LoadedModel() = default;

  // Called once on each instance thread before its first Execute(), for
  // thread-local settings (e.g. intra-op thread count).
  virtual void PrepareThread() {}

  // Runs one batch. `inputs` are in config input order; `outputs` must be
  // filled in config output order with dim 0 equal to the batch rows when the
  // model batches. Output tensors may keep framework memory alive (views).
  virtual Status Execute(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Loads `version_dir` (e.g. <repo>/<model>/1). Called from a loader thread.
  virtual StatusOr<std::unique_ptr<LoadedModel>> Load(const ModelConfig& config,
                                                      const std::filesystem::path& version_dir) = 0;
};

// Maps config `backend` / `platform` names to backends. Filled explicitly in
// src/server/main.cc; read-only once the server starts.
class BackendRegistry {
 public:
  void Register(const std::string& name, std::shared_ptr<Backend> backend);
  // Finds the backend for `config` (by `backend`, else by `platform`).
  StatusOr<Backend*> Find(const ModelConfig& config) const;

 private:
  std::map<std::string, std::shared_ptr<Backend>> backends_;
};

}  // namespace protoserve
