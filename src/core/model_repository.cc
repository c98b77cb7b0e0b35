#include "core/model_repository.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace protoserve {

namespace fs = std::filesystem;

namespace {

constexpr auto kDrainTimeout = std::chrono::seconds(30);

// What a version was loaded from: its files' names, sizes and mtimes, plus the
// config minus protoserve.* routing parameters (which change without reload).
std::string Fingerprint(const fs::path& version_dir, const ModelConfig& config) {
  ModelConfig serving = config;
  for (auto it = serving.mutable_parameters()->begin(); it != serving.mutable_parameters()->end();) {
    it = it->first.starts_with("protoserve.") ? serving.mutable_parameters()->erase(it) : std::next(it);
  }
  std::string out;
  serving.SerializeToString(&out);
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(version_dir, ec)) {
    const auto time = entry.last_write_time(ec).time_since_epoch().count();
    files.push_back(entry.path().filename().string() + ":" + std::to_string(entry.file_size(ec)) + ":" +
                    std::to_string(time));
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) out += "|" + f;
  return out;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
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
    : root_(std::move(root)), backends_(backends), metrics_(metrics) {
  std::error_code ec;
  canonical_root_ = fs::weakly_canonical(root_, ec);
}

ModelRepository::~ModelRepository() { Shutdown(); }

void ModelRepository::SetState(const std::string& name, VersionStatus* status, ModelState state, std::string reason) {
  status->state = state;
  status->reason = std::move(reason);
  if (metrics_) metrics_->SetModelState(name, std::to_string(status->version), ModelStateName(state));
}

bool ModelRepository::InsideRoot(const fs::path& path) const {
  std::error_code ec;
  const std::string resolved = fs::weakly_canonical(path, ec).string();
  const std::string root = canonical_root_.string() + "/";
  return !ec && resolved.compare(0, root.size(), root) == 0;
}

Status ModelRepository::LoadAll(const std::vector<std::string>& names) {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return NotFound("model repository '" + root_.string() + "' is not a directory");
  if (names.empty()) return Poll();
  for (const std::string& name : names) {
    Status s = Sync(name);
    if (!s.ok()) spdlog::error("model '{}': {}", name, s.message());
  }
  return Status::Ok();
}

Status ModelRepository::Poll() {
  std::lock_guard sync(sync_mu_);
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return NotFound("model repository '" + root_.string() + "' is not a directory");
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && IsValidModelName(name) && fs::exists(entry.path() / "config.pbtxt")) names.insert(name);
  }
  {
    std::shared_lock lock(mu_);
    for (const auto& [name, _] : models_) names.insert(name);  // gone from disk: Sync unloads them
  }
  for (const std::string& name : names) SyncLocked(name);
  return Status::Ok();
}

Status ModelRepository::Sync(const std::string& name) {
  std::lock_guard sync(sync_mu_);
  return SyncLocked(name);
}

