#include "http/kserve_json.h"

#include <gtest/gtest.h>

#include <cstring>

namespace protoserve {
namespace {

StatusOr<RestInferRequest> Decode(const std::string& body, std::optional<size_t> json_size = std::nullopt) {
  return DecodeRestInferRequest(std::make_shared<const std::string>(body), json_size);
}

void ExpectInvalid(const std::string& body, const std::string& fragment, std::optional<size_t> json_size = {}) {
  auto decoded = Decode(body, json_size);
  ASSERT_FALSE(decoded.ok()) << fragment;
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find(fragment), std::string::npos) << decoded.status().message();
}

std::string Bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

TEST(KServeJsonTest, DecodesAJsonRequest) {
  auto decoded = Decode(R"({"id": "r1", "inputs": [
      {"name": "a", "shape": [1, 2], "datatype": "FP32", "data": [[1.5, -2]]},
      {"name": "b", "shape": [1], "datatype": "BYTES", "data": ["hi"]}],
    "outputs": [{"name": "out", "parameters": {"classification": 3, "binary_data": true}}, {"name": "other"}]})");
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->id, "r1");
  EXPECT_EQ(decoded->request.api, Api::kHttp);
  ASSERT_EQ(decoded->request.inputs.size(), 2u);
  const Tensor& a = decoded->request.inputs[0].tensor;
  EXPECT_EQ(decoded->request.inputs[0].name, "a");
  EXPECT_EQ(a.shape(), (Shape{1, 2}));
  EXPECT_EQ(a.data_as<float>()[1], -2.f);
  EXPECT_EQ(decoded->request.inputs[1].tensor.dtype(), DataType::kBytes);
  EXPECT_EQ(decoded->request.requested_outputs, (std::vector<std::string>{"out", "other"}));
  EXPECT_EQ(decoded->Classification("out"), 3);
  EXPECT_EQ(decoded->Classification("other"), 0);
  EXPECT_TRUE(decoded->WantsBinary("out"));
  EXPECT_FALSE(decoded->WantsBinary("other"));
}

TEST(KServeJsonTest, BinaryDataOutputIsTheDefaultPerOutput) {
  auto decoded = Decode(R"({"parameters": {"binary_data_output": true},
    "inputs": [{"name": "a", "shape": [1], "datatype": "INT64", "data": [1]}],
    "outputs": [{"name": "json", "parameters": {"binary_data": false}}, {"name": "raw"}]})");
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_FALSE(decoded->WantsBinary("json"));
  EXPECT_TRUE(decoded->WantsBinary("raw"));
  EXPECT_TRUE(decoded->WantsBinary("unlisted"));
}

TEST(KServeJsonTest, RoutingKeyIsAStringOrAnInteger) {
  const std::string inputs = R"("inputs": [{"name": "a", "shape": [1], "datatype": "INT64", "data": [1]}])";
  auto text = Decode("{" + inputs + R"(, "parameters": {"routing_key": "user-7"}})");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->routing_key, "user-7");
  auto number = Decode("{" + inputs + R"(, "parameters": {"routing_key": 42}})");
  ASSERT_TRUE(number.ok());
  EXPECT_EQ(number->routing_key, "42");
  ExpectInvalid("{" + inputs + R"(, "parameters": {"routing_key": [1]}})",
                "parameters.routing_key must be a string or an integer");
}

TEST(KServeJsonTest, TimeoutIsMicroseconds) {
  const std::string inputs = R"("inputs": [{"name": "a", "shape": [1], "datatype": "INT64", "data": [1]}])";
  auto decoded = Decode("{" + inputs + R"(, "parameters": {"timeout": 2500}})");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->timeout_us, 2500);
  EXPECT_EQ(Decode("{" + inputs + "}")->timeout_us, 0);
  ExpectInvalid("{" + inputs + R"(, "parameters": {"timeout": -1}})", "parameters.timeout must be a non-negative");
  ExpectInvalid("{" + inputs + R"(, "parameters": {"timeout": 1.5}})", "parameters.timeout must be a non-negative");
}

