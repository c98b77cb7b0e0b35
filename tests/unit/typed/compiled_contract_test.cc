// TypedContract on a contract compiled into the server: the Recommender's
// mapping (models/recommender/train.py) read against the generated
// RecommendationRequest / RecommendationResponse, with the mapping kinds it
// needs (selector fields, reply fields, items with exclusions, the error
// field of its stream, the "prefix" error style).
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/recommender.h"
#include "recommender.pb.h"
#include "typed/typed_contract.h"

namespace protoserve::typed {
namespace {

namespace fs = std::filesystem;

// The recommender's signature (smaller) with the mapping the demo model ships:
// the TYPED_PARAMETERS of models/recommender/train.py, read from the source tree.
constexpr char kModel[] = R"pb(name: "recommender"
backend: "fake"
max_batch_size: 8
input [ { name: "user_hash" data_type: TYPE_INT64 dims: [ 1 ] },
        { name: "features" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "scores" data_type: TYPE_FP32 dims: [ 5 ] label_filename: "labels.txt" } ]
)pb";

std::string ShippedParameters() {
  std::ifstream in(std::string(PROTOSERVE_SOURCE_DIR) + "/models/recommender/train.py");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string start = "TYPED_PARAMETERS = \"\"\"";
  const size_t from = text.find(start);
  const size_t to = from == std::string::npos ? from : text.find("\"\"\"", from + start.size());
  // Missing: every test fails to load (no typed.method).
  return to == std::string::npos ? "" : text.substr(from + start.size(), to - from - start.size());
}

const std::string kConfig = kModel + ShippedParameters();

class CompiledContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("compiled_contract_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  StatusOr<std::shared_ptr<const TypedContract>> Load(const std::string& text) {
    ASSIGN_OR_RETURN(ModelConfig config, ParseModelConfig(text, "recommender"));
    return TypedContract::Load(config, dir_);
  }
  std::string Replace(std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  }
  std::string LoadError(const std::string& from, const std::string& to) {
    auto loaded = Load(Replace(kConfig, from, to));
    EXPECT_FALSE(loaded.ok()) << "loaded with " << to;
    return loaded.ok() ? "" : loaded.status().message();
  }
  // The compiled file as .proto text, in the model folder.
  void WriteProto(const std::string& extra = "") {
    std::ofstream(dir_ / "recommender.proto") << RecommendationRequest::descriptor()->file()->DebugString() << extra;
  }

  static RecommendationRequest Valid() {
    RecommendationRequest request;
    request.set_user_id("u1");
    for (float f : {0.5f, 1.0f, -2.0f, 3.0f}) request.add_features(f);
    return request;
  }
  static Status DecodeError(const std::shared_ptr<const TypedContract>& contract, const RecommendationRequest& r) {
    DecodedRequest decoded;
    return contract->Decode(r, &decoded);
  }

  fs::path dir_;
};

TEST_F(CompiledContractTest, AContractCompiledIntoTheServerUsesTheGeneratedMessages) {
  auto contract = Load(kConfig);  // no typed.proto: the compiled descriptors
  ASSERT_TRUE(contract.ok()) << contract.status().message();
  EXPECT_TRUE((*contract)->compiled());
  EXPECT_EQ((*contract)->method_path(), "/Recommender/GetRecommendations");
  EXPECT_TRUE((*contract)->Serves("/Recommender/StreamRecommendations"));
  EXPECT_FALSE((*contract)->Serves("/Recommender/SendFeedback"));
  EXPECT_EQ((*contract)->method()->input_type(), RecommendationRequest::descriptor());
  google::protobuf::Arena arena;
  EXPECT_NE(dynamic_cast<RecommendationRequest*>((*contract)->NewRequest(&arena)), nullptr);
  EXPECT_NE(dynamic_cast<RecommendationResponse*>((*contract)->NewResponse(&arena)), nullptr);

  // A copy of the same file in the model folder: still the compiled contract.
  WriteProto();
  const std::string with_proto =
      kConfig + R"(parameters { key: "typed.proto" value { string_value: "recommender.proto" } })";
  contract = Load(with_proto);
  ASSERT_TRUE(contract.ok()) << contract.status().message();
  EXPECT_TRUE((*contract)->compiled());
  EXPECT_EQ((*contract)->method()->input_type(), RecommendationRequest::descriptor());

  // A file that differs is a contract of its own (dynamic messages), which cannot stream.
  WriteProto("message Extra { int32 x = 1; }\n");
  auto differs = Load(with_proto);
  ASSERT_FALSE(differs.ok());
  EXPECT_EQ(differs.status().message(),
            "typed API: typed.stream_method: streaming methods are served only for a contract compiled into the "
            "server");
  const std::string stream =
      R"(parameters { key: "typed.stream_method" value { string_value: "Recommender/StreamRecommendations" } })";
  differs = Load(Replace(with_proto, stream, ""));
  ASSERT_TRUE(differs.ok()) << differs.status().message();
  EXPECT_FALSE((*differs)->compiled());
}

