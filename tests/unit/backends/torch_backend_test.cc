// The TorchScript backend against modules scripted here (torch::jit::Module
// define + save): outputs in config order and cast to the config's types,
// tuple results, and a clear error, never a crash, for a missing or corrupt
// file, an unsupported type, a bad thread count, an output-count mismatch and
// a forward() that throws.
#include "backends/torch/torch_backend.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include "backend_test_support.h"

namespace protoserve {
namespace {

using testing::Config;
using testing::Floats;
using testing::Values;
using testing::VersionDir;

constexpr char kTwoOutputs[] = R"(backend: "pytorch"
max_batch_size: 8
input { name: "x" data_type: TYPE_FP32 dims: [ 2 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 2 ] }
output { name: "total" data_type: TYPE_INT64 dims: [ 1 ] }
)";

void SaveModule(const VersionDir& dir, const std::string& source, const std::string& file = "model.pt") {
  torch::jit::Module module("M");
  module.define(source);
  module.save((dir.path() / file).string());
}

std::unique_ptr<LoadedModel> LoadOk(const std::string& config, const VersionDir& dir) {
  auto loaded = MakeTorchBackend()->Load(Config(config), dir.path());
  EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
  return loaded.ok() ? std::move(loaded).value() : nullptr;
}

TEST(TorchBackendTest, TupleResultMapsToOutputsInConfigOrderWithTheirTypes) {
  VersionDir dir;
  SaveModule(dir, R"(
def forward(self, x):
    return (x * 2.0 + 1.0, x.sum(1, keepdim=True) + 0.6)
)");
  auto model = LoadOk(kTwoOutputs, dir);
  ASSERT_NE(model, nullptr);
  model->PrepareThread();
  std::vector<Tensor> outputs;
  ASSERT_TRUE(model->Execute({Floats({2, 2}, {1, 2, 3, 4})}, &outputs).ok());
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(Values(outputs[0]), (std::vector<float>{3, 5, 7, 9}));
  EXPECT_EQ(outputs[1].dtype(), DataType::kInt64);  // cast to the config's type
  EXPECT_EQ(outputs[1].shape(), (Shape{2, 1}));
  EXPECT_EQ(outputs[1].data_as<int64_t>()[0], 3);  // 3.6 truncated
  EXPECT_EQ(outputs[1].data_as<int64_t>()[1], 7);
}

TEST(TorchBackendTest, DefaultModelFilenameIsHonoured) {
  VersionDir dir;
  SaveModule(dir, "def forward(self, x):\n    return -x\n", "weights.pt");
  auto model = LoadOk(R"(backend: "pytorch" max_batch_size: 4 default_model_filename: "weights.pt"
input { name: "x" data_type: TYPE_FP32 dims: [ 1 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 1 ] })",
                      dir);
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(model->Execute({Floats({1, 1}, {5})}, &outputs).ok());
  EXPECT_EQ(Values(outputs[0]), (std::vector<float>{-5}));
}

TEST(TorchBackendTest, MissingCorruptOrUnsupportedModelsFailToLoadWithTheirReason) {
  VersionDir dir;
  auto missing = MakeTorchBackend()->Load(Config(kTwoOutputs), dir.path());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("model.pt"), std::string::npos);

  dir.Write("model.pt", "this is not a zip archive");
  auto corrupt = MakeTorchBackend()->Load(Config(kTwoOutputs), dir.path());
  EXPECT_EQ(corrupt.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(corrupt.status().message().find("cannot load TorchScript"), std::string::npos);

  SaveModule(dir, "def forward(self, x):\n    return x\n");
  std::string strings = kTwoOutputs;
  strings.replace(strings.find("TYPE_INT64"), 10, "TYPE_STRING");
  EXPECT_EQ(MakeTorchBackend()->Load(Config(strings), dir.path()).status().code(), StatusCode::kInvalidArgument);
  const std::string threads = std::string(kTwoOutputs) +
                              R"(parameters { key: "INTRA_OP_THREAD_COUNT" value { string_value: "0" } })";
  EXPECT_EQ(MakeTorchBackend()->Load(Config(threads), dir.path()).status().code(), StatusCode::kInvalidArgument);
}

