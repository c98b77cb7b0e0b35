#include "core/model_repository.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <set>

namespace protoserve {

namespace fs = std::filesystem;

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

std::vector<int64_t> ListVersionDirs(const fs::path& model_dir) {
  std::vector<int64_t> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.empty() || name.size() > 18 ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    const int64_t version = std::stoll(name);
    if (version > 0) versions.push_back(version);
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

std::vector<int64_t> SelectVersions(const ModelConfig& config, const std::vector<int64_t>& available) {
  const auto& policy = config.version_policy();
  if (policy.has_all()) return available;
  if (policy.has_specific()) {
    std::vector<int64_t> chosen;
    for (int64_t v : available) {
      const auto& wanted = policy.specific().versions();
      if (std::find(wanted.begin(), wanted.end(), v) != wanted.end()) chosen.push_back(v);
    }
    return chosen;
  }
  const size_t n = policy.has_latest() ? policy.latest().num_versions() : 1;
  const size_t skip = available.size() > n ? available.size() - n : 0;
  return std::vector<int64_t>(available.begin() + skip, available.end());
}

ModelRepository::ModelRepository(fs::path root, const BackendRegistry* backends, Metrics* metrics)
    : root_(std::move(root)), backends_(backends), metrics_(metrics) {}

void ModelRepository::SetState(const std::string& name, VersionStatus* status, ModelState state, std::string reason) {
  status->state = state;
  status->reason = std::move(reason);
  if (metrics_) metrics_->SetModelState(name, std::to_string(status->version), ModelStateName(state));
}

void ModelRepository::RefreshMetrics() const {
  for (const auto& version : ReadyVersions()) version->RefreshMetrics();
}

ModelRepository::~ModelRepository() { Shutdown(); }

Status ModelRepository::LoadAll() {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return NotFound("model repository '" + root_.string() + "' is not a directory");
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || !IsValidModelName(name)) continue;
    if (!fs::exists(entry.path() / "config.pbtxt")) continue;
    names.insert(name);
  }
  for (const std::string& name : names) LoadModel(name);
  return Status::Ok();
}

void ModelRepository::LoadModel(const std::string& name) {
  const fs::path dir = root_ / name;
  auto config = LoadModelConfigFile((dir / "config.pbtxt").string(), name);
  if (!config.ok()) {
    spdlog::error("model '{}': {}", name, config.status().message());
    std::unique_lock lock(mu_);
    models_[name].reason = config.status().message();
    return;
  }
  const std::vector<int64_t> versions = SelectVersions(*config, ListVersionDirs(dir));
  {
    std::unique_lock lock(mu_);
    ModelEntry& entry = models_[name];
    entry.config = std::make_unique<ModelConfig>(*config);
    entry.reason = versions.empty() ? "no version directory matches the version policy" : "";
    for (int64_t v : versions) {
      entry.versions[v].status.version = v;
      SetState(name, &entry.versions[v].status, ModelState::kLoading);
    }
  }
  if (versions.empty()) spdlog::error("model '{}': no version directory matches the version policy", name);
  auto backend = backends_->Find(*config);
  for (int64_t v : versions) {
    const auto start = Clock::now();
    StatusOr<std::shared_ptr<ModelVersion>> loaded =
        backend.ok() ? ModelVersion::Load(*config, dir, v, *backend, metrics_) : backend.status();
    std::unique_lock lock(mu_);
    VersionSlot& slot = models_[name].versions[v];
    if (loaded.ok()) {
      slot.model = *loaded;
      SetState(name, &slot.status, ModelState::kReady);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      spdlog::info("model '{}' version {} READY ({} instance(s), max_batch_size {}, loaded in {} ms)", name, v,
                   InstanceCount(*config), config->max_batch_size(), ms);
    } else {
      SetState(name, &slot.status, ModelState::kFailed, loaded.status().message());
      spdlog::error("model '{}' version {} FAILED: {}", name, v, slot.status.reason);
    }
  }
}

StatusOr<std::shared_ptr<ModelVersion>> ModelRepository::Get(const std::string& name, int64_t version) const {
  std::shared_lock lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound("model '" + name + "' is not in the repository");
  const ModelEntry& entry = it->second;
  if (version == 0) {
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      if (v->second.status.state == ModelState::kReady) return v->second.model;
    }
    std::string why = entry.reason;
    for (const auto& [_, slot] : entry.versions) {
      if (!slot.status.reason.empty()) why = slot.status.reason;
    }
    return Unavailable("model '" + name + "' has no ready version" + (why.empty() ? "" : ": " + why));
  }
  auto v = entry.versions.find(version);
  if (v == entry.versions.end()) {
    return NotFound("model '" + name + "' has no version " + std::to_string(version));
  }
  if (v->second.status.state != ModelState::kReady) {
    return Unavailable("model '" + name + "' version " + std::to_string(version) + " is " +
                       ModelStateName(v->second.status.state) +
                       (v->second.status.reason.empty() ? "" : ": " + v->second.status.reason));
  }
  return v->second.model;
}

StatusOr<ModelConfig> ModelRepository::Config(const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound("model '" + name + "' is not in the repository");
  if (!it->second.config) return Unavailable("model '" + name + "' has no valid config: " + it->second.reason);
  return *it->second.config;
}

std::vector<ModelIndexEntry> ModelRepository::Index() const {
  std::shared_lock lock(mu_);
  std::vector<ModelIndexEntry> index;
  for (const auto& [name, entry] : models_) {
    ModelIndexEntry e{name, {}, entry.reason};
    for (const auto& [_, slot] : entry.versions) e.versions.push_back(slot.status);
    index.push_back(std::move(e));
  }
  return index;
}

std::vector<std::shared_ptr<ModelVersion>> ModelRepository::ReadyVersions() const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<ModelVersion>> ready;
  for (const auto& [_, entry] : models_) {
    for (const auto& [__, slot] : entry.versions) {
      if (slot.status.state == ModelState::kReady) ready.push_back(slot.model);
    }
  }
  return ready;
}

bool ModelRepository::AllReady() const {
  std::shared_lock lock(mu_);
  for (const auto& [_, entry] : models_) {
    bool any = false;
    for (const auto& [__, slot] : entry.versions) any = any || slot.status.state == ModelState::kReady;
    if (!any) return false;
  }
  return true;
}

void ModelRepository::Shutdown() {
  std::vector<std::shared_ptr<ModelVersion>> versions;
  {
    std::unique_lock lock(mu_);
    for (auto& [name, entry] : models_) {
      for (auto& [__, slot] : entry.versions) {
        if (slot.model) versions.push_back(std::move(slot.model));
        SetState(name, &slot.status, ModelState::kUnavailable);
      }
    }
  }
  for (auto& version : versions) version->Shutdown();
}

}  // namespace protoserve
