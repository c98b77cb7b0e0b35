// ModelRepository: the models of a Triton-style repository directory and the
// state of each of their versions.
//
// Layout: <root>/<model>/config.pbtxt and <root>/<model>/<version>/ where
// <version> is a positive integer. Which versions load follows the config's
// version_policy (default: the latest one). Each version has a state:
//
//   LOADING -> READY -> UNLOADING -> UNAVAILABLE
//      \-> FAILED (reason kept; the model's other versions keep serving)
//
// Get() hands out a shared handle to a READY version; the version is freed
// only after the last handle is dropped. Names are validated before they
// touch the filesystem and nothing outside `root` is read.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/model_version.h"

namespace protoserve {

enum class ModelState { kLoading, kReady, kUnloading, kUnavailable, kFailed };
const char* ModelStateName(ModelState state);  // "LOADING", "READY", ...

struct VersionStatus {
  int64_t version = 0;
  ModelState state = ModelState::kLoading;
  std::string reason;  // why FAILED / UNAVAILABLE
};

struct ModelIndexEntry {
  std::string name;
  std::vector<VersionStatus> versions;  // ascending
  std::string reason;                   // model-level failure (e.g. bad config)
};

class ModelRepository {
 public:
  // `metrics` may be null (no metrics kept); it must outlive the repository.
  ModelRepository(std::filesystem::path root, const BackendRegistry* backends, Metrics* metrics = nullptr);
  ~ModelRepository();

  // Loads every model found under root. Per-model failures are recorded, not
  // returned; fails only when root itself is unusable.
  Status LoadAll();

  // The READY version `version` of `name`, or the highest READY version when
  // `version` is 0. NOT_FOUND for unknown models/versions, UNAVAILABLE for
  // versions that exist but are not ready.
  StatusOr<std::shared_ptr<ModelVersion>> Get(const std::string& name, int64_t version = 0) const;
  // Config of a known model (even when no version is ready).
  StatusOr<ModelConfig> Config(const std::string& name) const;

  std::vector<ModelIndexEntry> Index() const;
  // Every READY version, for statistics.
  std::vector<std::shared_ptr<ModelVersion>> ReadyVersions() const;
  // True when every model has at least one READY version.
  bool AllReady() const;

  // Publishes scrape-time gauges (queue depths) of every ready version.
  void RefreshMetrics() const;

  // Drains and unloads everything.
  void Shutdown();

  const std::filesystem::path& root() const { return root_; }

 private:
  struct VersionSlot {
    VersionStatus status;
    std::shared_ptr<ModelVersion> model;  // set when READY
  };
  struct ModelEntry {
    std::unique_ptr<ModelConfig> config;  // null when the config failed to load
    std::string reason;
    std::map<int64_t, VersionSlot> versions;
  };

  void LoadModel(const std::string& name);
  void SetState(const std::string& name, VersionStatus* status, ModelState state, std::string reason = "");

  const std::filesystem::path root_;
  const BackendRegistry* const backends_;
  Metrics* const metrics_;
  mutable std::shared_mutex mu_;
  std::map<std::string, ModelEntry> models_;  // guarded by mu_
};

// Numeric version folders of `model_dir`, ascending.
std::vector<int64_t> ListVersionDirs(const std::filesystem::path& model_dir);
// The versions `config`'s version_policy selects from `available`.
std::vector<int64_t> SelectVersions(const ModelConfig& config, const std::vector<int64_t>& available);

}  // namespace protoserve