TEST_F(CompiledContractTest, DecodesTheHashTheFeaturesAndTheRanking) {
  auto contract = *Load(kConfig);
  RecommendationRequest request = Valid();
  request.set_top_k(2);
  request.add_exclude_item_ids("b");
  DecodedRequest decoded;
  ASSERT_TRUE(contract->Decode(request, &decoded).ok());
  ASSERT_EQ(decoded.request.inputs.size(), 2u);
  EXPECT_EQ(decoded.request.inputs[0].name, "user_hash");
  EXPECT_EQ(decoded.request.inputs[0].tensor.data_as<int64_t>()[0], static_cast<int64_t>(UserHash("u1")));
  EXPECT_EQ(decoded.request.inputs[1].tensor.shape(), (Shape{1, 4}));
  EXPECT_EQ(decoded.request.inputs[1].tensor.data_as<float>()[2], -2.0f);
  EXPECT_EQ(decoded.routing_key, "u1");
  ASSERT_NE(decoded.ranking, nullptr);
  EXPECT_EQ(decoded.ranking->output, "scores");
  EXPECT_EQ(decoded.ranking->k, 2);
  EXPECT_EQ(decoded.ranking->excluded, (std::vector<std::string>{"b"}));

  DecodedRequest defaulted;
  ASSERT_TRUE(contract->Decode(Valid(), &defaulted).ok());
  EXPECT_EQ(defaulted.ranking->k, 10);  // top_k 0: default_k
}

TEST_F(CompiledContractTest, PrefixStyleErrorsInTheRecommendersOrder) {
  auto contract = *Load(kConfig);
  RecommendationRequest r = Valid();
  r.set_user_id("");
  r.set_top_k(1001);  // also wrong: the user id is checked first
  EXPECT_EQ(DecodeError(contract, r).message(), "user_id: must not be empty");
  r = Valid();
  r.set_user_id(std::string(257, 'u'));
  EXPECT_EQ(DecodeError(contract, r).message(), "user_id: 257 bytes, at most 256 allowed");
  r = Valid();
  r.set_top_k(1001);
  r.clear_features();  // also wrong: k is checked before the features
  EXPECT_EQ(DecodeError(contract, r).message(), "top_k: 1001 is outside [0, 1000] (0 means 10)");
  r.set_top_k(-1);
  EXPECT_EQ(DecodeError(contract, r).message(), "top_k: -1 is outside [0, 1000] (0 means 10)");
  r = Valid();
  r.mutable_features()->RemoveLast();
  EXPECT_EQ(DecodeError(contract, r).message(), "features: expected 4 values, got 3");
  EXPECT_EQ(DecodeError(contract, r).code(), StatusCode::kInvalidArgument);
  r = Valid();
  r.set_features(2, NAN);
  EXPECT_EQ(DecodeError(contract, r).message(), "features[2]: must be a finite number, got nan");
}

