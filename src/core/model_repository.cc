#include "core/model_repository.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace protoserve {

namespace {

// The config's split with the rollout's weights (sticky) when there are any.
TrafficSplit EffectiveSplit(const TrafficSplit& configured,
                            const std::optional<std::vector<TrafficSplit::Weight>>& weights) {
  if (!weights) return configured;
  TrafficSplit split = configured;
  split.weights = *weights;
  split.sticky = true;
  return split;
}

}  // namespace

const char* ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading: return "LOADING";
    case ModelState::kReady: return "READY";
    case ModelState::kUnloading: return "UNLOADING";
    case ModelState::kUnavailable: return "UNAVAILABLE";
    case ModelState::kFailed: return "FAILED";
  }
  return "UNKNOWN";
}

ModelRepository::ModelRepository(std::filesystem::path root, const BackendRegistry* backends, Metrics* metrics,
                                 std::filesystem::path symlink_root)
    : scanner_(std::move(root), std::move(symlink_root)), backends_(backends), metrics_(metrics) {
  if (metrics_) observer_factories_.push_back(ModelMetrics::Factory(metrics_));
}

ModelRepository::~ModelRepository() { Shutdown(); }

void ModelRepository::SetState(const std::string& name, VersionStatus* status, ModelState state, std::string reason) {
  status->state = state;
  status->reason = std::move(reason);
  if (metrics_) metrics_->SetModelState(name, std::to_string(status->version), ModelStateName(state));
}

Status ModelRepository::LoadAll(const std::vector<std::string>& names) {
  RETURN_IF_ERROR(scanner_.CheckRoot());
  if (names.empty()) return Poll();
  for (const std::string& name : names) {
    Status s = Sync(name);
    if (!s.ok()) spdlog::error("model '{}': {}", name, s.message());
  }
  return Status::Ok();
}

Status ModelRepository::Poll() {
  MutexLock sync(sync_mu_);
  RETURN_IF_ERROR(scanner_.CheckRoot());
  std::set<std::string> names;
  for (std::string& name : scanner_.ModelNames()) names.insert(std::move(name));
  {
    ReaderLock lock(mu_);
    for (const auto& [name, _] : models_) names.insert(name);  // gone from disk: Sync unloads them
  }
  for (const std::string& name : names) SyncLocked(name);
  return Status::Ok();
}

Status ModelRepository::Sync(const std::string& name) {
  MutexLock sync(sync_mu_);
  return SyncLocked(name);
}

Status ModelRepository::RecordModelError(const std::string& name, Status error) {
  spdlog::error("model '{}': {} (previously loaded versions keep serving)", name, error.message());
  WriterLock lock(mu_);
  models_[name].reason = error.message();
  return error;
}

Status ModelRepository::SyncLocked(const std::string& name) {
  if (!IsValidModelName(name)) return InvalidArgument("invalid model name '" + name + "'");
  if (!scanner_.HasModel(name)) {
    {
      ReaderLock lock(mu_);
      if (!models_.count(name)) return NotFound("model '" + name + "' is not in the repository");
    }
    spdlog::info("model '{}' removed from the repository: unloading", name);
    RetireVersions(name, {});
    WriterLock lock(mu_);
    models_.erase(name);
    return Status::Ok();
  }
  auto text = scanner_.ReadConfig(name);
  if (!text.ok()) return RecordModelError(name, text.status());
  auto parsed = ParseModelConfig(*text, name);
  if (!parsed.ok()) return RecordModelError(name, parsed.status());
  auto split = ParseTrafficSplit(*parsed);
  if (!split.ok()) return RecordModelError(name, split.status());
  // An unknown backend fails each version (the config itself is valid and served).
  const auto backend = backends_->Find(*parsed);
  auto config = std::make_shared<const ModelConfig>(std::move(parsed).value());
  const std::vector<int64_t> desired = SelectVersions(*config, scanner_.Versions(name));
  {
    WriterLock lock(mu_);
    ModelEntry& entry = models_[name];
    entry.config = config;
    entry.config_text = *text;
    entry.configured_split = std::move(split).value();
    entry.router = VersionRouter(EffectiveSplit(entry.configured_split, entry.weights_override));
    entry.reason = desired.empty() ? "no version directory matches the version policy" : "";
    for (int64_t v : desired) {
      VersionSlot& slot = entry.versions[v];
      if (slot.status.version == 0 || (!slot.serving && slot.status.state != ModelState::kFailed)) {
        slot.status.version = v;
        SetState(name, &slot.status, ModelState::kLoading);
      }
    }
  }
  Status result = LoadVersions(name, config, backend, desired);

  // Versions the policy no longer selects leave, unless none of the selected
  // ones is ready: then the old ones keep serving until a new one loads.
  std::vector<int64_t> keep = desired;
  {
    ReaderLock lock(mu_);
    const auto& versions = models_[name].versions;
    const bool any_desired_ready = std::any_of(desired.begin(), desired.end(), [&](int64_t v) {
      auto it = versions.find(v);
      return it != versions.end() && it->second.serving;
    });
    if (!any_desired_ready) {
      for (const auto& [v, slot] : versions) {
        if (slot.serving) keep.push_back(v);
      }
    }
  }
  RetireVersions(name, keep);
  return result;
}

