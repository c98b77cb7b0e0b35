#include "http/proto_json.h"

#include <gtest/gtest.h>

#include "core/model_config.h"
#include "inference.pb.h"

namespace protoserve {
namespace {

TEST(ProtoJsonTest, ModelConfigAsTritonShowsIt) {
  auto config = ParseModelConfig(R"(
      platform: "pytorch_libtorch"
      max_batch_size: 8
      input { name: "x" data_type: TYPE_FP32 dims: [ 3, -1 ] }
      output { name: "y" data_type: TYPE_INT64 dims: [ 2 ] label_filename: "labels.txt" }
      parameters { key: "k" value: { string_value: "v" } })",
                                 "m");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const std::string json = ProtoToJson(*config);
  rapidjson::Document d;
  ASSERT_TRUE(json::Parse(json, &d).ok()) << json;
  EXPECT_STREQ(d["name"].GetString(), "m");
  EXPECT_EQ(d["max_batch_size"].GetInt(), 8);
  EXPECT_STREQ(d["input"][0]["data_type"].GetString(), "TYPE_FP32");  // enums by name
  ASSERT_TRUE(d["input"][0]["dims"][1].IsInt64());  // int64 as numbers, not strings
  EXPECT_EQ(d["input"][0]["dims"][1].GetInt64(), -1);
  EXPECT_STREQ(d["output"][0]["label_filename"].GetString(), "labels.txt");
  EXPECT_STREQ(d["parameters"]["k"]["string_value"].GetString(), "v");  // maps as objects
  EXPECT_FALSE(d.HasMember("dynamic_batching"));  // unset message: absent, not {}
}

TEST(ProtoJsonTest, StatisticsAndOneofs) {
  inference::ModelStatisticsResponse response;
  auto* stats = response.add_model_stats();
  stats->set_name("m");
  stats->set_inference_count(18446744073709551615ull);
  stats->mutable_inference_stats()->mutable_success()->set_count(2);
  const std::string json = ProtoToJson(response);
  EXPECT_EQ(json.find(R"({"model_stats":[{"name":"m","version":"","last_inference":0,)"
                      R"("inference_count":18446744073709551615,"execution_count":0,)"
                      R"("inference_stats":{"success":{"count":2,"ns":0}},"batch_stats":[],"response_stats":{}}]})"),
            0u)
      << json;

  inference::ModelRepositoryParameter parameter;
  parameter.set_bytes_param("hello");
  EXPECT_EQ(ProtoToJson(parameter), R"({"bytes_param":"aGVsbG8="})");  // only the set member, bytes in base64
  parameter.set_int64_param(-5);
  EXPECT_EQ(ProtoToJson(parameter), R"({"int64_param":-5})");
}

}  // namespace
}  // namespace protoserve
