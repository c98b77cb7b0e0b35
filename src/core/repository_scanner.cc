#include "core/repository_scanner.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace protoserve {

namespace fs = std::filesystem;

RepositoryScanner::RepositoryScanner(fs::path root, fs::path symlink_root) : root_(std::move(root)) {
  std::error_code ec;
  canonical_root_ = fs::weakly_canonical(root_, ec);
  if (!symlink_root.empty()) canonical_symlink_root_ = fs::weakly_canonical(fs::absolute(symlink_root, ec), ec);
}

Status RepositoryScanner::CheckRoot() const {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) {
    return NotFound("model repository '" + root_.string() + "' is not a directory" + (ec ? ": " + ec.message() : ""));
  }
  return Status::Ok();
}

Status RepositoryScanner::CheckInside(const fs::path& path, const std::string& what) const {
  std::error_code ec;
  const std::string resolved = fs::weakly_canonical(path, ec).string();
  if (ec) return InvalidArgument(what + ": " + ec.message());
  const auto within = [&resolved](const fs::path& dir) {
    const std::string prefix = dir.string() + "/";
    return !dir.empty() && resolved.compare(0, prefix.size(), prefix) == 0;
  };
  if (within(canonical_root_) || within(canonical_symlink_root_)) return Status::Ok();
  if (canonical_symlink_root_.empty()) return InvalidArgument(what + " resolves outside the repository");
  return InvalidArgument(what + " resolves outside the repository and outside the allowed symlink root " +
                         canonical_symlink_root_.string());
}

bool RepositoryScanner::HasModel(const std::string& name) const {
  std::error_code ec;
  const fs::path dir = ModelDir(name);
  return fs::is_directory(dir, ec) && fs::exists(fs::symlink_status(dir / "config.pbtxt", ec)) && !ec;
}

std::vector<std::string> RepositoryScanner::ModelNames() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (IsValidModelName(name) && HasModel(name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

StatusOr<std::string> RepositoryScanner::ReadConfig(const std::string& name) const {
  const fs::path dir = ModelDir(name);
  RETURN_IF_ERROR(CheckInside(dir, "model directory"));
  const fs::path file = dir / "config.pbtxt";
  RETURN_IF_ERROR(CheckInside(file, "config.pbtxt"));
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    return InvalidArgument("config.pbtxt is not a regular file" + (ec ? ": " + ec.message() : ""));
  }
  const uintmax_t size = fs::file_size(file, ec);
  if (ec) return InvalidArgument("config.pbtxt: " + ec.message());
  if (size > kMaxConfigBytes) {
    return InvalidArgument("config.pbtxt is " + std::to_string(size) + " bytes, at most " +
                           std::to_string(kMaxConfigBytes) + " allowed");
  }
  std::ifstream in(file);
  if (!in) return InvalidArgument("cannot read config.pbtxt");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Status RepositoryScanner::CheckVersionFiles(const std::string& name, int64_t version,
                                            const ModelConfig& config) const {
  const fs::path dir = ModelDir(name);
  RETURN_IF_ERROR(CheckInside(dir, "model directory"));
  const fs::path version_dir = dir / std::to_string(version);
  RETURN_IF_ERROR(CheckInside(version_dir, "version directory"));
  std::error_code ec;
  for (fs::directory_iterator it(version_dir, ec), end; !ec && it != end; it.increment(ec)) {
    RETURN_IF_ERROR(CheckInside(it->path(), it->path().string()));
  }
  if (ec) return InvalidArgument("version directory " + version_dir.string() + ": " + ec.message());
  for (const auto& output : config.output()) {
    if (output.label_filename().empty()) continue;
    RETURN_IF_ERROR(CheckInside(dir / output.label_filename(), "label file " + output.label_filename()));
  }
  return Status::Ok();
}

std::vector<int64_t> RepositoryScanner::Versions(const std::string& name) const {
  return ListVersionDirs(ModelDir(name));
}

std::string RepositoryScanner::Fingerprint(const std::string& name, int64_t version,
                                           const ModelConfig& config) const {
  ModelConfig serving = config;
  for (auto it = serving.mutable_parameters()->begin(); it != serving.mutable_parameters()->end();) {
    it = it->first.starts_with("protoserve.") ? serving.mutable_parameters()->erase(it) : std::next(it);
  }
  std::string out;
  serving.SerializeToString(&out);
  std::vector<std::string> files;
  std::error_code ec;
  const fs::path version_dir = ModelDir(name) / std::to_string(version);
  for (fs::directory_iterator it(version_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code file_ec;
    const auto time = it->last_write_time(file_ec).time_since_epoch().count();
    const auto size = it->file_size(file_ec);
    files.push_back(it->path().filename().string() + ":" + std::to_string(file_ec ? 0 : size) + ":" +
                    std::to_string(file_ec ? 0 : time));
  }
  // A model's contract (.proto files anywhere in its folder outside the
  // version folders: docs/typed-apis.md) loads with each version.
  const fs::path model_dir = ModelDir(name);
  std::error_code walk_ec;
  for (fs::recursive_directory_iterator it(model_dir, walk_ec), end; !walk_ec && it != end; it.increment(walk_ec)) {
    std::error_code file_ec;
    if (it.depth() == 0 && it->is_directory(file_ec)) {
      const std::string dir = it->path().filename().string();
      if (!dir.empty() && std::all_of(dir.begin(), dir.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        it.disable_recursion_pending();
        continue;
      }
    }
    if (it->path().extension() != ".proto" || !it->is_regular_file(file_ec)) continue;
    const auto time = it->last_write_time(file_ec).time_since_epoch().count();
    const auto size = it->file_size(file_ec);
    files.push_back("proto:" + fs::relative(it->path(), model_dir, file_ec).string() + ":" +
                    std::to_string(file_ec ? 0 : size) + ":" + std::to_string(file_ec ? 0 : time));
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) out += "|" + f;
  return out;
}

std::vector<int64_t> ListVersionDirs(const fs::path& model_dir) {
  std::vector<int64_t> versions;
  std::error_code ec;
  for (fs::directory_iterator it(model_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code dir_ec;
    if (!it->is_directory(dir_ec) || name.empty() || name.size() > 18 ||
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

}  // namespace protoserve