Status ModelRepository::LoadVersions(const std::string& name, const std::shared_ptr<const ModelConfig>& config,
                                     StatusOr<Backend*> backend, const std::vector<int64_t>& desired) {
  Status result = Status::Ok();
  for (int64_t v : desired) {
    const std::string fingerprint = scanner_.Fingerprint(name, v, *config);
    {
      ReaderLock lock(mu_);
      if (models_[name].versions[v].fingerprint == fingerprint) continue;  // loaded (or failed) from these files
    }
    const auto start = Clock::now();
    Status usable = backend.ok() ? scanner_.CheckVersionFiles(name, v, *config) : backend.status();
    StatusOr<std::shared_ptr<ModelVersion>> loaded =
        usable.ok() ? ModelVersion::Load(*config, scanner_.ModelDir(name), v, *backend, VersionOptionsFor(name, v))
                    : usable;
    std::unique_ptr<ServingVersion> replaced;
    {
      WriterLock lock(mu_);
      VersionSlot& slot = models_[name].versions[v];
      slot.fingerprint = fingerprint;
      if (loaded.ok()) {
        replaced = std::move(slot.serving);
        slot.serving = std::make_unique<ServingVersion>(*loaded);
        SetState(name, &slot.status, ModelState::kReady);
      } else if (slot.serving) {
        slot.status.reason = "reload failed, previous copy keeps serving: " + loaded.status().message();
      } else {
        SetState(name, &slot.status, ModelState::kFailed, loaded.status().message());
      }
    }
    if (loaded.ok()) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      spdlog::info("model '{}' version {} READY ({} instance(s), max_batch_size {}, loaded in {} ms{})", name, v,
                   InstanceCount(*config), config->max_batch_size(), ms, replaced ? ", hot-swapped" : "");
    } else {
      spdlog::error("model '{}' version {} failed to load: {}", name, v, loaded.status().message());
      result = loaded.status();
    }
    if (replaced) drainer_.Drain(std::move(replaced), {}, kDrainPatience);  // the slot stays READY with the new copy
  }
  return result;
}

std::vector<std::shared_future<void>> ModelRepository::RetireVersions(const std::string& name,
                                                                      const std::vector<int64_t>& keep,
                                                                      std::chrono::milliseconds patience) {
  std::vector<std::shared_future<void>> drains;
  WriterLock lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return drains;
  for (auto& [v, slot] : it->second.versions) {
    if (std::find(keep.begin(), keep.end(), v) != keep.end()) continue;
    slot.fingerprint.clear();
    if (!slot.serving) {
      if (slot.status.state != ModelState::kUnavailable && slot.status.state != ModelState::kUnloading) {
        SetState(name, &slot.status, ModelState::kUnavailable);
      }
      continue;
    }
    spdlog::info("model '{}' version {} UNLOADING (draining in-flight requests)", name, v);
    SetState(name, &slot.status, ModelState::kUnloading);
    // UNAVAILABLE once freed, unless the slot was loaded again meanwhile.
    drains.push_back(drainer_.Drain(std::move(slot.serving), [this, name, v = v] {
      WriterLock relock(mu_);
      auto model = models_.find(name);
      if (model == models_.end()) return;
      auto slot_it = model->second.versions.find(v);
      if (slot_it == model->second.versions.end()) return;
      VersionSlot& s = slot_it->second;
      if (!s.serving && s.status.state == ModelState::kUnloading) SetState(name, &s.status, ModelState::kUnavailable);
    }, patience));
  }
  return drains;
}

Status ModelRepository::Unload(const std::string& name) {
  std::vector<std::shared_future<void>> drains;
  {
    MutexLock sync(sync_mu_);
    {
      ReaderLock lock(mu_);
      if (!models_.count(name)) return NotFound("model '" + name + "' is not in the repository");
    }
    drains = RetireVersions(name, {});
  }
  for (auto& drained : drains) drained.wait();  // sync_mu_ released: other models load meanwhile
  return Status::Ok();
}

void ModelRepository::StartPolling(std::chrono::milliseconds interval) {
  poller_ = std::thread([this, interval] {
    MutexLock lock(poll_mu_);
    while (!poll_cv_.wait_for(lock.native(), interval, [&]() REQUIRES(poll_mu_) { return stopping_; })) {
      lock.Unlock();
      Status s = Poll();
      if (!s.ok()) spdlog::error("repository poll: {}", s.message());
      lock.Lock();
    }
  });
}

