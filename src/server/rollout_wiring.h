// The progressive rollout's parts, wired for main.cc: the per-version
// health observer (registered before the models load), the state store
// (the prediction log's SQLite file, or memory only, with a warning) and
// the controller over the repository and the online evaluation.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/model_repository.h"
#include "core/online_evaluation.h"
#include "core/rollout_controller.h"
#include "core/version_health.h"

namespace protoserve {

class RolloutWiring {
 public:
  // Registers the health observer: call before the repository loads.
  explicit RolloutWiring(ModelRepository* repository);
  ~RolloutWiring();

  // `sqlite_path`: the --prediction-log file (empty: memory only).
  Status Create(const std::string& sqlite_path, const OnlineEvaluation* evaluation, Metrics* metrics,
                std::chrono::milliseconds interval);
  // After the models loaded: restores stored rollouts, starts ticking.
  Status Start();
  void Stop();

  RolloutController* controller() const { return controller_.get(); }

 private:
  ModelRepository* const repository_;
  VersionHealth health_;
  std::unique_ptr<RolloutStore> store_;
  std::unique_ptr<RepositoryRolloutTarget> target_;
  std::unique_ptr<RolloutController> controller_;
};

}  // namespace protoserve
