// model_warmup: samples built from the config (zero, random, file data),
// clear load errors for samples that do not match the model, and warm-up
// runs (count times per instance) before a version is READY.
#include "core/model_warmup.h"

#include <gtest/gtest.h>

#include "core/model_repository.h"
#include "support/fake_backend.h"
#include "support/parse_config.h"

namespace protoserve {
namespace {

using testing::FakeBackend;
using testing::TempRepository;
using testing::WriteFile;

ModelConfig Parse(const std::string& text) { return testing::ParseConfigOrFail(text); }

constexpr const char* kModel = R"(backend: "fake" max_batch_size: 4
input { name: "x" data_type: TYPE_FP32 dims: [ 3 ] }
input { name: "ids" data_type: TYPE_INT64 dims: [ -1 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 3 ] }
)";

TEST(ModelWarmupTest, WithoutSamplesOneZeroFilledRequest) {
  TempRepository disk("warmup");
  auto samples = BuildWarmupSamples(Parse(kModel), disk.root());
  ASSERT_TRUE(samples.ok());
  ASSERT_EQ(samples->size(), 1u);
  EXPECT_EQ((*samples)[0].inputs[0].shape(), (Shape{1, 3}));
  EXPECT_EQ((*samples)[0].inputs[1].shape(), (Shape{1, 1}));
  EXPECT_EQ((*samples)[0].inputs[0].data_as<float>()[2], 0.0f);
}

TEST(ModelWarmupTest, ZeroRandomAndFileData) {
  TempRepository disk("warmup");
  std::string ids(5 * 8, '\0');
  ids[8] = 7;
  WriteFile(disk.root() / "warmup" / "ids.bin", ids);
  auto samples = BuildWarmupSamples(Parse(std::string(kModel) + R"(
model_warmup { name: "a" batch_size: 2 count: 3
  inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] random_data: true } }
  inputs { key: "ids" value { data_type: TYPE_INT64 dims: [ 5 ] zero_data: true } } }
model_warmup { name: "b" batch_size: 1
  inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } }
  inputs { key: "ids" value { data_type: TYPE_INT64 dims: [ 5 ] input_data_file: "ids.bin" } } })"),
                                     disk.root());
  ASSERT_TRUE(samples.ok()) << samples.status().ToString();
  ASSERT_EQ(samples->size(), 2u);
  const WarmupSample& a = (*samples)[0];
  EXPECT_EQ(a.count, 3u);
  EXPECT_EQ(a.inputs[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(a.inputs[1].shape(), (Shape{2, 5}));
  float sum = 0;
  for (int i = 0; i < 6; ++i) sum += a.inputs[0].data_as<float>()[i];
  EXPECT_GT(sum, 0.0f);  // random, not zero
  EXPECT_EQ((*samples)[1].inputs[1].data_as<int64_t>()[1], 7);
}

TEST(ModelWarmupTest, SamplesThatDoNotMatchTheModelFailWithAReason) {
  TempRepository disk("warmup");
  WriteFile(disk.root() / "warmup" / "short.bin", "abc");
  const std::string x = R"(inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } })";
  const std::string ids = R"(inputs { key: "ids" value { data_type: TYPE_INT64 dims: [ 2 ] zero_data: true } })";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"model_warmup { name: \"w\" " + x + " }", "no data for input 'ids'"},
      {"model_warmup { name: \"w\" " + x + ids +
           R"( inputs { key: "z" value { data_type: TYPE_FP32 dims: [ 1 ] zero_data: true } } })",
       "the model has no input 'z'"},
      {R"(model_warmup { name: "w" inputs { key: "x" value { data_type: TYPE_INT32 dims: [ 3 ] zero_data: true } } )" +
           ids + " }",
       "input 'x' data_type differs"},
      {R"(model_warmup { name: "w" inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } )" +
           ids + " }",
       "input 'x' dims do not match the model's [3]"},
      {"model_warmup { name: \"w\" batch_size: 5 " + x + ids + " }", "batch_size 5 exceeds max_batch_size 4"},
      {R"(model_warmup { name: "w" inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] input_data_file: "short.bin" } } )" +
           ids + " }",
       "warmup/short.bin has 3 bytes, input 'x' needs 12"},
      {R"(model_warmup { name: "w" inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] input_data_file: "../config.pbtxt" } } )" +
           ids + " }",
       "plain file name"},
      {R"(model_warmup { name: "w" inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] } } )" + ids + " }",
       "needs zero_data, random_data or input_data_file"},
  };
  for (const auto& [text, reason] : cases) {
    auto samples = BuildWarmupSamples(Parse(kModel + text), disk.root());
    ASSERT_FALSE(samples.ok()) << text;
    EXPECT_NE(samples.status().message().find(reason), std::string::npos) << samples.status().message();
    EXPECT_NE(samples.status().message().find("model_warmup 'w'"), std::string::npos);
  }
}

TEST(ModelWarmupTest, EachInstanceRunsTheSamplesBeforeReady) {
  TempRepository disk("warmup");
  disk.AddModel("m", R"(backend: "fake" max_batch_size: 4
input { name: "x" data_type: TYPE_FP32 dims: [ 3 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 3 ] }
instance_group { count: 2 kind: KIND_CPU }
model_warmup { name: "w" batch_size: 2 count: 3
  inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] random_data: true } } }
)");
  disk.AddModel("bad", R"(backend: "fake" max_batch_size: 4
input { name: "x" data_type: TYPE_FP32 dims: [ 3 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 3 ] }
model_warmup { name: "w" inputs { key: "nope" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } } }
)");
  BackendRegistry backends;
  auto backend = std::make_shared<FakeBackend>();
  backends.Register("fake", backend);
  ModelRepository repository(disk.root(), &backends);
  ASSERT_TRUE(repository.LoadAll().ok());
  EXPECT_TRUE(repository.Get("m").ok());
  EXPECT_EQ(backend->executions.load(), 2 * 3);  // 2 instances x count 3, all before READY
  auto bad = repository.Get("bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("model_warmup 'w': the model has no input 'nope'"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace protoserve
