// ModelRepository: the models of a Triton-style repository directory, the
// state of each version, and their lifecycle (load, hot reload, unload).
//
// Layout: <root>/<model>/config.pbtxt and <root>/<model>/<version>/ where
// <version> is a positive integer. Which versions serve follows the config's
// version_policy (default: the latest one). Each version has a state:
//
//   LOADING -> READY -> UNLOADING -> UNAVAILABLE      (FAILED: load error)
//
// Sync(name) reconciles one model with the disk (read through a
// RepositoryScanner): new versions load (warm-up included) while the current
// ones keep serving; a changed version (its files' size/mtime changed) loads
// a fresh copy and is swapped in atomically only once ready; versions no
// longer selected, or no longer on disk, leave routing at once (UNLOADING)
// and are freed after their last request completes (UNAVAILABLE): the
// release of the last request handle signals the drain (version_drain.h),
// which runs on a thread of its own, so one model's drain never blocks
// another model's load. A failed load (bad config, corrupt model, missing
// labels, an unreadable file) keeps whatever served before and records the
// reason, visible in Index(), ModelReady and the protoserve_model_state metric.
//
// Names are validated before they touch the filesystem, and nothing outside
// `root` is read (see RepositoryScanner).
//
// Thread-safety: all methods may be called concurrently; Sync/Unload calls
// are serialised among themselves, lookups never wait for a load.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/backend.h"
#include "core/metrics.h"
#include "core/model_version.h"
#include "core/repository_scanner.h"
#include "core/thread_annotations.h"
#include "core/version_drain.h"
#include "core/version_router.h"

namespace protoserve {

enum class ModelState { kLoading, kReady, kUnloading, kUnavailable, kFailed };
const char* ModelStateName(ModelState state);  // "LOADING", "READY", ...

struct VersionStatus {
  int64_t version = 0;
  ModelState state = ModelState::kLoading;
  std::string reason;  // why FAILED, or why a reload of a READY version failed
};

struct ModelIndexEntry {
  std::string name;
  std::vector<VersionStatus> versions;  // ascending
  std::string reason;                   // model-level failure (e.g. bad config)
};

// Where one request goes: the version that answers, and optionally a shadow
// version that gets a mirrored copy whose answer is only compared.
struct RouteResult {
  std::shared_ptr<ModelVersion> primary;
  std::shared_ptr<ModelVersion> shadow;  // may be null
  bool split = false;                    // the traffic split chose `primary`
};

class ModelRepository {
 public:
  // `metrics` may be null; it must outlive the repository. When set, every
  // loaded version reports to it (ModelMetrics) and the model states too.
  // `symlink_root`: see RepositoryScanner (empty: files must resolve inside `root`).
  ModelRepository(std::filesystem::path root, const BackendRegistry* backends, Metrics* metrics = nullptr,
                  std::filesystem::path symlink_root = {});
  ~ModelRepository();

  // Syncs every model found under root (or only `names` when not empty).
  // Per-model failures are recorded, not returned; fails only when root
  // itself is unusable.
  Status LoadAll(const std::vector<std::string>& names = {});
  // Re-scans root: syncs every model on disk, unloads models gone from it.
  Status Poll();
  // Loads or reloads one model from disk (explicit control mode).
  Status Sync(const std::string& name);
  // Unloads every version of `name`; returns once they are drained and freed
  // (without holding the lock that loads of other models take).
  Status Unload(const std::string& name);
  // Bound on the elements of one request input tensor for versions loaded
  // from now on (--max-tensor-elements); call before LoadAll().
  void set_max_tensor_elements(int64_t n) { max_tensor_elements_.store(n); }
  // Every version loaded from now on gets an observer from `factory`
  // (request_observer.h): tracing, online evaluation. Call before LoadAll().
  void AddObserverFactory(RequestObserverFactory factory);
  // Every version loaded from now on gets its contract from `loader`
  // (model_contract.h). Call before LoadAll().
  void set_contract_loader(ContractLoader loader);
  // Runs Poll() every `interval` on a background thread until Shutdown().
  void StartPolling(std::chrono::milliseconds interval);