TEST(KServeJsonTest, BinaryExtensionSplitsTheBody) {
  const std::string header = R"({"inputs": [
      {"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
      {"name": "b", "shape": [1], "datatype": "INT32", "data": [7]},
      {"name": "c", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]})";
  const std::string body = header + Bytes({1.5f, 2.5f}) + Bytes({-3.f});
  auto shared = std::make_shared<const std::string>(body);
  auto decoded = DecodeRestInferRequest(shared, header.size());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  const auto& inputs = decoded->request.inputs;
  ASSERT_EQ(inputs.size(), 3u);
  float a[2], c;
  std::memcpy(a, inputs[0].tensor.data(), 8);
  std::memcpy(&c, inputs[2].tensor.data(), 4);
  EXPECT_EQ(a[0], 1.5f);
  EXPECT_EQ(a[1], 2.5f);
  EXPECT_EQ(c, -3.f);
  EXPECT_EQ(inputs[1].tensor.data_as<int32_t>()[0], 7);
  for (const auto& input : {inputs[0], inputs[2]}) {
    const auto address = reinterpret_cast<uintptr_t>(input.tensor.data());
    EXPECT_EQ(address % 4, 0u) << input.name << ": binary inputs are aligned for their dtype";
    const bool view = input.tensor.data() >= shared->data() && input.tensor.data() < shared->data() + shared->size();
    // Zero-copy when the bytes happen to be aligned in the body; a copy otherwise.
    EXPECT_EQ(view, (header.size() + (input.name == "c" ? 8 : 0)) % 4 == 0) << input.name;
  }
}

TEST(KServeJsonTest, BinaryExtensionErrors) {
  const std::string header = R"({"inputs": [{"name": "a", "shape": [2], "datatype": "FP32",
                                             "parameters": {"binary_data_size": 8}}]})";
  ExpectInvalid(header + std::string(4, '\0'), "binary_data_size 8 exceeds the 4 bytes of binary data left",
                header.size());
  ExpectInvalid(header + std::string(12, '\0'), "12 bytes of binary data follow the JSON, but the inputs' "
                "binary_data_size add up to 8", header.size());
  ExpectInvalid(header, "binary_data_size given, but the request has no Inference-Header-Content-Length header");
  ExpectInvalid(header + std::string(8, '\0'), "Inference-Header-Content-Length 1000 exceeds the body's", 1000);
  ExpectInvalid(header + std::string(8, '\0'), "malformed JSON", header.size() - 1);
  ExpectInvalid(header + std::string(8, '\0'), "malformed JSON at offset");  // no header: all of it is JSON
  const std::string both = R"({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1],
                                           "parameters": {"binary_data_size": 4}}]})";
  ExpectInvalid(both + std::string(4, '\0'), "both data and binary_data_size", both.size());
  ExpectInvalid(R"({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32",
                    "parameters": {"binary_data_size": -4}}]})", "binary_data_size must be a non-negative integer");
  ExpectInvalid(R"({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32",
                    "parameters": {"shared_memory_region": "r"}}]})", "shared memory is not supported");
}

TEST(KServeJsonTest, BinaryFp16IsAccepted) {
  const std::string header = R"({"inputs": [{"name": "h", "shape": [2], "datatype": "FP16",
                                             "parameters": {"binary_data_size": 4}}]})";
  auto decoded = Decode(header + std::string("\x00\x3c\x00\x40", 4), header.size());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->request.inputs[0].tensor.byte_size(), 4u);
}