TEST(TorchBackendTest, WrongOutputCountAndThrowingForwardAreInternalErrors) {
  VersionDir dir;
  SaveModule(dir, "def forward(self, x):\n    return x\n");  // one tensor, config declares two
  auto model = LoadOk(kTwoOutputs, dir);
  ASSERT_NE(model, nullptr);
  std::vector<Tensor> outputs;
  Status count = model->Execute({Floats({1, 2}, {1, 2})}, &outputs);
  EXPECT_EQ(count.code(), StatusCode::kInternal);
  EXPECT_NE(count.message().find("config declares 2 outputs"), std::string::npos) << count.ToString();

  VersionDir other;
  SaveModule(other, R"(
def forward(self, x):
    return (torch.mm(x, x), x)
)");
  auto throwing = LoadOk(kTwoOutputs, other);
  ASSERT_NE(throwing, nullptr);
  Status thrown = throwing->Execute({Floats({1, 2}, {1, 2})}, &outputs);  // [1,2] x [1,2]: no matmul
  EXPECT_EQ(thrown.code(), StatusCode::kInternal);
  EXPECT_NE(thrown.message().find("torch forward failed"), std::string::npos) << thrown.ToString();
}

TEST(TorchBackendTest, OptimizeForInferenceKeepsTheAnswersAndRejectsABadValue) {
  VersionDir dir;
  torch::jit::Module module("M");
  module.register_parameter("w", torch::tensor({0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f}).reshape({3, 2}), false);
  module.register_parameter("b", torch::tensor({0.1f, 0.2f, 0.3f}), false);
  module.define(R"(
def forward(self, x):
    return torch.log_softmax(torch.matmul(torch.relu(x), self.w.t()) + self.b, 1)
)");
  module.save((dir.path() / "model.pt").string());
  const std::string config = R"(backend: "pytorch" max_batch_size: 8
input { name: "x" data_type: TYPE_FP32 dims: [ 2 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 3 ] })";
  auto plain = LoadOk(config, dir);
  auto optimized = LoadOk(config + R"(parameters { key: "OPTIMIZE_FOR_INFERENCE" value { string_value: "true" } })",
                          dir);
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(optimized, nullptr);
  for (int rows : {1, 3}) {
    std::vector<float> x;
    for (int i = 0; i < 2 * rows; ++i) x.push_back(0.7f * static_cast<float>(i) - 1.0f);
    std::vector<Tensor> a, b;
    ASSERT_TRUE(plain->Execute({Floats({rows, 2}, x)}, &a).ok());
    ASSERT_TRUE(optimized->Execute({Floats({rows, 2}, x)}, &b).ok());
    const std::vector<float> want = Values(a[0]), got = Values(b[0]);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "rows " << rows << " i " << i;
  }
  // Rows of a 3-D input (not the single-row matrix-vector path) keep matmul's answer too.
  VersionDir rows3d;
  torch::jit::Module wide("W");
  wide.register_parameter("w", torch::tensor({0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f}).reshape({3, 2}), false);
  wide.define(R"(
def forward(self, x):
    return torch.matmul(x, self.w.t())
)");
  wide.save((rows3d.path() / "model.pt").string());
  const std::string config3d = R"(backend: "pytorch" max_batch_size: 8
input { name: "x" data_type: TYPE_FP32 dims: [ 2, 2 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 2, 3 ] })";
  auto plain3d = LoadOk(config3d, rows3d);
  auto optimized3d = LoadOk(config3d + R"(parameters { key: "OPTIMIZE_FOR_INFERENCE" value { string_value: "true" } })",
                            rows3d);
  ASSERT_NE(plain3d, nullptr);
  ASSERT_NE(optimized3d, nullptr);
  for (int rows : {1, 2}) {
    std::vector<float> x;
    for (int i = 0; i < 4 * rows; ++i) x.push_back(0.3f * static_cast<float>(i) - 0.5f);
    std::vector<Tensor> a, b;
    ASSERT_TRUE(plain3d->Execute({Floats({rows, 2, 2}, x)}, &a).ok());
    ASSERT_TRUE(optimized3d->Execute({Floats({rows, 2, 2}, x)}, &b).ok());
    ASSERT_EQ(b[0].shape(), (Shape{rows, 2, 3}));
    const std::vector<float> want = Values(a[0]), got = Values(b[0]);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "3-D rows " << rows << " i " << i;
  }
  auto bad = MakeTorchBackend()->Load(
      Config(config + R"(parameters { key: "OPTIMIZE_FOR_INFERENCE" value { string_value: "yes" } })"), dir.path());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("OPTIMIZE_FOR_INFERENCE"), std::string::npos) << bad.status().ToString();
}

}  // namespace
}  // namespace protoserve