void ModelRepository::AddObserverFactory(RequestObserverFactory factory) {
  MutexLock lock(sync_mu_);
  observer_factories_.push_back(std::move(factory));
}

void ModelRepository::set_contract_loader(ContractLoader loader) {
  MutexLock lock(sync_mu_);
  contract_loader_ = std::move(loader);
}

VersionOptions ModelRepository::VersionOptionsFor(const std::string& name, int64_t version) const {
  VersionOptions options;
  options.contract_loader = contract_loader_;
  options.max_tensor_elements = max_tensor_elements_.load();
  for (const auto& factory : observer_factories_) options.observers.push_back(factory(name, version));
  return options;
}

StatusOr<std::shared_ptr<ModelVersion>> ModelRepository::Get(const std::string& name, int64_t version) const {
  ASSIGN_OR_RETURN(RouteResult route, Route(name, version, {}));
  return route.primary;
}

StatusOr<RouteResult> ModelRepository::Route(const std::string& name, int64_t version,
                                             std::string_view routing_key) const {
  ReaderLock lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound("model '" + name + "' is not in the repository");
  const ModelEntry& entry = it->second;
  auto ready = [&](int64_t v) {
    auto slot = entry.versions.find(v);
    return slot != entry.versions.end() && slot->second.serving != nullptr;
  };
  auto latest_ready = [&entry] {
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      if (v->second.serving) return v->first;
    }
    return int64_t{0};
  };
  const RouteChoice choice = entry.router.Choose(version, routing_key, ready, latest_ready);
  if (choice.primary == 0) {
    std::string why = entry.reason;
    for (const auto& [_, slot] : entry.versions) {
      if (!slot.status.reason.empty()) why = slot.status.reason;
    }
    return Unavailable("model '" + name + "' has no ready version" + (why.empty() ? "" : ": " + why));
  }
  version = choice.primary;
  RouteResult route;
  if (choice.shadow != 0) route.shadow = entry.versions.at(choice.shadow).serving->handle();
  auto v = entry.versions.find(version);
  if (v == entry.versions.end()) return NotFound("model '" + name + "' has no version " + std::to_string(version));
  if (!v->second.serving) {
    return Unavailable("model '" + name + "' version " + std::to_string(version) + " is " +
                       ModelStateName(v->second.status.state) +
                       (v->second.status.reason.empty() ? "" : ": " + v->second.status.reason));
  }
  route.primary = v->second.serving->handle();
  route.split = choice.split;
  return route;
}

void ModelRepository::SetSplitWeights(const std::string& name,
                                      std::optional<std::vector<TrafficSplit::Weight>> weights) {
  WriterLock lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return;
  it->second.weights_override = std::move(weights);
  it->second.router = VersionRouter(EffectiveSplit(it->second.configured_split, it->second.weights_override));
}

StatusOr<ModelConfig> ModelRepository::Config(const std::string& name) const {
  ReaderLock lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound("model '" + name + "' is not in the repository");
  if (!it->second.config) return Unavailable("model '" + name + "' has no valid config: " + it->second.reason);
  return *it->second.config;
}

std::vector<ModelIndexEntry> ModelRepository::Index() const {
  ReaderLock lock(mu_);
  std::vector<ModelIndexEntry> index;
  for (const auto& [name, entry] : models_) {
    ModelIndexEntry e{name, {}, entry.reason};
    for (const auto& [_, slot] : entry.versions) e.versions.push_back(slot.status);
    index.push_back(std::move(e));
  }
  return index;
}

std::vector<std::shared_ptr<ModelVersion>> ModelRepository::ReadyVersions() const {
  ReaderLock lock(mu_);
  std::vector<std::shared_ptr<ModelVersion>> ready;
  for (const auto& [_, entry] : models_) {
    for (const auto& [__, slot] : entry.versions) {
      if (slot.serving) ready.push_back(slot.serving->handle());
    }
  }
  return ready;
}

bool ModelRepository::AllReady() const {
  ReaderLock lock(mu_);
  for (const auto& [_, entry] : models_) {
    bool any = false;
    for (const auto& [__, slot] : entry.versions) any = any || slot.serving != nullptr;
    if (!any) return false;
  }
  return true;
}

void ModelRepository::RefreshMetrics() const {
  for (const auto& version : ReadyVersions()) version->RefreshMetrics();
}

void ModelRepository::Shutdown() {
  {
    MutexLock lock(poll_mu_);
    stopping_ = true;
  }
  poll_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
  std::vector<std::string> names;
  {
    ReaderLock lock(mu_);
    for (const auto& [name, _] : models_) names.push_back(name);
  }
  {
    MutexLock sync(sync_mu_);
    // The front-ends stopped first: shut down at once, finishing what is queued.
    for (const auto& name : names) RetireVersions(name, {}, std::chrono::milliseconds(0));
  }
  drainer_.WaitAll();
}

}  // namespace protoserve
