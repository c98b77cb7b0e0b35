// ModelRepository with the fake backend: lifecycle states, drains that do
// not block other models, filesystem errors that fail a load instead of the
// server, and hot swap / unload under concurrent traffic (run under ASan by
// `make test-asan`, where a use-after-free of a drained version would show).
#include "core/model_repository.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "support/fake_backend.h"

namespace protoserve {
namespace {

using namespace std::chrono_literals;
using testing::DoublingConfig;
using testing::FakeBackend;
using testing::Gate;
using testing::TempRepository;
namespace fs = std::filesystem;

// Routes one request to `name` and queues it; the future has its final status.
// The callback holds the routed handle, as the front-ends do.
std::future<Status> InferOn(const ModelRepository& repository, const std::string& name) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  auto route = repository.Route(name, 0, "");
  if (!route.ok()) {
    promise->set_value(route.status());
    return future;
  }
  const float x[3] = {1, 2, 3};
  InferenceRequest request;
  request.inputs.push_back({"x", Tensor::FromString(DataType::kFp32, {1, 3}, std::string(reinterpret_cast<const char*>(x), sizeof(x)))});
  std::shared_ptr<ModelVersion> version = route->primary;
  ModelVersion* raw = version.get();
  Status queued = raw->Infer(std::move(request), [promise, version = std::move(version)](Status s, InferenceResponse r) {
    if (s.ok() && r.outputs.at(0).tensor.data_as<float>()[2] != 6.0f) s = Internal("wrong answer");
    promise->set_value(std::move(s));
  });
  if (!queued.ok()) promise->set_value(queued);
  return future;
}

ModelState StateOf(const ModelRepository& repository, const std::string& name, int64_t version) {
  for (const auto& entry : repository.Index()) {
    for (const auto& v : entry.versions) {
      if (entry.name == name && v.version == version) return v.state;
    }
  }
  return ModelState::kFailed;
}

template <typename Predicate>
bool WaitUntil(Predicate predicate, std::chrono::seconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

std::string OpenConfig() { return "backend: \"fake_open\"" + DoublingConfig().substr(std::string("backend: \"fake\"").size()); }

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backends_.Register("fake", std::make_shared<FakeBackend>(&gate_));
    backends_.Register("fake_open", open_backend_);
  }
  Gate gate_;
  std::shared_ptr<FakeBackend> open_backend_ = std::make_shared<FakeBackend>();
  BackendRegistry backends_;
  TempRepository disk_{"repo-test"};
};

TEST_F(ModelRepositoryTest, DrainOfOneModelDoesNotBlockAnotherModelsLoad) {
  disk_.AddModel("slow", DoublingConfig());
  ModelRepository repository(disk_.root(), &backends_);
  ASSERT_TRUE(repository.LoadAll().ok());
  ASSERT_EQ(StateOf(repository, "slow", 1), ModelState::kReady);

  gate_.Close();
  std::future<Status> in_flight = std::async(std::launch::async, [&] { return InferOn(repository, "slow").get(); });
  ASSERT_TRUE(gate_.AwaitEntered(1));
  std::future<Status> unloaded = std::async(std::launch::async, [&] { return repository.Unload("slow"); });
  ASSERT_TRUE(WaitUntil([&] { return StateOf(repository, "slow", 1) == ModelState::kUnloading; }));
  EXPECT_EQ(repository.Route("slow", 0, "").status().code(), StatusCode::kUnavailable);

  // While "slow" drains its held request, another model loads and serves.
  disk_.AddModel("fast", OpenConfig());
  ASSERT_TRUE(repository.Sync("fast").ok());
  EXPECT_TRUE(InferOn(repository, "fast").get().ok());
  EXPECT_EQ(unloaded.wait_for(0s), std::future_status::timeout);  // still draining

  gate_.Open();
  EXPECT_TRUE(in_flight.get().ok());  // the drained request completed normally
  EXPECT_TRUE(unloaded.get().ok());
  EXPECT_EQ(StateOf(repository, "slow", 1), ModelState::kUnavailable);
}

TEST_F(ModelRepositoryTest, SymlinkLoopConfigFailsTheModelNotTheServer) {
  disk_.AddModel("good", DoublingConfig());
  fs::create_directories(disk_.root() / "loop" / "1");
  fs::create_symlink("config.pbtxt", disk_.root() / "loop" / "config.pbtxt");  // points to itself
  ModelRepository repository(disk_.root(), &backends_);
  ASSERT_TRUE(repository.LoadAll().ok());  // poll mode's scan: no exception escapes
  ASSERT_TRUE(repository.Poll().ok());
  EXPECT_TRUE(InferOn(repository, "good").get().ok());
  bool found = false;
  for (const auto& entry : repository.Index()) {
    if (entry.name != "loop") continue;
    found = true;
    EXPECT_NE(entry.reason.find("symbolic links"), std::string::npos) << entry.reason;
  }
  EXPECT_TRUE(found);
  EXPECT_FALSE(repository.Sync("loop").ok());  // explicit mode: an error, not a crash
}

TEST_F(ModelRepositoryTest, LabelFileOutsideTheRepositoryFailsTheLoad) {
  disk_.AddModel("labels", R"(backend: "fake" max_batch_size: 4
input { name: "x" data_type: TYPE_FP32 dims: [ 3 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 3 ] label_filename: "l.txt" })");
  fs::create_symlink("/etc/hostname", disk_.root() / "labels" / "l.txt");
  ModelRepository repository(disk_.root(), &backends_);
  ASSERT_TRUE(repository.LoadAll().ok());
  ASSERT_EQ(StateOf(repository, "labels", 1), ModelState::kFailed);
  const std::string reason = repository.Index().at(0).versions.at(0).reason;
  EXPECT_NE(reason.find("outside the repository"), std::string::npos) << reason;
}

TEST_F(ModelRepositoryTest, HotSwapAndUnloadUnderTrafficLoseNoCallback) {
  disk_.AddModel("m", OpenConfig());
  ModelRepository repository(disk_.root(), &backends_);
  ASSERT_TRUE(repository.LoadAll().ok());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        Status s = InferOn(repository, "m").get();  // every accepted request completes
        (s.ok() ? ok : refused).fetch_add(1);
        if (!s.ok()) {
          EXPECT_TRUE(s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kNotFound) << s.ToString();
        }
      }
    });
  }
  for (int round = 0; round < 40; ++round) {
    testing::WriteFile(disk_.root() / "m" / "1" / "weights", std::to_string(round));  // a new fingerprint: swap
    ASSERT_TRUE(repository.Sync("m").ok());
    if (round % 4 == 3) {
      ASSERT_TRUE(repository.Unload("m").ok());
      ASSERT_TRUE(repository.Sync("m").ok());
    }
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GE(open_backend_->loads.load(), 40);
  repository.Shutdown();
}

}  // namespace
}  // namespace protoserve
