// The SQLite rollout store: a round trip of rollouts (upsert by model) and
// decisions with their evidence, beside the prediction log's tables in the
// same file; the latest decisions per model, oldest first; a controller
// restored from the file resumes at the stored step.
#include "predlog/sqlite_rollout_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/rollout_controller.h"
#include "predlog/sqlite_log_sink.h"

namespace protoserve {
namespace {

class SqliteRolloutStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("rollout-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".sqlite"))
                .string();
    TearDown();
  }
  void TearDown() override {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  std::string path_;
};

RolloutRecord Record(int step, RolloutPhase phase) {
  RolloutRecord r;
  r.model = "m";
  r.policy.candidate_version = 2;
  r.policy.baseline_version = 1;
  r.policy.steps = {5, 50, 100};
  r.policy.alpha = 0.01;
  r.policy.metric = "hit_rate";
  r.step = step;
  r.phase = phase;
  r.source = "api";
  r.started_unix_ms = 1000;
  r.updated_unix_ms = 2000 + step;
  return r;
}

TEST_F(SqliteRolloutStoreTest, RoundTripsRolloutsAndDecisionsBesideTheLog) {
  auto sink = SqliteLogSink::Open(path_, {});  // the log's tables in the same file
  ASSERT_TRUE(sink.ok()) << sink.status().message();
  {
    auto store = SqliteRolloutStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status().message();
    ASSERT_TRUE((*store)->SaveRollout(Record(0, RolloutPhase::kProgressing)).ok());
    ASSERT_TRUE((*store)->SaveRollout(Record(1, RolloutPhase::kProgressing)).ok());  // upsert
    for (int i = 0; i < 3; ++i) {
      RolloutDecision d;
      d.model = i == 1 ? "other" : "m";
      d.baseline_version = 1;
      d.candidate_version = 2;
      d.step = i;
      d.from_percent = 5;
      d.to_percent = 50;
      d.outcome = i == 2 ? RolloutOutcome::kRollback : RolloutOutcome::kAdvance;
      d.reason = "because " + std::to_string(i);
      d.evidence.baseline_requests = 900 + i;
      d.evidence.candidate_requests = 100;
      d.evidence.metric = "hit_rate";
      d.evidence.candidate_successes = 5;
      d.evidence.candidate_trials = 100;
      d.evidence.candidate_rate = 0.05;
      d.evidence.z = -6.5;
      d.evidence.p_value = 4e-11;
      d.evidence.p99_ratio = 1.25;
      d.time_unix_ms = 3000 + i;
      ASSERT_TRUE((*store)->AppendDecision(d).ok());
    }
  }
  auto store = SqliteRolloutStore::Open(path_);  // as after a restart
  ASSERT_TRUE(store.ok());
  auto rollouts = (*store)->LoadRollouts();
  ASSERT_TRUE(rollouts.ok()) << rollouts.status().message();
  ASSERT_EQ(rollouts->size(), 1u);
  const RolloutRecord& r = rollouts->front();
  EXPECT_EQ(r.step, 1);
  EXPECT_EQ(r.phase, RolloutPhase::kProgressing);
  EXPECT_EQ(r.policy.steps, (std::vector<int>{5, 50, 100}));
  EXPECT_EQ(r.policy.baseline_version, 1);
  EXPECT_EQ(r.policy.alpha, 0.01);
  EXPECT_EQ(r.source, "api");
  EXPECT_EQ(r.updated_unix_ms, 2001);

  auto decisions = (*store)->Decisions("m", 10);
  ASSERT_TRUE(decisions.ok()) << decisions.status().message();
  ASSERT_EQ(decisions->size(), 2u);
  EXPECT_EQ((*decisions)[0].step, 0);
  const RolloutDecision& last = (*decisions)[1];
  EXPECT_EQ(last.outcome, RolloutOutcome::kRollback);
  EXPECT_EQ(last.reason, "because 2");
  EXPECT_EQ(last.evidence.baseline_requests, 902);
  EXPECT_EQ(last.evidence.candidate_successes, 5);
  EXPECT_DOUBLE_EQ(last.evidence.z, -6.5);
  EXPECT_DOUBLE_EQ(last.evidence.p_value, 4e-11);
  EXPECT_EQ(last.time_unix_ms, 3002);
  auto latest = (*store)->Decisions("m", 1);
  ASSERT_EQ(latest->size(), 1u);
  EXPECT_EQ(latest->front().step, 2);  // the latest one

  // A controller restored from the file resumes there and records it.
  class Target : public RolloutTarget {
   public:
    std::vector<std::string> ModelNames() const override { return {"m"}; }
    std::map<std::string, std::string> RolloutParameters(const std::string&) const override { return {}; }
    bool Exists(const std::string&) const override { return true; }
    std::vector<int64_t> ReadyVersions(const std::string&) const override { return {1, 2}; }
    void SetSplit(const std::string&, const std::vector<TrafficSplit::Weight>& w) override { weights = w; }
    HealthCounts Health(const std::string&, int64_t) const override { return {}; }
    EvaluationCounts Quality(const std::string&, int64_t) const override { return {}; }
    std::vector<TrafficSplit::Weight> weights;
  } target;
  RolloutController controller(&target, store->get(), nullptr, {});
  ASSERT_TRUE(controller.Restore().ok());
  ASSERT_EQ(target.weights.size(), 2u);
  EXPECT_EQ(target.weights[1].version, 2);
  EXPECT_EQ(target.weights[1].weight, 50u);
  EXPECT_EQ((*store)->Decisions("m", 1)->front().outcome, RolloutOutcome::kResume);
}

TEST_F(SqliteRolloutStoreTest, AnUnusablePathIsAnErrorNamingIt) {
  auto store = SqliteRolloutStore::Open("/nonexistent-dir/x.sqlite");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/nonexistent-dir/x.sqlite"), std::string::npos);
}

}  // namespace
}  // namespace protoserve