Status ModelRepository::SyncLocked(const std::string& name) {
  if (!IsValidModelName(name)) return InvalidArgument("invalid model name '" + name + "'");
  const fs::path dir = root_ / name;
  std::error_code ec;
  if (!fs::is_directory(dir, ec) || !fs::exists(dir / "config.pbtxt", ec)) {
    bool known;
    {
      std::shared_lock lock(mu_);
      known = models_.count(name) > 0;
    }
    if (!known) return NotFound("model '" + name + "' is not in the repository");
    spdlog::info("model '{}' removed from the repository: unloading", name);
    for (auto& old : RetireVersions(name, {})) Drain(std::move(old));
    std::unique_lock lock(mu_);
    models_.erase(name);
    return Status::Ok();
  }
  auto record_model_error = [&](const Status& error) {
    spdlog::error("model '{}': {} (previously loaded versions keep serving)", name, error.message());
    std::unique_lock lock(mu_);
    models_[name].reason = error.message();
    return error;
  };
  if (!InsideRoot(dir)) return record_model_error(InvalidArgument("model directory resolves outside the repository"));
  const std::string text = ReadText(dir / "config.pbtxt");
  auto parsed = ParseModelConfig(text, name);
  if (!parsed.ok()) return record_model_error(parsed.status());
  auto split = ParseTrafficSplit(*parsed);
  if (!split.ok()) return record_model_error(split.status());
  // An unknown backend fails each version (the config itself is valid and served).
  const auto backend = backends_->Find(*parsed);
  auto config = std::make_shared<const ModelConfig>(std::move(parsed).value());
  const std::vector<int64_t> desired = SelectVersions(*config, ListVersionDirs(dir));
  {
    std::unique_lock lock(mu_);
    ModelEntry& entry = models_[name];
    entry.config = config;
    entry.config_text = text;
    entry.split = *split;
    entry.reason = desired.empty() ? "no version directory matches the version policy" : "";
    for (int64_t v : desired) {
      VersionSlot& slot = entry.versions[v];
      if (slot.status.version == 0 || (!slot.model && slot.status.state != ModelState::kFailed)) {
        slot.status.version = v;
        SetState(name, &slot.status, ModelState::kLoading);
      }
    }
  }

  Status result = Status::Ok();
  for (int64_t v : desired) {
    const fs::path version_dir = dir / std::to_string(v);
    const std::string fingerprint = Fingerprint(version_dir, *config);
    {
      std::shared_lock lock(mu_);
      const VersionSlot& slot = models_[name].versions[v];
      if (slot.fingerprint == fingerprint) continue;  // loaded (or failed) from exactly these files
    }
    Status inside = Status::Ok();
    for (const auto& file : fs::directory_iterator(version_dir, ec)) {
      if (!InsideRoot(file.path())) inside = InvalidArgument(file.path().string() + " resolves outside the repository");
    }
    if (!InsideRoot(version_dir)) inside = InvalidArgument("version directory resolves outside the repository");
    const auto start = Clock::now();
    if (!backend.ok()) inside = backend.status();
    StatusOr<std::shared_ptr<ModelVersion>> loaded =
        inside.ok() ? ModelVersion::Load(*config, dir, v, *backend, metrics_, max_tensor_elements_.load()) : inside;
    std::shared_ptr<ModelVersion> replaced;
    {
      std::unique_lock lock(mu_);
      VersionSlot& slot = models_[name].versions[v];
      slot.fingerprint = fingerprint;
      if (loaded.ok()) {
        replaced = std::move(slot.model);
        slot.model = *loaded;
        SetState(name, &slot.status, ModelState::kReady);
      } else if (slot.model) {
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
    if (replaced) Drain(std::move(replaced));
  }

  // Versions the policy no longer selects leave, unless none of the selected
  // ones is ready: then the old ones keep serving until a new one loads.
  std::vector<int64_t> keep = desired;
  {
    std::shared_lock lock(mu_);
    const auto& versions = models_[name].versions;
    const bool any_desired_ready = std::any_of(desired.begin(), desired.end(), [&](int64_t v) {
      auto it = versions.find(v);
      return it != versions.end() && it->second.model;
    });
    if (!any_desired_ready) {
      for (const auto& [v, slot] : versions) {
        if (slot.model) keep.push_back(v);
      }
    }
  }
  for (auto& old : RetireVersions(name, keep)) Drain(std::move(old));
  return result;
}

std::vector<std::shared_ptr<ModelVersion>> ModelRepository::RetireVersions(const std::string& name,
                                                                           const std::vector<int64_t>& keep) {
  std::vector<std::shared_ptr<ModelVersion>> retired;
  std::unique_lock lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return retired;
  for (auto& [v, slot] : it->second.versions) {
    if (std::find(keep.begin(), keep.end(), v) != keep.end()) continue;
    if (slot.model) {
      retired.push_back(std::move(slot.model));
      spdlog::info("model '{}' version {} UNLOADING (draining in-flight requests)", name, v);
    }
    if (slot.status.state != ModelState::kUnavailable) SetState(name, &slot.status, ModelState::kUnavailable);
    slot.fingerprint.clear();
  }
  return retired;
}

void ModelRepository::Drain(std::shared_ptr<ModelVersion> version) {
  // Requests hold handles; once ours is the only one, nothing is queued or
  // executing on this version and it can go.
  const auto deadline = Clock::now() + kDrainTimeout;
  while (version.use_count() > 1 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  version->Shutdown();
  spdlog::info("model '{}' version {} unloaded", version->name(), version->version());
}

Status ModelRepository::Unload(const std::string& name) {
  std::lock_guard sync(sync_mu_);
  {
    std::shared_lock lock(mu_);
    if (!models_.count(name)) return NotFound("model '" + name + "' is not in the repository");
  }
  for (auto& old : RetireVersions(name, {})) Drain(std::move(old));
  return Status::Ok();
}

void ModelRepository::StartPolling(std::chrono::milliseconds interval) {
  poller_ = std::thread([this, interval] {
    std::unique_lock lock(poll_mu_);
    while (!poll_cv_.wait_for(lock, interval, [&] { return stopping_; })) {
      lock.unlock();
      Status s = Poll();
      if (!s.ok()) spdlog::error("repository poll: {}", s.message());
      lock.lock();
    }
  });
}

StatusOr<std::shared_ptr<ModelVersion>> ModelRepository::Get(const std::string& name, int64_t version) const {
  ASSIGN_OR_RETURN(RouteResult route, Route(name, version, {}));
  return route.primary;
}

StatusOr<RouteResult> ModelRepository::Route(const std::string& name, int64_t version,
                                             std::string_view routing_key) const {
  std::shared_lock lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound("model '" + name + "' is not in the repository");
  const ModelEntry& entry = it->second;
  auto ready = [&](int64_t v) {
    auto slot = entry.versions.find(v);
    return slot != entry.versions.end() && slot->second.model != nullptr;
  };
  RouteResult route;
  if (version == 0) {
    if (entry.split.enabled()) version = entry.split.Pick(routing_key, ready);
    if (version == 0) {
      for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
        if (v->second.model) {
          version = v->first;
          break;
        }
      }
    }
    if (version == 0) {
      std::string why = entry.reason;
      for (const auto& [_, slot] : entry.versions) {
        if (!slot.status.reason.empty()) why = slot.status.reason;
      }
      return Unavailable("model '" + name + "' has no ready version" + (why.empty() ? "" : ": " + why));
    }
    const int64_t shadow = entry.split.shadow_version;
    if (shadow != version && ready(shadow) && entry.split.MirrorThis(routing_key)) {
      route.shadow = entry.versions.at(shadow).model;
    }
  }
  auto v = entry.versions.find(version);
  if (v == entry.versions.end()) return NotFound("model '" + name + "' has no version " + std::to_string(version));
  if (!v->second.model) {
    return Unavailable("model '" + name + "' version " + std::to_string(version) + " is " +
                       ModelStateName(v->second.status.state) +
                       (v->second.status.reason.empty() ? "" : ": " + v->second.status.reason));
  }
  route.primary = v->second.model;
  return route;
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
      if (slot.model) ready.push_back(slot.model);
    }
  }
  return ready;
}

bool ModelRepository::AllReady() const {
  std::shared_lock lock(mu_);
  for (const auto& [_, entry] : models_) {
    bool any = false;
    for (const auto& [__, slot] : entry.versions) any = any || slot.model != nullptr;
    if (!any) return false;
  }
  return true;
}

void ModelRepository::RefreshMetrics() const {
  for (const auto& version : ReadyVersions()) version->RefreshMetrics();
}

void ModelRepository::Shutdown() {
  {
    std::lock_guard lock(poll_mu_);
    stopping_ = true;
  }
  poll_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
  std::vector<std::string> names;
  {
    std::shared_lock lock(mu_);
    for (const auto& [name, _] : models_) names.push_back(name);
  }
  std::lock_guard sync(sync_mu_);
  for (const auto& name : names) {
    for (auto& old : RetireVersions(name, {})) old->Shutdown();  // in-flight work finishes in Shutdown()
  }
}

}  // namespace protoserve
