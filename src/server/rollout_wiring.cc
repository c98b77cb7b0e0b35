#include "server/rollout_wiring.h"

#include <spdlog/spdlog.h>

#include "predlog/sqlite_rollout_store.h"

namespace protoserve {

RolloutWiring::RolloutWiring(ModelRepository* repository) : repository_(repository) {
  repository_->AddObserverFactory(health_.ObserverFactory());
}

RolloutWiring::~RolloutWiring() { Stop(); }

Status RolloutWiring::Create(const std::string& sqlite_path, const OnlineEvaluation* evaluation, Metrics* metrics,
                             std::chrono::milliseconds interval) {
  if (sqlite_path.empty()) {
    spdlog::warn("rollouts: no --prediction-log SQLite file, so rollout state and decisions are kept in memory only: "
                 "a restart forgets them (a rollout from config.pbtxt then starts again at its first step)");
    store_ = std::make_unique<MemoryRolloutStore>();
  } else {
    ASSIGN_OR_RETURN(store_, SqliteRolloutStore::Open(sqlite_path));
    spdlog::info("rollouts: state and decisions in {} (tables rollouts, rollout_decisions)", sqlite_path);
  }
  target_ = std::make_unique<RepositoryRolloutTarget>(repository_, evaluation, &health_);
  RolloutControllerOptions options;
  options.interval = interval;
  controller_ = std::make_unique<RolloutController>(target_.get(), store_.get(), metrics, options);
  return Status::Ok();
}

Status RolloutWiring::Start() {
  RETURN_IF_ERROR(controller_->Restore());
  controller_->Tick();  // config policies start (or stored splits apply) before the first client is served
  controller_->Start();
  return Status::Ok();
}

void RolloutWiring::Stop() {
  if (controller_) controller_->Stop();
}

}  // namespace protoserve
