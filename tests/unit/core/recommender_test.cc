#include "core/recommender.h"

#include <gtest/gtest.h>

#include <cmath>

namespace protoserve {
namespace {

TEST(UserHashTest, Fnv1a64MaskedTo63Bits) {
  // Published FNV-1a 64 test vectors, masked to 63 bits.
  EXPECT_EQ(UserHash(""), 0xcbf29ce484222325ULL & 0x7fffffffffffffffULL);
  EXPECT_EQ(UserHash("a"), 0xaf63dc4c8601ec8cULL & 0x7fffffffffffffffULL);
  EXPECT_EQ(UserHash("foobar"), 0x85944171f73967e8ULL & 0x7fffffffffffffffULL);
  EXPECT_NE(UserHash("user_00001"), UserHash("user_00002"));
}

TEST(ValidateQueryTest, Rules) {
  std::vector<float> features(32, 0.5f);
  RecommendationQuery q;
  q.user_id = "user_1";
  q.features = features;
  EXPECT_TRUE(ValidateQuery(q).ok());

  RecommendationQuery empty = q;
  empty.user_id = "";
  EXPECT_NE(ValidateQuery(empty).message().find("user_id"), std::string::npos);

  std::string long_id(257, 'u');
  RecommendationQuery too_long = q;
  too_long.user_id = long_id;
  EXPECT_EQ(ValidateQuery(too_long).code(), StatusCode::kInvalidArgument);

  for (int k : {-1, 1001}) {
    RecommendationQuery bad_k = q;
    bad_k.top_k = k;
    EXPECT_NE(ValidateQuery(bad_k).message().find("top_k"), std::string::npos);
  }
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    std::vector<float> f = features;
    f[7] = bad;
    RecommendationQuery q2 = q;
    q2.features = f;
    EXPECT_NE(ValidateQuery(q2).message().find("features[7]"), std::string::npos);
  }
}

}  // namespace
}  // namespace protoserve