TEST(KServeJsonTest, StructureErrorsNameTheField) {
  ExpectInvalid("[1]", "the request must be a JSON object, got array");
  ExpectInvalid("{\"inputs\": [}", "malformed JSON at offset 12");
  ExpectInvalid(R"({"inputs": {}})", "inputs must be an array");
  ExpectInvalid(R"({})", "inputs must be an array");
  ExpectInvalid(R"({"inputs": []})", "at least one input is required");
  ExpectInvalid(R"({"id": 5, "inputs": []})", "id must be a string");
  ExpectInvalid(R"({"inputs": [1]})", "inputs[0] must be an object, got number");
  ExpectInvalid(R"({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]})",
                "inputs[0].name must be a non-empty string");
  ExpectInvalid(R"({"inputs": [{"name": "x", "shape": [1], "data": [1]}]})", "input 'x': datatype must be a string");
  ExpectInvalid(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FLOAT32", "data": [1]}]})",
                "input 'x': unknown datatype 'FLOAT32'");
  ExpectInvalid(R"({"inputs": [{"name": "x", "shape": "1", "datatype": "FP32", "data": [1]}]})",
                "input 'x': shape must be an array of integers");
  ExpectInvalid(R"({"inputs": [{"name": "x", "shape": [1.5], "datatype": "FP32", "data": [1]}]})",
                "input 'x': shape must be an array of integers");
  ExpectInvalid(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]})", "input 'x': data is required");
  ExpectInvalid(R"({"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP32", "data": [1, 2, 3, 4, 5]}]})",
                "input 'x': 5 values in data, shape [1,30] needs 30");
  ExpectInvalid(R"({"parameters": [], "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})",
                "parameters must be an object");
  ExpectInvalid(R"({"parameters": {"binary_data_output": 1},
                    "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})",
                "binary_data_output must be true or false");
  const std::string input = R"("inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}])";
  ExpectInvalid("{" + input + R"(, "outputs": {}})", "outputs must be an array");
  ExpectInvalid("{" + input + R"(, "outputs": [{"name": ""}]})", "outputs[0].name must be a non-empty string");
  ExpectInvalid("{" + input + R"(, "outputs": [{"name": "y", "parameters": {"classification": 0}}]})",
                "output 'y': classification must be an integer in [1, 1048576]");
  ExpectInvalid("{" + input + R"(, "outputs": [{"name": "y", "parameters": {"classification": "3"}}]})",
                "classification must be an integer");
  ExpectInvalid("{" + input + R"(, "outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]})",
                "output 'y': binary_data must be true or false");
}

TEST(KServeJsonTest, EncodesJsonAndBinaryOutputs) {
  RestInferRequest request;
  request.id = "q";
  request.outputs.push_back({"raw", 0, true});
  std::vector<NamedTensor> outputs = {
      {"scores", Tensor::FromString(DataType::kFp32, {1, 2}, Bytes({0.25f, -1.f}))},
      {"raw", Tensor::FromString(DataType::kFp32, {1, 1}, Bytes({7.f}))},
  };
  auto encoded = EncodeRestInferResponse("m", 3, request, outputs);
  ASSERT_TRUE(encoded.ok()) << encoded.status().message();
  const std::string json = R"({"model_name":"m","model_version":"3","id":"q","outputs":[)"
                           R"({"name":"scores","datatype":"FP32","shape":[1,2],"data":[0.25,-1]},)"
                           R"({"name":"raw","datatype":"FP32","shape":[1,1],"parameters":{"binary_data_size":4}}]})";
  ASSERT_TRUE(encoded->json_size.has_value());
  EXPECT_EQ(encoded->body.substr(0, *encoded->json_size), json);
  EXPECT_EQ(encoded->body.substr(*encoded->json_size), Bytes({7.f}));

  request.outputs.clear();
  request.id.clear();
  auto plain = EncodeRestInferResponse("m", 3, request, {outputs[0]});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->json_size.has_value());
  EXPECT_EQ(plain->body, R"({"model_name":"m","model_version":"3","outputs":[)"
                         R"({"name":"scores","datatype":"FP32","shape":[1,2],"data":[0.25,-1]}]})");
}

TEST(KServeJsonTest, EncodeFailsForFp16AsJsonButNotAsBinary) {
  RestInferRequest request;
  std::vector<NamedTensor> outputs = {{"half", Tensor::FromString(DataType::kFp16, {1}, std::string(2, '\0'))}};
  auto json = EncodeRestInferResponse("m", 1, request, outputs);
  ASSERT_FALSE(json.ok());
  EXPECT_NE(json.status().message().find("binary_data"), std::string::npos);
  request.binary_output = true;
  EXPECT_TRUE(EncodeRestInferResponse("m", 1, request, outputs).ok());
}

}  // namespace
}  // namespace protoserve
