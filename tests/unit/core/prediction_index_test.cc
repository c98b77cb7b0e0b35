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

TEST(PredictionIndexTest, TheWindowGrowsPastItsFirstSlotsInArrivalOrder) {
  // The ring starts small and doubles: predictions stay findable across each
  // growth, feedback claimed before one still counts after it, and the
  // window still forgets the oldest first once it holds `capacity`.
  FakeClock clock;
  PredictionIndex index(5000, std::chrono::hours(1), &clock);
  index.Add(Prediction("first"), "early");
  auto first = index.Find("first", "");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(index.Claim(*first).ok());
  for (int i = 0; i < 4999; ++i) index.Add(Prediction("r" + std::to_string(i), i), "u" + std::to_string(i % 10));
  EXPECT_EQ(index.size(), 5000u);
  EXPECT_EQ(index.Find("first", "").status().code(), StatusCode::kAlreadyExists);
  auto middle = index.Find("r2500", "");
  ASSERT_TRUE(middle.ok());
  EXPECT_EQ(middle->version, 2500);
  EXPECT_EQ(middle->output.items, (std::vector<std::string>{"a", "b"}));
  auto latest = index.Find("", "u8");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->request_id, "r4998");
  index.Add(Prediction("one more"), "");
  EXPECT_EQ(index.size(), 5000u);
  EXPECT_NE(index.Find("first", "").status().message().find("expired"), std::string::npos);
  EXPECT_TRUE(index.Find("r0", "").ok());
  // Age forgets from the oldest, whatever the ring's size.
  clock.Advance(std::chrono::minutes(30));
  index.Add(Prediction("fresh"), "");
  clock.Advance(std::chrono::minutes(31));
  EXPECT_EQ(index.Find("r4998", "").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(index.Find("fresh", "").ok());
  EXPECT_EQ(index.size(), 1u);
}

TEST(PredictionIndexTest, EveryOutputKindComesBackAsItWasAdded) {
  PredictionIndex index(4, std::chrono::hours(1));
  IndexedPrediction cls;
  cls.request_id = std::string(200, 'c');  // longer than any short-string buffer
  cls.model = "fashion_mnist";
  cls.version = 3;
  cls.output.kind = OutputSummary::Kind::kClass;
  cls.output.label = "Ankle boot";
  cls.output.class_index = 9;
  cls.output.score = 0.75f;
  cls.output.rows = 1;
  cls.scores = {0.1f, 0.15f, 0.75f};
  IndexedPrediction digest;
  digest.request_id = "d";
  digest.model = "m";
  digest.output.kind = OutputSummary::Kind::kDigest;
  digest.output.digest = std::string("INT64[2] fnv1a64:\0ab", 21);  // any bytes survive
  digest.output.rows = 2;
  IndexedPrediction value;
  value.request_id = "v";
  value.model = "m";
  value.output.kind = OutputSummary::Kind::kValue;
  value.output.score = -2.5f;
  IndexedPrediction none;
  none.request_id = "n";
  none.model = "m";
  for (const IndexedPrediction* p : {&cls, &digest, &value, &none}) index.Add(*p, "");
  for (const IndexedPrediction* p : {&cls, &digest, &value, &none}) {
    auto found = index.Find(p->request_id, "");
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_EQ(found->request_id, p->request_id);
    EXPECT_EQ(found->model, p->model);
    EXPECT_EQ(found->version, p->version);
    EXPECT_EQ(found->output.kind, p->output.kind);
    EXPECT_EQ(found->output.items, p->output.items);
    EXPECT_EQ(found->output.label, p->output.label);
    EXPECT_EQ(found->output.class_index, p->output.class_index);
    EXPECT_EQ(found->output.score, p->output.score);
    EXPECT_EQ(found->output.digest, p->output.digest);
    EXPECT_EQ(found->output.rows, p->output.rows);
    EXPECT_EQ(found->scores, p->scores);
  }
}

TEST(PredictionIndexTest, ARepeatedIdCountsAmongTheLastPredictionsAndNeverGrowsTheWindow) {
  PredictionIndex index(3, std::chrono::hours(1));
  index.Add(Prediction("a"), "ua");
  for (int i = 0; i < 1000; ++i) index.Add(Prediction("same", i), "us");
  EXPECT_EQ(index.size(), 1u);  // "a" is more than 3 predictions old
  EXPECT_EQ(index.Find("a", "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(index.Find("", "ua").status().code(), StatusCode::kNotFound);
  auto same = index.Find("", "us");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->version, 999);
  index.Add(Prediction("b"), "");
  index.Add(Prediction("c"), "");
  EXPECT_EQ(index.size(), 3u);
  EXPECT_TRUE(index.Find("same", "").ok());
  index.Add(Prediction("d"), "");
  EXPECT_EQ(index.Find("same", "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(index.Find("", "us").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace protoserve
