// Parsing the REST feedback bodies: field types, the item bound (refused
// before copying), either id field for model feedback.
#include "http/feedback_rest.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

TEST(FeedbackRestTest, ParsesRecommendationFeedback) {
  auto query = ParseRecommendationFeedbackJson(
      R"({"request_id": "abc", "clicked_item_ids": ["i1", "i2"], "bought_item_ids": ["i3"], "time_unix_ms": 5})");
  ASSERT_TRUE(query.ok()) << query.status().ToString();
  EXPECT_EQ(query->request_id, "abc");
  EXPECT_EQ(query->clicked, (std::vector<std::string>{"i1", "i2"}));
  EXPECT_EQ(query->bought, (std::vector<std::string>{"i3"}));
  EXPECT_EQ(query->time_unix_ms, 5);
}

TEST(FeedbackRestTest, WrongTypesAreInvalidArgument) {
  for (const char* body : {R"({"request_id": 5})", R"({"clicked_item_ids": "i1"})", R"({"clicked_item_ids": [1]})",
                           R"({"time_unix_ms": "now"})", R"([])", R"({)"}) {
    auto query = ParseRecommendationFeedbackJson(body);
    EXPECT_EQ(query.status().code(), StatusCode::kInvalidArgument) << body;
  }
}

TEST(FeedbackRestTest, AHugeItemListIsRefused) {
  std::string body = R"({"request_id": "a", "clicked_item_ids": [)";
  for (size_t i = 0; i < kMaxFeedbackItems; ++i) body += "\"i\",";
  body += R"("one too many"]})";
  auto query = ParseRecommendationFeedbackJson(body);
  EXPECT_EQ(query.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(query.status().message().find("1000"), std::string::npos) << query.status().message();
}

TEST(FeedbackRestTest, ParsesModelFeedbackLabelOrValue) {
  auto label = ParseModelFeedbackJson("m", R"({"id": "r1", "label": "Coat"})");
  ASSERT_TRUE(label.ok());
  EXPECT_EQ(label->request_id, "r1");
  EXPECT_TRUE(label->has_label);
  EXPECT_EQ(label->label, "Coat");
  auto index = ParseModelFeedbackJson("m", R"({"request_id": "r1", "label": 3})");
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->label, "3");
  auto value = ParseModelFeedbackJson("m", R"({"request_id": "r1", "value": 0.5})");
  ASSERT_TRUE(value.ok());
  EXPECT_TRUE(value->has_value);
  EXPECT_DOUBLE_EQ(value->value, 0.5);
  EXPECT_EQ(ParseModelFeedbackJson("m", R"({"request_id": "r1", "value": "high"})").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseModelFeedbackJson("m", R"({"request_id": "r1", "label": 1.5})").status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace protoserve