  // The READY version `version` of `name`, or the highest READY version when
  // `version` is 0. NOT_FOUND for unknown models/versions, UNAVAILABLE for
  // versions that exist but are not ready.
  StatusOr<std::shared_ptr<ModelVersion>> Get(const std::string& name, int64_t version = 0) const;
  // Like Get(), but a request for the default version (0) follows the
  // model's traffic split (and shadow) using `routing_key` in sticky mode.
  StatusOr<RouteResult> Route(const std::string& name, int64_t version, std::string_view routing_key) const;
  // Overrides the weights of `name`'s traffic split (sticky by routing key;
  // the config's shadow stays), kept across config reloads: the rollout
  // controller's lever. nullopt: the config's split again. No-op for a
  // model the repository does not know.
  void SetSplitWeights(const std::string& name, std::optional<std::vector<TrafficSplit::Weight>> weights);
  // Config of a known model (even when no version is ready).
  StatusOr<ModelConfig> Config(const std::string& name) const;

  std::vector<ModelIndexEntry> Index() const;
  std::vector<std::shared_ptr<ModelVersion>> ReadyVersions() const;
  // True when every model has at least one READY version.
  bool AllReady() const;
  // Publishes scrape-time gauges (queue depths) of every ready version.
  void RefreshMetrics() const;

  // Stops polling, drains and unloads everything.
  void Shutdown();

  const std::filesystem::path& root() const { return scanner_.root(); }

 private:
  struct VersionSlot {
    VersionStatus status;
    std::unique_ptr<ServingVersion> serving;  // set when READY
    std::string fingerprint;                  // of the files it was loaded from
  };
  struct ModelEntry {
    std::shared_ptr<const ModelConfig> config;  // null until a config parsed
    std::string config_text;
    VersionRouter router;  // version policy applied: split and shadow among READY versions
    TrafficSplit configured_split;  // from config.pbtxt
    std::optional<std::vector<TrafficSplit::Weight>> weights_override;  // SetSplitWeights
    std::string reason;
    std::map<int64_t, VersionSlot> versions;
  };

  Status SyncLocked(const std::string& name) REQUIRES(sync_mu_);
  // Loads the versions `desired` of `name` whose files changed; returns the last load error.
  Status LoadVersions(const std::string& name, const std::shared_ptr<const ModelConfig>& config,
                      StatusOr<Backend*> backend, const std::vector<int64_t>& desired) REQUIRES(sync_mu_);
  VersionOptions VersionOptionsFor(const std::string& name, int64_t version) const REQUIRES(sync_mu_);
  Status RecordModelError(const std::string& name, Status error);
  void SetState(const std::string& name, VersionStatus* status, ModelState state, std::string reason = "")
      REQUIRES(mu_);
  // Takes `name`'s versions not in `keep` out of routing (UNLOADING) and
  // starts their drains (each waits at most `patience` for its requests);
  // the futures are ready once each is freed.
  std::vector<std::shared_future<void>> RetireVersions(const std::string& name, const std::vector<int64_t>& keep,
                                                       std::chrono::milliseconds patience = kDrainPatience);
  static constexpr std::chrono::milliseconds kDrainPatience{30'000};

  const RepositoryScanner scanner_;
  const BackendRegistry* const backends_;
  Metrics* const metrics_;
  std::atomic<int64_t> max_tensor_elements_{kDefaultMaxTensorElements};

  Mutex sync_mu_;  // serialises Sync/Unload/Poll
  std::vector<RequestObserverFactory> observer_factories_ GUARDED_BY(sync_mu_);
  ContractLoader contract_loader_ GUARDED_BY(sync_mu_);
  mutable SharedMutex mu_;
  std::map<std::string, ModelEntry> models_ GUARDED_BY(mu_);

  Mutex poll_mu_;
  std::condition_variable poll_cv_;  // waits on poll_mu_
  bool stopping_ GUARDED_BY(poll_mu_) = false;
  std::thread poller_;
  Drainer drainer_;  // declared last: its drains touch models_ when they finish
};

}  // namespace protoserve
