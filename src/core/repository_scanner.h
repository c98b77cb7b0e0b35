// RepositoryScanner: what a Triton-style model repository holds on disk.
//
// The only part of the core that touches the repository's filesystem: which
// models and versions exist, their config text, a fingerprint of the files a
// version would load from, and the rule that nothing outside the repository
// is read (model and version directories, config.pbtxt, label files and model
// files must resolve, symlinks included, inside the root). Optionally one
// more directory, the symlink root, is trusted too: a repository whose
// entries are symlinks into it loads (KServe's storage initializer links
// /mnt/models/<entry> to the files of a local or PVC source). Model names
// are validated before they reach the filesystem either way, so a request
// can never name a path outside the repository's own folders.
//
// Every filesystem call uses the error_code overloads: a symlink loop, a
// permission error or a name too long is a per-model error (a failed load,
// the previous version keeps serving), never an exception that could leave
// a poller thread and terminate the server.
//
// Thread-safety: const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/model_config.h"
#include "core/status.h"

namespace protoserve {

// config.pbtxt files larger than this are refused (a config is a few KiB).
inline constexpr uintmax_t kMaxConfigBytes = uintmax_t{1} << 20;

class RepositoryScanner {
 public:
  // `symlink_root`, when not empty, is a second directory that repository
  // entries may resolve into (through symlinks); "/" is not accepted there
  // by callers (it would disable the check), see main.cc.
  explicit RepositoryScanner(std::filesystem::path root, std::filesystem::path symlink_root = {});

  const std::filesystem::path& root() const { return root_; }
  // OK when the root is a readable directory.
  Status CheckRoot() const;
  // Names of valid model folders that hold a config.pbtxt, sorted.
  std::vector<std::string> ModelNames() const;
  // True when `name` is a folder with a config.pbtxt (a valid name is assumed).
  bool HasModel(const std::string& name) const;
  // The text of `name`'s config.pbtxt, checked to be inside the root.
  StatusOr<std::string> ReadConfig(const std::string& name) const;
  // Checks that the model folder, the version folder, every file in it and
  // every label file the config names resolve inside the root.
  Status CheckVersionFiles(const std::string& name, int64_t version, const ModelConfig& config) const;
  // Numeric version folders of `name`, ascending.
  std::vector<int64_t> Versions(const std::string& name) const;
  // What version `version` would be loaded from: its files' names, sizes and
  // mtimes, plus the config minus protoserve.* routing parameters (which
  // change without a reload).
  std::string Fingerprint(const std::string& name, int64_t version, const ModelConfig& config) const;

  std::filesystem::path ModelDir(const std::string& name) const { return root_ / name; }

 private:
  Status CheckInside(const std::filesystem::path& path, const std::string& what) const;

  const std::filesystem::path root_;
  std::filesystem::path canonical_root_;
  std::filesystem::path canonical_symlink_root_;  // empty: none
};

// Numeric version folders of `model_dir`, ascending (errors: none listed).
std::vector<int64_t> ListVersionDirs(const std::filesystem::path& model_dir);
// The versions `config`'s version_policy selects from `available`.
std::vector<int64_t> SelectVersions(const ModelConfig& config, const std::vector<int64_t>& available);

}  // namespace protoserve
