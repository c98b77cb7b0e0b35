#include "cli/bench/payloads.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <numeric>
#include <regex>

namespace protoserve::cli::bench {
namespace {

TEST(PayloadsTest, GeneratedRecommendRequests) {
  PayloadOptions options;
  const auto requests = MakeRecommendRequests(options);
  ASSERT_EQ(requests.size(), 1024u);
  const std::regex user_id("user_[0-9]{5}");
  std::set<std::string> users;
  for (const auto& r : requests) {
    EXPECT_TRUE(std::regex_match(r.user_id(), user_id)) << r.user_id();
    EXPECT_LT(std::stoi(r.user_id().substr(5)), 20000);
    ASSERT_EQ(r.features_size(), 32);
    EXPECT_NEAR(std::accumulate(r.features().begin(), r.features().end(), 0.0), 1.0, 1e-5);
    users.insert(r.user_id());
  }
  EXPECT_GT(users.size(), 900u);  // drawn at random
  // Deterministic for a seed.
  EXPECT_EQ(MakeRecommendRequests(options)[7].user_id(), requests[7].user_id());
}

TEST(PayloadsTest, PayloadFloatsAndOptions) {
  PayloadOptions options;
  options.payload_floats = 1000;
  options.top_k = 5;
  options.model = "big";
  const auto requests = MakeRecommendRequests(options);
  EXPECT_EQ(requests[0].features_size(), 1000);
  EXPECT_EQ(requests[0].top_k(), 5);
  EXPECT_EQ(requests[0].model_name(), "big");
}

TEST(PayloadsTest, RecommendJson) {
  RecommendationRequest r;
  r.set_user_id("u1");
  r.add_features(0.5f);
  r.add_features(0.25f);
  EXPECT_EQ(RecommendToJson(r), R"({"features":[0.5,0.25],"user_id":"u1"})");
  r.set_top_k(3);
  EXPECT_EQ(RecommendToJson(r), R"({"features":[0.5,0.25],"top_k":3,"user_id":"u1"})");
}

TEST(PayloadsTest, SamplesAndRequestFiles) {
  const std::string samples = testing::TempDir() + "/samples.json";
  std::ofstream(samples) << R"([{"user_id":"a","features":[1,2]},{"user_id":"b","features":[3,4],"extra":1}])";
  PayloadOptions options;
  options.data_file = samples;
  auto requests = MakeRecommendRequests(options);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].user_id(), "b");
  EXPECT_EQ(requests[1].features(1), 4);

  const std::string request = testing::TempDir() + "/request.json";
  std::ofstream(request) << R"({"user_id":"z","features":[0.1],"top_k":7})";
  options.request_file = request;
  requests = MakeRecommendRequests(options);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].top_k(), 7);

  options.request_file = testing::TempDir() + "/missing.json";
  EXPECT_THROW(MakeRecommendRequests(options), std::runtime_error);
}

TEST(PayloadsTest, InferInputsFromMetadataUseTheBatch) {
  PayloadOptions options;
  options.batch = 4;
  const std::vector<TensorSpec> specs = {{"features", "FP32", {-1, 30}}, {"ids", "INT64", {-1, -1}}};
  const auto payloads = MakeInferPayloads(options, specs);
  ASSERT_FALSE(payloads.empty());
  ASSERT_EQ(payloads[0].inputs.size(), 2u);
  EXPECT_EQ(payloads[0].inputs[0].spec.shape, (std::vector<int64_t>{4, 30}));
  EXPECT_EQ(payloads[0].inputs[0].raw.size(), 4u * 30 * 4);
  EXPECT_EQ(payloads[0].inputs[1].spec.shape, (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(payloads[0].inputs[1].raw.size(), 4u * 8);
  float first;
  std::memcpy(&first, payloads[0].inputs[0].raw.data(), 4);
  EXPECT_GE(first, 0.0f);
  EXPECT_LT(first, 1.0f);
}

TEST(PayloadsTest, LargeInferPayloadsKeepThePoolSmall) {
  PayloadOptions options;
  options.batch = 128;
  const auto payloads = MakeInferPayloads(options, {{"image", "FP32", {-1, 1, 28, 28}}});
  EXPECT_LE(payloads.size() * 128 * 784 * 4, 17u << 20);
  EXPECT_GE(payloads.size(), 1u);
}

TEST(PayloadsTest, InferJsonRoundTripAndGrpcRequest) {
  const InferPayload parsed = InferPayloadFromJson(
      R"({"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4.5]]},
                    {"name":"s","shape":[2],"datatype":"BYTES","data":["ab","c"]},
                    {"name":"b","shape":[1],"datatype":"BOOL","data":[true]}],
          "outputs":[{"name":"y"}]})");
  ASSERT_EQ(parsed.inputs.size(), 3u);
  EXPECT_EQ(parsed.inputs[0].raw.size(), 16u);
  EXPECT_EQ(parsed.inputs[1].raw.size(), 4u + 2 + 4 + 1);
  EXPECT_EQ(parsed.outputs, std::vector<std::string>{"y"});
  const InferPayload again = InferPayloadFromJson(InferToJson(parsed));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(again.inputs[i].raw, parsed.inputs[i].raw) << i;

  PayloadOptions options;
  options.model = "m";
  const auto request = ToModelInferRequest(parsed, options);
  EXPECT_EQ(request.model_name(), "m");
  ASSERT_EQ(request.inputs_size(), 3);
  EXPECT_EQ(request.inputs(0).shape_size(), 2);
  EXPECT_EQ(request.raw_input_contents(0), parsed.inputs[0].raw);
  EXPECT_EQ(request.outputs(0).name(), "y");
}

