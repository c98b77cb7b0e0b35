// RepositoryScanner's symlink root (--allow-symlinks-within): a repository
// laid out as KServe's storage initializer lays it out (each entry of
// /mnt/models a symlink into the source, e.g. /mnt/pvc/<path>) loads only
// when that source directory is the allowed root; anything resolving
// elsewhere, and any traversal through a model name, stays refused.
#include <gtest/gtest.h>

#include "core/model_repository.h"
#include "core/repository_scanner.h"
#include "support/fake_backend.h"

namespace protoserve {
namespace {

namespace fs = std::filesystem;
using testing::DoublingConfig;
using testing::FakeBackend;
using testing::TempRepository;

class RepositorySymlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // <tmp>/pvc/models/doubler: the real files (the PVC or file:// source);
    // <tmp>/mnt/models/doubler -> <tmp>/pvc/models/doubler (the storage initializer's link).
    source_ = disk_.root() / "pvc" / "models";
    repo_ = disk_.root() / "mnt" / "models";
    WriteModel(source_ / "doubler");
    fs::create_directories(repo_);
    fs::create_symlink(source_ / "doubler", repo_ / "doubler");
    backends_.Register("fake", std::make_shared<FakeBackend>());
  }

  static void WriteModel(const fs::path& dir) {
    testing::WriteFile(dir / "config.pbtxt", DoublingConfig());
    testing::WriteFile(dir / "1" / "model.bin", "weights");
  }

  // The version states of `name` after LoadAll, as "1:READY" or the model's failure reason.
  static std::string LoadState(ModelRepository& repository, const std::string& name) {
    EXPECT_TRUE(repository.LoadAll({name}).ok());
    for (const auto& entry : repository.Index()) {
      if (entry.name != name) continue;
      std::string out = entry.reason;
      for (const auto& v : entry.versions) out += std::to_string(v.version) + ":" + ModelStateName(v.state) + v.reason;
      return out;
    }
    return "absent";
  }

  TempRepository disk_{"symlink-test"};
  fs::path source_, repo_;
  BackendRegistry backends_;
};

TEST_F(RepositorySymlinkTest, LinkedRepositoryIsRefusedByDefault) {
  ModelRepository repository(repo_, &backends_);
  const std::string state = LoadState(repository, "doubler");
  EXPECT_NE(state.find("resolves outside the repository"), std::string::npos) << state;
  EXPECT_FALSE(repository.Route("doubler", 0, "").ok());
}

TEST_F(RepositorySymlinkTest, LinkedRepositoryLoadsWhenTheSourceIsTheAllowedRoot) {
  ModelRepository repository(repo_, &backends_, nullptr, disk_.root() / "pvc");
  EXPECT_EQ(LoadState(repository, "doubler"), "1:READY");
  EXPECT_TRUE(repository.Route("doubler", 0, "").ok());
}

TEST_F(RepositorySymlinkTest, RepositoryRootItselfALinkNeedsNoFlag) {
  // /mnt/models -> the source as a whole: the root's own target is the repository.
  const fs::path linked_root = disk_.root() / "models-link";
  fs::create_symlink(source_, linked_root);
  ModelRepository repository(linked_root, &backends_);
  EXPECT_EQ(LoadState(repository, "doubler"), "1:READY");
}

TEST_F(RepositorySymlinkTest, FilesLinkedOutsideBothRootsStayRefused) {
  // A model file inside the allowed source that links further out (to /etc).
  fs::create_symlink("/etc/hostname", source_ / "doubler" / "1" / "extra.bin");
  ModelRepository repository(repo_, &backends_, nullptr, disk_.root() / "pvc");
  const std::string state = LoadState(repository, "doubler");
  EXPECT_NE(state.find("outside the allowed symlink root"), std::string::npos) << state;
}

TEST_F(RepositorySymlinkTest, AllowedRootIsOneDirectoryNotItsSiblings) {
  // <tmp>/pvc-other shares the prefix "<tmp>/pvc" as a string, not as a directory.
  WriteModel(disk_.root() / "pvc-other" / "sibling");
  fs::create_symlink(disk_.root() / "pvc-other" / "sibling", repo_ / "sibling");
  ModelRepository repository(repo_, &backends_, nullptr, disk_.root() / "pvc");
  const std::string state = LoadState(repository, "sibling");
  EXPECT_NE(state.find("outside the allowed symlink root"), std::string::npos) << state;
}

TEST_F(RepositorySymlinkTest, ModelNamesCannotTraverseEvenWithTheFlag) {
  // A model directly in the allowed root but outside the repository: no name reaches it.
  WriteModel(disk_.root() / "pvc" / "secret");
  ModelRepository repository(repo_, &backends_, nullptr, disk_.root() / "pvc");
  for (const std::string name : {"../../pvc/secret", "../secret", "..", ".", "/tmp", "doubler/../../secret"}) {
    EXPECT_EQ(repository.LoadAll({name}).code(), StatusCode::kOk) << name;  // LoadAll records, never fails
    EXPECT_EQ(repository.Sync(name).code(), StatusCode::kInvalidArgument) << name;
    EXPECT_FALSE(repository.Route(name, 0, "").ok()) << name;
  }
  RepositoryScanner scanner(repo_, disk_.root() / "pvc");
  EXPECT_EQ(scanner.ModelNames(), std::vector<std::string>{"doubler"});
}

TEST_F(RepositorySymlinkTest, LabelFileLinkedIntoTheAllowedRootLoads) {
  ModelConfig config;
  config.add_output()->set_label_filename("labels.txt");
  testing::WriteFile(disk_.root() / "pvc" / "shared" / "labels.txt", "a\n");
  fs::create_symlink(disk_.root() / "pvc" / "shared" / "labels.txt", source_ / "doubler" / "labels.txt");
  EXPECT_FALSE(RepositoryScanner(repo_).CheckVersionFiles("doubler", 1, config).ok());
  EXPECT_TRUE(RepositoryScanner(repo_, disk_.root() / "pvc").CheckVersionFiles("doubler", 1, config).ok());
  EXPECT_TRUE(RepositoryScanner(repo_, disk_.root() / "pvc" / ".").CheckVersionFiles("doubler", 1, config).ok())
      << "the allowed root is compared canonical";
}

}  // namespace
}  // namespace protoserve
