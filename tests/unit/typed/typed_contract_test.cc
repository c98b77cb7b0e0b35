// TypedContract: a model's .proto + typed.* parameters -> a checked plan;
// request messages -> tensors; output tensors -> response messages.
#include "typed/typed_contract.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/recommender.h"

namespace protoserve::typed {
namespace {

namespace fs = std::filesystem;
namespace pb = google::protobuf;

constexpr char kProto[] = R"(syntax = "proto3";
package demo.v1;
service Demo { rpc Predict(Record) returns (Verdict); rpc Stream(stream Record) returns (stream Verdict); }
message Vitals { optional float pulse = 1; float temperature = 2; }
message Record {
  optional float age = 1;
  repeated float pixels = 2;
  Vitals vitals = 3;
  uint32 top_k = 4;
  string user_id = 5;
}
message Scored { string label = 1; float probability = 2; }
message Verdict {
  string label = 1;
  float probability = 2;
  bool alarm = 3;
  repeated Scored top = 4;
  repeated float raw = 5;
  repeated int32 ids = 6;
  repeated float scores = 7;
}
)";

constexpr char kConfig[] = R"(name: "demo"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 6 ] },
        { name: "user_hash" data_type: TYPE_INT64 dims: [ 1 ] } ]
output [ { name: "logits" data_type: TYPE_FP32 dims: [ 3 ] },
         { name: "risk" data_type: TYPE_FP32 dims: [ 1 ] } ]
parameters { key: "typed.proto" value { string_value: "demo/v1/demo.proto" } }
parameters { key: "typed.method" value { string_value: "demo.v1.Demo/Predict" } }
parameters { key: "typed.input.x" value { string_value: "age, vitals.pulse, vitals.temperature, pixels" } }
parameters { key: "typed.input.user_hash" value { string_value: "hash(user_id)" } }
parameters { key: "typed.output.logits" value { string_value:
  "top_k k=top_k default_k=2 max_k=3 softmax labels=a,b,c label=top.label score=top.probability;"
  "copy to=raw; top_k default_k=1 label=ids score=scores" } }
parameters { key: "typed.output.risk" value { string_value:
  "argmax binary labels=low,high label=label probability=probability; threshold above=0.5 to=alarm" } }
)";

class TypedContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("typed_contract_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "demo" / "v1");
    Write("demo/v1/demo.proto", kProto);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  StatusOr<std::shared_ptr<const TypedContract>> Load(const std::string& config_text) {
    ASSIGN_OR_RETURN(ModelConfig config, ParseModelConfig(config_text, "demo"));
    return TypedContract::Load(config, dir_);
  }

  // The load error of kConfig with `from` replaced by `to`.
  std::string LoadError(const std::string& from, const std::string& to) {
    std::string text = kConfig;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    auto loaded = Load(text);
    EXPECT_FALSE(loaded.ok()) << "loaded with " << to;
    return loaded.ok() ? "" : loaded.status().message();
  }

  pb::Message* Request(const TypedContract& contract, const std::string& json) {
    pb::Message* message = contract.NewRequest(&arena_);
    EXPECT_TRUE(pb::util::JsonStringToMessage(json, message).ok()) << json;
    return message;
  }

  fs::path dir_;
  pb::Arena arena_;
};

constexpr char kGood[] =
    R"({"age": 50, "vitals": {"pulse": 70, "temperature": 36.5}, "pixels": [1, 2, 3], "user_id": "u1"})";

TEST_F(TypedContractTest, LoadsThePlan) {
  auto contract = Load(kConfig);
  ASSERT_TRUE(contract.ok()) << contract.status().message();
  ASSERT_NE(*contract, nullptr);
  EXPECT_EQ((*contract)->method_path(), "/demo.v1.Demo/Predict");
  ASSERT_EQ((*contract)->inputs().size(), 2u);
  EXPECT_EQ((*contract)->inputs()[0].shape, (Shape{1, 6}));
  EXPECT_EQ((*contract)->outputs().size(), 2u);
}

