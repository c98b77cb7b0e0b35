// RepositoryScanner on its own: which folders are models and versions, the
// version policy, the fingerprint that decides a reload, and path safety
// (links out of the repository, a symlink loop, an oversized config) as
// errors, never exceptions.
#include "core/repository_scanner.h"

#include <gtest/gtest.h>

#include "support/fake_backend.h"
#include "support/parse_config.h"

namespace protoserve {
namespace {

namespace fs = std::filesystem;
using testing::DoublingConfig;
using testing::TempRepository;
using testing::WriteFile;

ModelConfig Parsed(const std::string& text) { return testing::ParseConfigOrFail(text); }

TEST(RepositoryScannerTest, ModelsAreValidNamesWithAConfigAndVersionsArePositiveNumbers) {
  TempRepository disk("scanner");
  disk.AddModel("b", DoublingConfig(), {1, 3, 10});
  disk.AddModel("a", DoublingConfig(), {});
  fs::create_directories(disk.root() / "no_config" / "1");
  fs::create_directories(disk.root() / "b" / "0");
  fs::create_directories(disk.root() / "b" / "v2");
  fs::create_directories(disk.root() / "b" / "1234567890123456789");  // 19 digits: not a version
  WriteFile(disk.root() / "b" / "7", "a file, not a folder");
  RepositoryScanner scanner(disk.root());
  EXPECT_TRUE(scanner.CheckRoot().ok());
  EXPECT_EQ(scanner.ModelNames(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(scanner.Versions("b"), (std::vector<int64_t>{1, 3, 10}));
  EXPECT_TRUE(scanner.Versions("a").empty());
  EXPECT_EQ(RepositoryScanner(disk.root() / "missing").CheckRoot().code(), StatusCode::kNotFound);
}

TEST(RepositoryScannerTest, VersionPolicySelectsLatestAllOrSpecific) {
  const std::vector<int64_t> available = {1, 2, 5};
  EXPECT_EQ(SelectVersions(Parsed(DoublingConfig()), available), (std::vector<int64_t>{5}));
  EXPECT_EQ(SelectVersions(Parsed(DoublingConfig("version_policy { latest { num_versions: 2 } }")), available),
            (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(SelectVersions(Parsed(DoublingConfig("version_policy { all {} }")), available), available);
  EXPECT_EQ(SelectVersions(Parsed(DoublingConfig("version_policy { specific { versions: [1, 4] } }")), available),
            (std::vector<int64_t>{1}));
}

TEST(RepositoryScannerTest, FingerprintFollowsFilesAndServingConfigButNotRouting) {
  TempRepository disk("scanner");
  disk.AddModel("m", DoublingConfig());
  WriteFile(disk.root() / "m" / "1" / "model.bin", "weights");
  RepositoryScanner scanner(disk.root());
  const ModelConfig config = Parsed(DoublingConfig());
  const std::string first = scanner.Fingerprint("m", 1, config);
  EXPECT_EQ(scanner.Fingerprint("m", 1, config), first);
  // Routing parameters change the split, not the loaded version.
  const ModelConfig routed =
      Parsed(DoublingConfig("parameters { key: \"protoserve.shadow\" value { string_value: \"2:5\" } }"));
  EXPECT_EQ(scanner.Fingerprint("m", 1, routed), first);
  EXPECT_NE(scanner.Fingerprint("m", 1, Parsed(DoublingConfig("dynamic_batching { max_queue_delay_microseconds: 100 }"))), first);
  WriteFile(disk.root() / "m" / "1" / "model.bin", "other weights");  // size changes
  EXPECT_NE(scanner.Fingerprint("m", 1, config), first);
}

TEST(RepositoryScannerTest, LinksOutLoopsAndHugeConfigsAreErrors) {
  TempRepository disk("scanner");
  TempRepository outside("outside");
  disk.AddModel("m", DoublingConfig());
  RepositoryScanner scanner(disk.root());
  ASSERT_TRUE(scanner.ReadConfig("m").ok());
  const ModelConfig config = Parsed(DoublingConfig());

  WriteFile(outside.root() / "secret.bin", "x");
  fs::create_symlink(outside.root() / "secret.bin", disk.root() / "m" / "1" / "model.bin");
  Status linked = scanner.CheckVersionFiles("m", 1, config);
  EXPECT_EQ(linked.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(linked.message().find("resolves outside the repository"), std::string::npos) << linked.ToString();

  disk.AddModel("loop", "");
  fs::remove(disk.root() / "loop" / "config.pbtxt");
  fs::create_symlink(disk.root() / "loop" / "config.pbtxt", disk.root() / "loop" / "config.pbtxt");
  EXPECT_FALSE(scanner.ReadConfig("loop").ok());  // ELOOP: an error, not an exception

  disk.AddModel("huge", std::string(kMaxConfigBytes + 1, '#'));
  Status huge = scanner.ReadConfig("huge").status();
  EXPECT_EQ(huge.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(huge.message().find("at most"), std::string::npos) << huge.ToString();
}

}  // namespace
}  // namespace protoserve