TEST(PayloadsTest, TypedContentsCarryTheSameValues) {
  const InferPayload parsed = InferPayloadFromJson(
      R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2.5,-3]},
                    {"name":"i","shape":[2],"datatype":"INT16","data":[-7,9]},
                    {"name":"u","shape":[1],"datatype":"UINT64","data":[42]},
                    {"name":"s","shape":[2],"datatype":"BYTES","data":["ab","c"]}]})");
  PayloadOptions options;
  options.input_tensor_format = "typed";
  const auto request = ToModelInferRequest(parsed, options);
  EXPECT_EQ(request.raw_input_contents_size(), 0);
  ASSERT_EQ(request.inputs_size(), 4);
  const auto& fp32 = request.inputs(0).contents().fp32_contents();
  EXPECT_EQ(std::vector<float>(fp32.begin(), fp32.end()), (std::vector<float>{1, 2.5, -3}));
  const auto& ints = request.inputs(1).contents().int_contents();
  EXPECT_EQ(std::vector<int32_t>(ints.begin(), ints.end()), (std::vector<int32_t>{-7, 9}));
  EXPECT_EQ(request.inputs(2).contents().uint64_contents(0), 42u);
  ASSERT_EQ(request.inputs(3).contents().bytes_contents_size(), 2);
  EXPECT_EQ(request.inputs(3).contents().bytes_contents(1), "c");
  // Packed repeated floats: about the raw size plus a few bytes of tags.
  EXPECT_LT(request.inputs(0).contents().ByteSizeLong(), parsed.inputs[0].raw.size() + 4);
}

TEST(PayloadsTest, BinaryExtensionBody) {
  const InferPayload parsed = InferPayloadFromJson(
      R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[[1,2]]},
                    {"name":"y","shape":[1],"datatype":"INT64","data":[5]}],"outputs":[{"name":"z"}]})");
  size_t json_size = 0;
  const std::string body = InferToBinary(parsed, &json_size);
  ASSERT_EQ(body.size(), json_size + 8 + 8);
  const auto header = nlohmann::json::parse(body.substr(0, json_size));
  EXPECT_EQ(header["inputs"][0]["parameters"]["binary_data_size"], 8);
  EXPECT_FALSE(header["inputs"][0].contains("data"));
  EXPECT_EQ(header["inputs"][1]["shape"], nlohmann::json::array({1}));
  EXPECT_EQ(header["outputs"][0]["name"], "z");
  EXPECT_EQ(body.substr(json_size), parsed.inputs[0].raw + parsed.inputs[1].raw);
}

TEST(PayloadsTest, InferJsonErrors) {
  EXPECT_THROW(InferPayloadFromJson(R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]})"),
               std::runtime_error);
  EXPECT_THROW(InferPayloadFromJson("not json"), std::runtime_error);
  EXPECT_THROW(MakeInferPayloads({}, {{"h", "FP16", {1}}}), std::runtime_error);
}

TEST(PayloadsTest, InputSpecsFromRestMetadata) {
  const auto specs = InputSpecsFromJson(
      R"({"name":"m","versions":["1"],"platform":"xgboost","inputs":[{"name":"features","datatype":"FP32","shape":[-1,30]}],"outputs":[]})");
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].name, "features");
  EXPECT_EQ(specs[0].shape, (std::vector<int64_t>{-1, 30}));
}

}  // namespace
}  // namespace protoserve::cli::bench