TEST_F(TypedContractTest, NoTypedMethodIsNoContract) {
  auto contract = Load("name: \"demo\" input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 1 ] } ]");
  ASSERT_TRUE(contract.ok());
  EXPECT_EQ(*contract, nullptr);
}

TEST_F(TypedContractTest, DecodesFieldsInDeclaredOrder) {
  auto contract = *Load(kConfig);
  DecodedRequest decoded;
  ASSERT_TRUE(contract->Decode(*Request(*contract, kGood), &decoded).ok());
  ASSERT_EQ(decoded.request.inputs.size(), 2u);
  const Tensor& x = decoded.request.inputs[0].tensor;
  EXPECT_EQ(decoded.request.inputs[0].name, "x");
  EXPECT_EQ(x.shape(), (Shape{1, 6}));
  std::vector<float> values(x.data_as<float>(), x.data_as<float>() + 6);
  EXPECT_EQ(values, (std::vector<float>{50, 70, 36.5f, 1, 2, 3}));
  const Tensor& hash = decoded.request.inputs[1].tensor;
  EXPECT_EQ(hash.dtype(), DataType::kInt64);
  EXPECT_EQ(hash.data_as<int64_t>()[0], static_cast<int64_t>(UserHash("u1")));
  EXPECT_EQ(decoded.routing_key, "u1");
  EXPECT_EQ(decoded.request.requested_outputs, (std::vector<std::string>{"logits", "risk"}));
}

TEST_F(TypedContractTest, RefusesMissingFieldsAndWrongLengthsNamingTheField) {
  auto contract = *Load(kConfig);
  DecodedRequest decoded;
  Status s = contract->Decode(
      *Request(*contract, R"({"vitals": {"pulse": 70}, "pixels": [1, 2, 3], "user_id": "u"})"), &decoded);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "field 'age' is not set");
  s = contract->Decode(*Request(*contract, R"({"age": 1, "pixels": [1, 2, 3], "user_id": "u"})"), &decoded);
  EXPECT_EQ(s.message(), "field 'vitals' is not set");
  s = contract->Decode(
      *Request(*contract, R"({"age": 1, "vitals": {"pulse": 1}, "pixels": [1, 2], "user_id": "u"})"), &decoded);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "field 'pixels': expected 3 values, got 2 (input 'x')");
  s = contract->Decode(
      *Request(*contract, R"({"age": 1, "vitals": {"pulse": 1}, "pixels": [1, 2, 3]})"), &decoded);
  EXPECT_EQ(s.message(), "field 'user_id' must hold 1 to 256 bytes");
  s = contract->Decode(
      *Request(*contract, R"({"age": "NaN", "vitals": {"pulse": 1}, "pixels": [1, 2, 3], "user_id": "u"})"),
      &decoded);
  EXPECT_EQ(s.message(), "field 'age' is not finite");
}

