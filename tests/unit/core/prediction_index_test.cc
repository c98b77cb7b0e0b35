// The join window: found by request id or user, once only, forgotten by
// count and by age (an injected clock), and forgotten ids answer "expired".
#include "core/prediction_index.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace protoserve {
namespace {

using testing::FakeClock;

IndexedPrediction Prediction(const std::string& id, int64_t version = 1) {
  IndexedPrediction p;
  p.request_id = id;
  p.model = "recommender";
  p.version = version;
  p.output.kind = OutputSummary::Kind::kItems;
  p.output.items = {"a", "b"};
  return p;
}

TEST(PredictionIndexTest, FindsByRequestIdAndByUserLatest) {
  FakeClock clock;
  PredictionIndex index(10, std::chrono::seconds(60), &clock);
  index.Add(Prediction("r1", 1), "alice");
  index.Add(Prediction("r2", 2), "alice");
  auto by_id = index.Find("r1", "");
  ASSERT_TRUE(by_id.ok()) << by_id.status().ToString();
  EXPECT_EQ(by_id->version, 1);
  auto by_user = index.Find("", "alice");
  ASSERT_TRUE(by_user.ok());
  EXPECT_EQ(by_user->request_id, "r2");
  EXPECT_EQ(index.Find("", "bob").status().code(), StatusCode::kNotFound);
}

TEST(PredictionIndexTest, FeedbackIsAcceptedOnceOnly) {
  PredictionIndex index(10, std::chrono::seconds(60));
  index.Add(Prediction("r1"), "");
  auto found = index.Find("r1", "");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(index.Claim(*found).ok());
  EXPECT_EQ(index.Find("r1", "").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(index.Claim(*found).code(), StatusCode::kAlreadyExists);
}

TEST(PredictionIndexTest, UnknownAndExpiredAreDifferentNotFounds) {
  FakeClock clock;
  PredictionIndex index(10, std::chrono::seconds(60), &clock);
  index.Add(Prediction("old"), "u");
  clock.Advance(std::chrono::seconds(61));
  auto expired = index.Find("old", "");
  EXPECT_EQ(expired.status().code(), StatusCode::kNotFound);
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos) << expired.status().message();
  auto unknown = index.Find("never", "");
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("unknown"), std::string::npos);
  // The user's pointer went with it.
  EXPECT_EQ(index.Find("", "u").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(index.size(), 0u);
}

TEST(PredictionIndexTest, BoundedByEntriesOldestFirst) {
  PredictionIndex index(3, std::chrono::hours(1));
  for (int i = 0; i < 1000; ++i) index.Add(Prediction("r" + std::to_string(i)), "user" + std::to_string(i % 7));
  EXPECT_EQ(index.size(), 3u);
  EXPECT_TRUE(index.Find("r999", "").ok());
  EXPECT_TRUE(index.Find("r997", "").ok());
  auto evicted = index.Find("r996", "");
  EXPECT_EQ(evicted.status().code(), StatusCode::kNotFound);
  EXPECT_NE(evicted.status().message().find("expired"), std::string::npos);
  // Forgotten ids are remembered as expired only up to the capacity, too.
  EXPECT_NE(index.Find("r0", "").status().message().find("unknown"), std::string::npos);
}

TEST(PredictionIndexTest, ClaimAfterEvictionIsNotFound) {
  PredictionIndex index(1, std::chrono::hours(1));
  index.Add(Prediction("r1"), "");
  auto found = index.Find("r1", "");
  ASSERT_TRUE(found.ok());
  index.Add(Prediction("r2"), "");
  EXPECT_EQ(index.Claim(*found).code(), StatusCode::kNotFound);
}

TEST(PredictionIndexTest, AReusedIdReplacesTheOlderPrediction) {
  PredictionIndex index(2, std::chrono::hours(1));
  index.Add(Prediction("same", 1), "u");
  index.Add(Prediction("same", 2), "u");
  EXPECT_EQ(index.size(), 1u);
  auto found = index.Find("same", "");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->version, 2);
  // The stale slot of the first Add does not evict the live one.
  index.Add(Prediction("other"), "");
  EXPECT_TRUE(index.Find("same", "").ok());
}

}  // namespace
}  // namespace protoserve
