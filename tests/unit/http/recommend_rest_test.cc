#include "http/recommend_rest.h"

#include <gtest/gtest.h>

#include <cmath>

namespace protoserve {
namespace {

void ExpectInvalid(const std::string& body, const std::string& fragment) {
  auto parsed = ParseRecommendationJson(body);
  ASSERT_FALSE(parsed.ok()) << fragment;
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find(fragment), std::string::npos) << parsed.status().message();
}

TEST(RecommendRestTest, ParsesEveryField) {
  auto parsed = ParseRecommendationJson(R"({"user_id": "u1", "features": [0.5, -1, 2e3], "top_k": 3,
      "model_name": "rec", "model_version": 2, "exclude_item_ids": ["a", "b"]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  const RecommendationRequest& query = *parsed;
  EXPECT_EQ(query.user_id(), "u1");
  ASSERT_EQ(query.features_size(), 3);
  EXPECT_EQ(query.features(2), 2000.f);
  EXPECT_EQ(query.top_k(), 3);
  EXPECT_EQ(query.model_name(), "rec");
  EXPECT_EQ(query.model_version(), 2);
  EXPECT_EQ(std::vector<std::string>(query.exclude_item_ids().begin(), query.exclude_item_ids().end()),
            (std::vector<std::string>{"a", "b"}));
}

TEST(RecommendRestTest, MissingAndNullMeanUnset) {
  auto parsed = ParseRecommendationJson(R"({"user_id": "u", "features": [], "top_k": null, "model_name": null})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->top_k(), 0);
  EXPECT_TRUE(parsed->model_name().empty());
  // Empty user_id is the contract's to refuse, with the gRPC message (typed_contract_test.cc).
  auto empty = ParseRecommendationJson("{}");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->user_id().empty());
}

TEST(RecommendRestTest, TypeErrorsNameTheField) {
  ExpectInvalid("[]", "the request: must be a JSON object, got array");
  ExpectInvalid("{\"user_id\": }", "malformed JSON at offset 12");
  ExpectInvalid(R"({"user_id": 7})", "user_id: must be a string, got number");
  ExpectInvalid(R"({"user_id": "u", "features": "1,2"})", "features: must be an array of numbers, got string");
  ExpectInvalid(R"({"user_id": "u", "features": [1, "2"]})", "features[1]: must be a number, got string");
  ExpectInvalid(R"({"user_id": "u", "top_k": 2.5})", "top_k: must be an integer, got number");
  ExpectInvalid(R"({"user_id": "u", "top_k": 4294967296})", "top_k: 4294967296 is outside [0, 1000]");
  ExpectInvalid(R"({"user_id": "u", "model_name": 1})", "model_name: must be a string, got number");
  ExpectInvalid(R"({"user_id": "u", "model_version": "1"})", "model_version: must be an integer, got string");
  ExpectInvalid(R"({"user_id": "u", "exclude_item_ids": [1]})", "exclude_item_ids[0]: must be a string, got number");
}

TEST(RecommendRestTest, OutOfRangeFeaturesReachTheContractAsInfinities) {
  auto parsed = ParseRecommendationJson(R"({"user_id": "u", "features": [1e300, NaN]})");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(std::isinf(parsed->features(0)));
}

TEST(RecommendRestTest, ResponseJson) {
  RecommendationResponse r;
  r.add_item_ids("i1");
  r.add_item_ids("i2");
  r.add_scores(0.5f);
  r.add_scores(0.1f);
  r.set_model_name("recommender");
  r.set_model_version(1);
  EXPECT_EQ(RecommendationToJson(r),
            R"({"item_ids":["i1","i2"],"scores":[0.5,0.1],"model_name":"recommender","model_version":1})");
}

}  // namespace
}  // namespace protoserve