Tensor Floats(Shape shape, std::vector<float> values) {
  std::string bytes(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return Tensor::FromString(DataType::kFp32, std::move(shape), std::move(bytes));
}

TEST_F(TypedContractTest, EncodesTopKArgmaxThresholdAndCopy) {
  auto contract = *Load(kConfig);
  pb::Message* request = Request(*contract, kGood);
  InferenceResponse response;
  response.outputs.push_back({"logits", Floats({1, 3}, {1.0f, 3.0f, 2.0f})});
  response.outputs.push_back({"risk", Floats({1, 1}, {0.8f})});
  pb::Message* out = contract->NewResponse(&arena_);
  std::vector<std::string> none;
  Status s = contract->Encode(*request, response, true, [&](int) -> const std::vector<std::string>& { return none; },
                              out);
  ASSERT_TRUE(s.ok()) << s.message();
  std::string json;
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  ASSERT_TRUE(pb::util::MessageToJsonString(*out, &json, options).ok());
  // softmax([1,3,2]) = [0.0900, 0.6652, 0.2447]; top 2 (default_k) = b, c.
  EXPECT_NE(json.find(R"("top":[{"label":"b","probability":0.66524)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"({"label":"c","probability":0.24472)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("raw":[1,3,2])"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("ids":[1])"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("scores":[3])"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("label":"high","probability":0.8)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("alarm":true)"), std::string::npos) << json;
}

TEST_F(TypedContractTest, TopKFollowsTheRequestFieldWithinItsBound) {
  auto contract = *Load(kConfig);
  InferenceResponse response;
  response.outputs.push_back({"logits", Floats({1, 3}, {1.0f, 3.0f, 2.0f})});
  response.outputs.push_back({"risk", Floats({1, 1}, {0.2f})});
  std::vector<std::string> none;
  auto labels = [&](int) -> const std::vector<std::string>& { return none; };
  std::string json = std::string(kGood).replace(1, 0, R"("top_k": 3, )");
  pb::Message* out = contract->NewResponse(&arena_);
  ASSERT_TRUE(contract->Encode(*Request(*contract, json), response, true, labels, out).ok());
  const pb::FieldDescriptor* top = out->GetDescriptor()->FindFieldByName("top");
  EXPECT_EQ(out->GetReflection()->FieldSize(*out, top), 3);
  const pb::FieldDescriptor* alarm = out->GetDescriptor()->FindFieldByName("alarm");
  EXPECT_FALSE(out->GetReflection()->GetBool(*out, alarm));
  json = std::string(kGood).replace(1, 0, R"("top_k": 4, )");
  Status s = contract->Encode(*Request(*contract, json), response, true, labels, contract->NewResponse(&arena_));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "field 'top_k' must be at most 3");
}

TEST_F(TypedContractTest, LoadErrorsNameTheFieldAndTheTensor) {
  EXPECT_EQ(LoadError("typed.input.user_hash", "typed.input.user_hash_gone"),
            "typed API: input tensor 'user_hash' has no mapping (parameter 'typed.input.user_hash')");
  EXPECT_EQ(LoadError("typed.output.risk", "typed.output.danger"),
            "typed API: typed.output.danger writes output tensor 'danger', which the model does not have");
  EXPECT_EQ(LoadError("age, vitals.pulse", "age, vitals.heart"),
            "typed API: typed.input.x: message demo.v1.Vitals has no field 'heart'");
  EXPECT_EQ(LoadError("age, vitals.pulse, vitals.temperature, pixels", "age, vitals.pulse"),
            "typed API: typed.input.x: 2 scalar field(s) for input tensor 'x' of 6 elements (dims [6])");
  EXPECT_EQ(LoadError("hash(user_id)", "user_id"),
            "typed API: typed.input.user_hash: field 'user_id' is not numeric (input tensor 'user_hash' is INT64)");
  EXPECT_EQ(LoadError("demo.v1.Demo/Predict", "demo.v1.Demo/Stream"),
            "typed API: method 'demo.v1.Demo/Stream' streams; only unary methods are served");
  EXPECT_EQ(LoadError("threshold above=0.5 to=alarm", "threshold above=0.5 to=label"),
            "typed API: typed.output.risk: threshold writes a bool, field 'label' is not one");
  EXPECT_EQ(LoadError("labels=a,b,c", "labels=a,b"),
            "typed API: typed.output.logits: 2 labels for 3 classes of output tensor 'logits'");
}

TEST_F(TypedContractTest, AProtoThatDoesNotParseIsALoadError) {
  Write("demo/v1/demo.proto", "syntax = \"proto3\";\nmessage Broken { float x = ; }\n");
  auto loaded = Load(kConfig);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find("cannot parse demo/v1/demo.proto: demo/v1/demo.proto:2:"),
            std::string::npos)
      << loaded.status().message();
  fs::remove(dir_ / "demo" / "v1" / "demo.proto");
  loaded = Load(kConfig);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("cannot parse demo/v1/demo.proto"), std::string::npos);
}

TEST_F(TypedContractTest, ProtoPathsStayInsideTheModelFolder) {
  EXPECT_EQ(LoadError("\"demo/v1/demo.proto\"", "\"../demo.proto\""),
            "typed API: .proto path '../demo.proto' must be relative to the model folder");
}

}  // namespace
}  // namespace protoserve::typed
