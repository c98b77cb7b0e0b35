#include "core/model_config.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

constexpr char kValid[] = R"pb(
  name: "recommender"
  platform: "pytorch_libtorch"
  max_batch_size: 64
  input { name: "user_hash" data_type: TYPE_INT64 dims: [1] }
  input { name: "features" data_type: TYPE_FP32 dims: [32] }
  output { name: "scores" data_type: TYPE_FP32 dims: [1000] label_filename: "labels.txt" }
  instance_group { count: 2 kind: KIND_CPU }
  dynamic_batching { max_queue_delay_microseconds: 500 preferred_batch_size: [16, 32] }
  parameters { key: "INTRA_OP_THREAD_COUNT" value { string_value: "1" } }
)pb";

TEST(ModelConfigTest, ParsesTritonSubset) {
  auto config = ParseModelConfig(kValid, "recommender");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->max_batch_size(), 64);
  EXPECT_EQ(config->input(1).dims(0), 32);
  EXPECT_EQ(InstanceCount(*config), 2);
  EXPECT_EQ(*ConfigIntParameter(*config, "INTRA_OP_THREAD_COUNT", 4), 1);
  EXPECT_EQ(*ConfigIntParameter(*config, "absent", 4), 4);
  EXPECT_EQ(config->dynamic_batching().max_queue_delay_microseconds(), 500u);
}

TEST(ModelConfigTest, NameDefaultsToDirectory) {
  auto config = ParseModelConfig(
      R"pb(platform: "xgboost" input { name: "x" data_type: TYPE_FP32 dims: [3] }
           output { name: "y" data_type: TYPE_FP32 dims: [1] })pb",
      "dir_name");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->name(), "dir_name");
  EXPECT_EQ(InstanceCount(*config), 1);
}

void ExpectError(const std::string& text, const std::string& fragment) {
  auto config = ParseModelConfig(text, "m");
  ASSERT_FALSE(config.ok()) << text;
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find(fragment), std::string::npos) << config.status().message();
}

TEST(ModelConfigTest, RejectsInvalidConfigs) {
  const std::string io = R"(input { name: "x" data_type: TYPE_FP32 dims: [3] } output { name: "y" data_type: TYPE_FP32 dims: [1] })";
  ExpectError("platform: \"xgboost\" bogus_field: 1 " + io, "bogus_field");
  ExpectError("platform: \"xgboost\" max_batch_size: -1 " + io, "max_batch_size");
  ExpectError("name: \"other\" platform: \"xgboost\" " + io, "does not match directory");
  ExpectError(io, "platform");
  ExpectError("platform: \"xgboost\" output { name: \"y\" data_type: TYPE_FP32 dims: [1] }", "input");
  ExpectError("platform: \"xgboost\" input { name: \"x\" data_type: TYPE_FP32 dims: [0] } "
              "output { name: \"y\" data_type: TYPE_FP32 dims: [1] }", "invalid dim 0");
  ExpectError("platform: \"xgboost\" input { name: \"x\" dims: [1] } output { name: \"y\" data_type: TYPE_FP32 dims: [1] }",
              "unsupported data_type");
  ExpectError("platform: \"xgboost\" dynamic_batching {} " + io, "max_batch_size > 0");
  ExpectError("platform: \"xgboost\" max_batch_size: 4 dynamic_batching { preferred_batch_size: 8 } " + io,
              "preferred_batch_size");
  ExpectError("platform: \"xgboost\" default_model_filename: \"../../etc/passwd\" " + io, "plain file name");
  ExpectError("platform: \"xgboost\" instance_group { kind: KIND_GPU } " + io, "KIND_GPU");
  ExpectError("platform: \"xgboost\" input { name: \"x\" data_type: TYPE_FP32 dims: [1] } " + io, "duplicate");
  ExpectError("platform: \"xgboost\" parameters { key: \"n\" value { string_value: \"x\" } } " + io + " {", "line");
}

TEST(ModelConfigTest, IntParameterMustBeInteger) {
  auto config = ParseModelConfig(std::string(kValid) + R"(parameters { key: "n" value { string_value: "4x" } })",
                                 "recommender");
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(ConfigIntParameter(*config, "n", 1).ok());
}

TEST(ModelConfigTest, ModelNames) {
  EXPECT_TRUE(IsValidModelName("fashion_mnist"));
  EXPECT_TRUE(IsValidModelName("model-v1.2"));
  EXPECT_FALSE(IsValidModelName(""));
  EXPECT_FALSE(IsValidModelName(".."));
  EXPECT_FALSE(IsValidModelName("a/b"));
  EXPECT_FALSE(IsValidModelName(".hidden"));
  EXPECT_FALSE(IsValidModelName(std::string(129, 'a')));
  EXPECT_FALSE(IsValidModelName("a b"));
}

}  // namespace
}  // namespace protoserve
