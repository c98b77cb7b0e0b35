// Online metrics arithmetic: counts per version, the derived rates, and the
// Prometheus series they are exported as.
#include "core/online_evaluation.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

TEST(OnlineEvaluationTest, RecommenderCtrAndHitRate) {
  OnlineEvaluation evaluation(nullptr);
  for (int i = 0; i < 4; ++i) evaluation.RecordPrediction("rec", 1, 10);
  evaluation.RecordClicks("rec", 1, 2);
  evaluation.RecordClicks("rec", 1, 0);
  evaluation.RecordClicks("rec", 1, 1);
  const EvaluationCounts c = evaluation.Counts("rec", 1);
  EXPECT_EQ(c.predictions, 4);
  EXPECT_EQ(c.impressions, 40);
  EXPECT_EQ(c.feedback, 3);
  EXPECT_EQ(c.clicks, 3);
  EXPECT_EQ(c.hits, 2);
  EXPECT_DOUBLE_EQ(c.ctr(), 3.0 / 40.0);
  EXPECT_DOUBLE_EQ(c.hit_rate(), 2.0 / 4.0);
  EXPECT_EQ(evaluation.Counts("rec", 2).predictions, 0);  // versions apart
}

TEST(OnlineEvaluationTest, ClassifierAccuracyAndLogLossRegressorMae) {
  OnlineEvaluation evaluation(nullptr);
  evaluation.RecordLabel("clf", 3, true, 0.1);
  evaluation.RecordLabel("clf", 3, false, 2.3);
  evaluation.RecordLabel("clf", 3, true, -1);  // no probabilities: not in the log-loss
  evaluation.RecordValue("reg", 1, 0.5);
  evaluation.RecordValue("reg", 1, 1.5);
  const EvaluationCounts clf = evaluation.Counts("clf", 3);
  EXPECT_EQ(clf.labelled, 3);
  EXPECT_EQ(clf.correct, 2);
  EXPECT_EQ(clf.scored, 2);
  EXPECT_DOUBLE_EQ(clf.accuracy(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(clf.log_loss(), 1.2);
  EXPECT_DOUBLE_EQ(evaluation.Counts("reg", 1).mae(), 1.0);
  EXPECT_DOUBLE_EQ(EvaluationCounts{}.ctr(), 0.0);  // no division by zero
}

TEST(OnlineEvaluationTest, SnapshotListsVersionsOfOneModel) {
  OnlineEvaluation evaluation(nullptr);
  evaluation.RecordPrediction("a", 2, 0);
  evaluation.RecordPrediction("a", 1, 0);
  evaluation.RecordPrediction("b", 1, 0);
  auto a = evaluation.Snapshot("a");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].version, 1);
  EXPECT_EQ(a[1].version, 2);
  EXPECT_EQ(evaluation.Snapshot("").size(), 3u);
}

TEST(OnlineEvaluationTest, ExportsCountersAndRatesToPrometheus) {
  Metrics metrics;
  OnlineEvaluation evaluation(&metrics);
  evaluation.RecordPrediction("rec", 7, 10);
  evaluation.RecordClicks("rec", 7, 1);
  const std::string text = metrics.Serialize();
  EXPECT_NE(text.find("protoserve_online_clicks_total{model=\"rec\",version=\"7\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("protoserve_online_impressions_total{model=\"rec\",version=\"7\"} 10"), std::string::npos);
  EXPECT_NE(text.find("protoserve_online_ctr{model=\"rec\",version=\"7\"} 0.1"), std::string::npos);
}

}  // namespace
}  // namespace protoserve