TEST_F(CompiledContractTest, TheRequestChoosesTheModel) {
  auto contract = *Load(kConfig);
  RecommendationRequest r = Valid();
  EXPECT_EQ(contract->Choice(r).name, "");
  EXPECT_EQ(contract->Choice(r).version, 0);
  r.set_model_name("recommender_rollout");
  r.set_model_version(3);
  EXPECT_EQ(contract->Choice(r).name, "recommender_rollout");
  EXPECT_EQ(contract->Choice(r).version, 3);
  EXPECT_EQ(contract->model_name_field(), "model_name");
}

TEST_F(CompiledContractTest, EncodesTheRankedItemsAndTheReplyFields) {
  auto contract = *Load(kConfig);
  RecommendationRequest request = Valid();
  RankedItems items;
  items.item_ids = {"e", "a"};
  items.scores = {0.9f, 0.4f};
  Answer answer{"recommender", 2, "req-1", &items};
  RecommendationResponse response;
  std::vector<std::string> labels = {"a", "b", "c", "d", "e"};
  Status s = contract->Encode(request, InferenceResponse{}, true,
                              [&](int) -> const std::vector<std::string>& { return labels; }, &response, answer);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(std::vector<std::string>(response.item_ids().begin(), response.item_ids().end()), items.item_ids);
  EXPECT_EQ(std::vector<float>(response.scores().begin(), response.scores().end()), items.scores);
  EXPECT_EQ(response.model_name(), "recommender");
  EXPECT_EQ(response.model_version(), 2);
  EXPECT_EQ(response.request_id(), "req-1");
  EXPECT_TRUE(response.error_message().empty());

  RecommendationResponse failed;
  EXPECT_TRUE(contract->SetError(InvalidArgument("features: expected 4 values, got 3"), &failed));
  EXPECT_EQ(failed.error_message(), "INVALID_ARGUMENT: features: expected 4 values, got 3");
}

TEST_F(CompiledContractTest, ABadRecommenderMappingIsALoadError) {
  EXPECT_EQ(LoadError(R"("typed.model_name" value { string_value: "model_name")",
                      R"("typed.model_name" value { string_value: "top_k")"),
            "typed API: typed.model_name: field 'top_k' must be a singular string field");
  EXPECT_EQ(LoadError(R"("typed.model_version" value { string_value: "model_version")",
                      R"("typed.model_version" value { string_value: "modelversion")"),
            "typed API: typed.model_version: message RecommendationRequest has no field 'modelversion'");
  EXPECT_EQ(LoadError("typed.reply.request_id", "typed.reply.request"),
            "typed API: unknown parameter 'typed.reply.request' (typed.reply.model_name, typed.reply.model_version or "
            "typed.reply.request_id)");
  EXPECT_EQ(LoadError(R"("typed.error_field" value { string_value: "error_message")",
                      R"("typed.error_field" value { string_value: "scores")"),
            "typed API: typed.error_field: field 'scores' must be a singular string field");
  EXPECT_EQ(LoadError("exclude=exclude_item_ids", "exclude=user_id"),
            "typed API: typed.output.scores: exclude=user_id must be a top-level repeated string request field");
  EXPECT_EQ(LoadError("top_k items", "top_k items softmax"),
            "typed API: typed.output.scores: items and exclude= rank the items of output tensor 'scores' by raw "
            "score: they need a string label= field and its label_filename (no labels=, no softmax)");
  EXPECT_EQ(LoadError("Recommender/StreamRecommendations", "Recommender/SendFeedback"),
            "typed API: typed.stream_method: 'Recommender/SendFeedback' must stream both ways the messages of "
            "Recommender/GetRecommendations");
  EXPECT_EQ(LoadError("\"prefix\"", "\"short\""), "typed API: typed.error_style is 'short' (field or prefix)");
  EXPECT_EQ(LoadError("typed.input.features", "typed.input.feature"),
            "typed API: typed.input.feature maps fields to input tensor 'feature', which the model does not have");
}

}  // namespace
}  // namespace protoserve::typed
