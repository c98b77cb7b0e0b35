// Test support: the one fake backend of the unit tests, a gate that holds
// executions, and a temporary model repository on disk.
//
// DoublingModel answers y = 2 * x for an FP32 input `x` (any shape), passing
// the gate first, so a test can hold requests in execution (a slow request
// during a drain, a full queue) and release them when it chooses.
#pragma once

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>

#include "core/backend.h"

namespace protoserve::testing {

// Holds executions while closed; counts those that entered.
class Gate {
 public:
  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
    entered_ = 0;
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Pass() {
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  // Waits until `n` executions entered since the last Close(); false after `timeout`.
  bool AwaitEntered(int n, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return entered_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int entered_ = 0;
};

class DoublingModel : public LoadedModel {
 public:
  explicit DoublingModel(Gate* gate, std::atomic<int>* executions = nullptr) : gate_(gate), executions_(executions) {}
  Status Execute(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) override {
    if (executions_) executions_->fetch_add(1);
    if (gate_) gate_->Pass();
    const Tensor& x = inputs[0];
    Tensor y = Tensor::Allocate(DataType::kFp32, x.shape(), x.byte_size());
    for (int64_t i = 0; i < x.element_count(); ++i) {
      reinterpret_cast<float*>(y.mutable_data())[i] = 2 * x.data_as<float>()[i];
    }
    outputs->push_back(std::move(y));
    return Status::Ok();
  }

 private:
  Gate* gate_;
  std::atomic<int>* executions_;
};

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(Gate* gate = nullptr) : gate_(gate) {}
  StatusOr<std::unique_ptr<LoadedModel>> Load(const ModelConfig&, const std::filesystem::path& dir) override {
    loads.fetch_add(1);
    std::error_code ec;
    if (std::filesystem::exists(dir / "corrupt", ec)) return InvalidArgument("corrupt model file");
    return std::unique_ptr<LoadedModel>(std::make_unique<DoublingModel>(gate_, &executions));
  }
  std::atomic<int> loads{0};
  std::atomic<int> executions{0};  // of every model it loaded, warm-up included

 private:
  Gate* gate_;
};

// A config for the fake backend: FP32 x -> FP32 y, batching up to 4 rows.
inline std::string DoublingConfig(const std::string& extra = "") {
  return R"(backend: "fake"
max_batch_size: 4
input { name: "x" data_type: TYPE_FP32 dims: [ 3 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 3 ] }
)" + extra;
}

inline void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A fresh directory under /tmp, removed with the object.
class TempRepository {
 public:
  explicit TempRepository(const std::string& tag) {
    std::string pattern = (std::filesystem::temp_directory_path() / ("protoserve-" + tag + "-XXXXXX")).string();
    root_ = mkdtemp(pattern.data());
  }
  ~TempRepository() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }
  // Adds `model` with `config` and version folders `versions`.
  void AddModel(const std::string& model, const std::string& config, std::initializer_list<int> versions = {1}) {
    WriteFile(root_ / model / "config.pbtxt", config);
    for (int v : versions) std::filesystem::create_directories(root_ / model / std::to_string(v));
  }

 private:
  std::filesystem::path root_;
};

}  // namespace protoserve::testing
