// RolloutController with a fake target (counts the test sets) and a fake
// clock: advance through the steps to promotion, rollback on each guard,
// nothing decided below the minimums, abort, persistence round trip
// (restore resumes at the stored step), config policies; the z-test's edge
// cases and the policy parser's errors.
#include "core/rollout_controller.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace protoserve {
namespace {

using testing::FakeClock;

class FakeTarget : public RolloutTarget {
 public:
  std::vector<std::string> ModelNames() const override { return {"m"}; }
  std::map<std::string, std::string> RolloutParameters(const std::string&) const override { return parameters; }
  bool Exists(const std::string& model) const override { return model == "m"; }
  std::vector<int64_t> ReadyVersions(const std::string&) const override { return ready; }
  void SetSplit(const std::string&, const std::vector<TrafficSplit::Weight>& w) override { weights = w; }
  HealthCounts Health(const std::string&, int64_t version) const override { return health[version]; }
  EvaluationCounts Quality(const std::string&, int64_t version) const override { return quality[version]; }

  // `n` answers of `version` at `latency`, `errors` failures, `hits` of
  // `n` predictions with feedback on `feedback` of them.
  void Serve(int64_t version, int64_t n, int64_t hits, int64_t errors = 0,
             Clock::duration latency = std::chrono::milliseconds(5), int64_t feedback = -1) {
    HealthCounts& h = health[version];
    h.ok += n;
    h.errors += errors;
    h.latency[LatencyBucket(latency)] += n;
    EvaluationCounts& q = quality[version];
    q.predictions += n;
    q.hits += hits;
    q.feedback += feedback < 0 ? n : feedback;
  }
  int CandidatePercent(int64_t candidate) const {
    for (const auto& w : weights) {
      if (w.version == candidate) return static_cast<int>(w.weight);
    }
    return 0;
  }

  std::map<std::string, std::string> parameters;
  std::vector<int64_t> ready = {1, 2};
  std::vector<TrafficSplit::Weight> weights;
  mutable std::map<int64_t, HealthCounts> health;
  mutable std::map<int64_t, EvaluationCounts> quality;
};

RolloutPolicy Policy() {
  RolloutPolicy p;
  p.candidate_version = 2;
  p.steps = {10, 50, 100};
  p.min_requests = 100;
  p.min_feedback = 100;
  return p;
}

class RolloutControllerTest : public ::testing::Test {
 protected:
  RolloutControllerOptions Options() {
    RolloutControllerOptions options;
    options.clock = &clock;
    return options;
  }
  FakeTarget target;
  MemoryRolloutStore store;
  FakeClock clock;
};

TEST_F(RolloutControllerTest, AdvancesStepByStepAndPromotes) {
  RolloutController controller(&target, &store, nullptr, Options());
  auto started = controller.StartRollout("m", Policy());
  ASSERT_TRUE(started.ok()) << started.status().message();
  EXPECT_EQ(started->record.policy.baseline_version, 1);  // chosen: the READY version below 2
  EXPECT_EQ(target.CandidatePercent(2), 10);
  EXPECT_EQ(target.CandidatePercent(1), 90);

  // Below the minimums nothing is decided, however long it takes.
  target.Serve(1, 99, 30);
  target.Serve(2, 500, 160);
  clock.Advance(std::chrono::hours(1));
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.step, 0);

  target.Serve(1, 1, 0);  // baseline 100 answers, 30 hits; candidate 500, 160 hits
  controller.Tick();
  auto status = controller.GetStatus("m");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->record.step, 1);
  EXPECT_EQ(target.CandidatePercent(2), 50);
  const RolloutDecision& advance = status->decisions.back();
  EXPECT_EQ(advance.outcome, RolloutOutcome::kAdvance);
  EXPECT_EQ(advance.from_percent, 10);
  EXPECT_EQ(advance.to_percent, 50);
  EXPECT_EQ(advance.evidence.baseline_requests, 100);
  EXPECT_EQ(advance.evidence.candidate_requests, 500);
  EXPECT_EQ(advance.evidence.metric, "hit_rate");
  EXPECT_DOUBLE_EQ(advance.evidence.baseline_rate, 0.30);
  EXPECT_DOUBLE_EQ(advance.evidence.candidate_rate, 0.32);
  EXPECT_GT(advance.evidence.z, 0);

  // The new step counts from its own start: the previous step's counts are not reused.
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.step, 1);
  target.Serve(1, 200, 60);
  target.Serve(2, 200, 64);
  controller.Tick();
  status = controller.GetStatus("m");
  EXPECT_EQ(status->record.phase, RolloutPhase::kPromoted);
  EXPECT_EQ(status->record.candidate_percent(), 100);
  EXPECT_EQ(target.weights.size(), 1u);
  EXPECT_EQ(target.CandidatePercent(2), 100);
  EXPECT_EQ(status->decisions.back().outcome, RolloutOutcome::kPromote);
  ASSERT_EQ(status->decisions.size(), 3u);  // start, advance, promote
  EXPECT_EQ(status->decisions.front().outcome, RolloutOutcome::kStart);

  // A finished rollout decides nothing more.
  target.Serve(2, 1000, 0, 1000);
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->decisions.size(), 3u);
}

TEST_F(RolloutControllerTest, RollsBackWhenTheCandidateIsSignificantlyWorse) {
  RolloutController controller(&target, &store, nullptr, Options());
  ASSERT_TRUE(controller.StartRollout("m", Policy()).ok());
  target.Serve(1, 400, 120);  // 30 %
  target.Serve(2, 400, 80);   // 20 %: z ~ -3.2
  controller.Tick();
  auto status = controller.GetStatus("m");
  EXPECT_EQ(status->record.phase, RolloutPhase::kRolledBack);
  EXPECT_EQ(target.CandidatePercent(2), 0);
  EXPECT_EQ(target.CandidatePercent(1), 100);
  const RolloutDecision& d = status->decisions.back();
  EXPECT_EQ(d.outcome, RolloutOutcome::kRollback);
  EXPECT_LT(d.evidence.z, -3);
  EXPECT_LT(d.evidence.p_value, 0.05);
  EXPECT_NE(d.reason.find("hit_rate guard"), std::string::npos) << d.reason;
}

TEST_F(RolloutControllerTest, WaitsForFeedbackBeforeTheQualityTest) {
  RolloutController controller(&target, &store, nullptr, Options());
  ASSERT_TRUE(controller.StartRollout("m", Policy()).ok());
  target.Serve(1, 400, 120, 0, std::chrono::milliseconds(5), 50);
  target.Serve(2, 400, 10, 0, std::chrono::milliseconds(5), 50);
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.phase, RolloutPhase::kProgressing);
  EXPECT_EQ(controller.GetStatus("m")->record.step, 0);
  target.Serve(1, 0, 0, 0, std::chrono::milliseconds(5), 50);
  target.Serve(2, 0, 0, 0, std::chrono::milliseconds(5), 50);
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.phase, RolloutPhase::kRolledBack);
}

TEST_F(RolloutControllerTest, RollsBackOnTheErrorRateGuard) {
  RolloutController controller(&target, &store, nullptr, Options());
  ASSERT_TRUE(controller.StartRollout("m", Policy()).ok());
  target.Serve(1, 1000, 300, 1);   // 0.1 %
  target.Serve(2, 100, 30, 5);     // 4.8 %
  controller.Tick();
  auto status = controller.GetStatus("m");
  EXPECT_EQ(status->record.phase, RolloutPhase::kRolledBack);
  EXPECT_NE(status->decisions.back().reason.find("error rate guard"), std::string::npos);
  EXPECT_EQ(status->decisions.back().evidence.candidate_errors, 5);
}

TEST_F(RolloutControllerTest, AnErrorRateWithinTheMarginPasses) {
  RolloutController controller(&target, &store, nullptr, Options());
  ASSERT_TRUE(controller.StartRollout("m", Policy()).ok());
  target.Serve(1, 1000, 300, 10);  // 0.99 %
  target.Serve(2, 1000, 300, 19);  // 1.86 %: within 0.01 of the baseline
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.step, 1);
}

TEST_F(RolloutControllerTest, RollsBackOnTheLatencyGuard) {
  RolloutController controller(&target, &store, nullptr, Options());
  ASSERT_TRUE(controller.StartRollout("m", Policy()).ok());
  target.Serve(1, 1000, 300, 0, std::chrono::milliseconds(5));
  target.Serve(2, 1000, 300, 0, std::chrono::milliseconds(10));
  controller.Tick();
  auto status = controller.GetStatus("m");
  EXPECT_EQ(status->record.phase, RolloutPhase::kRolledBack);
  const RolloutDecision& d = status->decisions.back();
  EXPECT_NE(d.reason.find("latency guard"), std::string::npos) << d.reason;
  EXPECT_NEAR(d.evidence.p99_ratio, 2.0, 0.25);  // 10 % buckets
}

TEST_F(RolloutControllerTest, AStepAdvancesNoSoonerThanItsMinimumAge) {
  RolloutPolicy policy = Policy();
  policy.min_step_secs = 60;
  RolloutController controller(&target, &store, nullptr, Options());
  ASSERT_TRUE(controller.StartRollout("m", policy).ok());
  target.Serve(1, 500, 150);
  target.Serve(2, 500, 150);
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.step, 0);
  clock.Advance(std::chrono::seconds(59));
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.step, 0);
  clock.Advance(std::chrono::seconds(1));
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.step, 1);
}

TEST_F(RolloutControllerTest, TheDefaultBaselineIsWhatUsersGetNow) {
  target.ready = {1, 2, 3};
  RolloutController controller(&target, &store, nullptr, Options());
  RolloutPolicy policy = Policy();
  policy.candidate_version = 3;
  ASSERT_EQ(controller.StartRollout("m", policy)->record.policy.baseline_version, 2);  // highest below 3
  ASSERT_TRUE(controller.AbortRollout("m", "").ok());                                 // users back on 2
  policy.candidate_version = 1;
  ASSERT_EQ(controller.StartRollout("m", policy)->record.policy.baseline_version, 2);
  target.Serve(2, 200, 60);
  target.Serve(1, 200, 60);
  controller.Tick();
  target.Serve(2, 200, 60);
  target.Serve(1, 200, 60);
  controller.Tick();
  ASSERT_EQ(controller.GetStatus("m")->record.phase, RolloutPhase::kPromoted);  // users on 1 now
  policy.candidate_version = 3;
  EXPECT_EQ(controller.StartRollout("m", policy)->record.policy.baseline_version, 1);
}

TEST_F(RolloutControllerTest, StartRefusesVersionsThatAreNotReady) {
  RolloutController controller(&target, &store, nullptr, Options());
  RolloutPolicy policy = Policy();
  policy.candidate_version = 3;
  EXPECT_EQ(controller.StartRollout("m", policy).status().code(), StatusCode::kFailedPrecondition);
  policy.candidate_version = 1;  // nothing below it
  EXPECT_EQ(controller.StartRollout("m", policy).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(controller.StartRollout("other", Policy()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(controller.GetStatus("m").status().code(), StatusCode::kNotFound);
}

TEST_F(RolloutControllerTest, AbortGoesBackToTheBaseline) {
  RolloutController controller(&target, &store, nullptr, Options());
  ASSERT_TRUE(controller.StartRollout("m", Policy()).ok());
  auto aborted = controller.AbortRollout("m", "pager");
  ASSERT_TRUE(aborted.ok());
  EXPECT_EQ(aborted->record.phase, RolloutPhase::kAborted);
  EXPECT_EQ(target.CandidatePercent(1), 100);
  EXPECT_EQ(aborted->decisions.back().outcome, RolloutOutcome::kAbort);
  EXPECT_EQ(controller.AbortRollout("m", "").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(controller.AbortRollout("x", "").status().code(), StatusCode::kNotFound);
}

TEST_F(RolloutControllerTest, RestoreResumesAtTheStoredStepWithFreshEvidence) {
  {
    RolloutController controller(&target, &store, nullptr, Options());
    ASSERT_TRUE(controller.StartRollout("m", Policy()).ok());
    target.Serve(1, 200, 60);
    target.Serve(2, 200, 60);
    controller.Tick();
    ASSERT_EQ(controller.GetStatus("m")->record.step, 1);
  }
  FakeTarget restarted;  // a new process: counts start at zero, no split applied
  RolloutController controller(&restarted, &store, nullptr, Options());
  ASSERT_TRUE(controller.Restore().ok());
  auto status = controller.GetStatus("m");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->record.step, 1);
  EXPECT_EQ(status->record.phase, RolloutPhase::kProgressing);
  EXPECT_EQ(restarted.CandidatePercent(2), 50);
  EXPECT_EQ(status->decisions.back().outcome, RolloutOutcome::kResume);
  EXPECT_EQ(status->evidence.candidate_requests, 0);
  restarted.Serve(1, 200, 60);
  restarted.Serve(2, 200, 60);
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.phase, RolloutPhase::kPromoted);
}

TEST_F(RolloutControllerTest, ConfigPolicyStartsOnceAndAnApiRolloutWins) {
  target.parameters = Policy().ToParameters();
  RolloutController controller(&target, &store, nullptr, Options());
  controller.Tick();
  auto status = controller.GetStatus("m");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->record.source, "config");
  EXPECT_EQ(target.CandidatePercent(2), 10);
  controller.Tick();  // the same config: not restarted
  EXPECT_EQ(controller.GetStatus("m")->decisions.size(), 1u);

  target.ready = {1, 2, 3};
  target.parameters["rollout_candidate_version"] = "3";  // another candidate: a new rollout
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.policy.candidate_version, 3);
  // The baseline is what users got: the replaced rollout's baseline, not version 2 (at 10%).
  EXPECT_EQ(controller.GetStatus("m")->record.policy.baseline_version, 1);

  ASSERT_TRUE(controller.StartRollout("m", Policy()).ok());  // API: candidate 2 again
  target.parameters["rollout_candidate_version"] = "3";
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m")->record.source, "api");
  EXPECT_EQ(controller.GetStatus("m")->record.policy.candidate_version, 2);
}

TEST_F(RolloutControllerTest, AnInvalidConfigPolicyStartsNothing) {
  target.parameters = {{"rollout_candidate_version", "2"}, {"rollout_steps", "50,10"}};
  RolloutController controller(&target, &store, nullptr, Options());
  controller.Tick();
  EXPECT_EQ(controller.GetStatus("m").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(target.weights.empty());
}

TEST(CandidateWorseTest, EdgeCases) {
  ProportionTest t = CandidateWorseTest(0, 0, 10, 100);  // no candidate trials: not testable
  EXPECT_FALSE(t.testable);
  EXPECT_EQ(t.p_value, 1);
  t = CandidateWorseTest(0, 100, 0, 100);  // both zero: no difference
  EXPECT_TRUE(t.testable);
  EXPECT_EQ(t.z, 0);
  EXPECT_EQ(t.p_value, 0.5);
  t = CandidateWorseTest(100, 100, 100, 100);  // both one
  EXPECT_EQ(t.z, 0);
  EXPECT_EQ(t.p_value, 0.5);
  t = CandidateWorseTest(0, 100, 10, 100);  // 0 % vs 10 %: pooled 5 %, se 0.0308
  EXPECT_NEAR(t.z, -3.244, 0.001);
  EXPECT_NEAR(t.p_value, 0.000589, 0.00001);
  t = CandidateWorseTest(20, 100, 10, 100);  // better: large p-value
  EXPECT_GT(t.z, 0);
  EXPECT_GT(t.p_value, 0.9);
  // The textbook case: 0.20 vs 0.30 on 400 each -> z = -3.26.
  t = CandidateWorseTest(80, 400, 120, 400);
  EXPECT_NEAR(t.z, -3.266, 0.001);
}

TEST(RolloutPolicyTest, ParsesAndRoundTrips) {
  auto p = ParseRolloutPolicy({{"rollout_candidate_version", "3"},
                               {"rollout_steps", "5,20,100"},
                               {"rollout_min_requests", "50"},
                               {"rollout_alpha", "0.01"},
                               {"rollout_metric", "accuracy"},
                               {"other_parameter", "x"}});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->candidate_version, 3);
  EXPECT_EQ(p->steps, (std::vector<int>{5, 20, 100}));
  EXPECT_EQ(p->min_requests, 50);
  EXPECT_EQ(p->alpha, 0.01);
  auto again = ParseRolloutPolicy(p->ToParameters());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ToParameters(), p->ToParameters());
}

TEST(RolloutPolicyTest, RefusesBadValuesByName) {
  EXPECT_EQ(ParseRolloutPolicy({}).status().code(), StatusCode::kNotFound);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"rollout_candidate_version", "0"}, {"rollout_steps", "10,100,50"}, {"rollout_steps", "100"},
      {"rollout_steps", "10,50"},         {"rollout_steps", "0,100"},     {"rollout_min_requests", "0"},
      {"rollout_alpha", "0"},             {"rollout_alpha", "nan"},       {"rollout_max_p99_ratio", "0.5"},
      {"rollout_metric", "ctr"},          {"rollout_max_error_rate_margin", "2"}, {"rollout_typo", "1"},
      {"rollout_baseline_version", "2"}};
  for (const auto& [key, value] : bad) {
    std::map<std::string, std::string> parameters = {{"rollout_candidate_version", "2"}};
    parameters[key] = value;
    auto p = ParseRolloutPolicy(parameters);
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << key << "=" << value;
    EXPECT_NE(p.status().message().find(key), std::string::npos) << p.status().message();
  }
}

TEST(VersionHealthTest, QuantilesAndErrorsFromTheObserver) {
  VersionHealth health;
  auto observer = health.ObserverFactory()("m", 1);
  for (int i = 0; i < 98; ++i) observer->OnCompleted(Api::kGrpc, std::chrono::milliseconds(1), {}, 1);
  observer->OnCompleted(Api::kGrpc, std::chrono::milliseconds(100), {}, 1);
  observer->OnCompleted(Api::kGrpc, std::chrono::milliseconds(100), {}, 1);
  observer->OnCompleted(Api::kShadow, std::chrono::seconds(5), {}, 1);  // not counted
  observer->OnFailed(Api::kGrpc, StatusCode::kInternal, {});
  observer->OnFailed(Api::kGrpc, StatusCode::kInvalidArgument, {});  // the client's
  HealthCounts c = health.Counts("m", 1);
  EXPECT_EQ(c.ok, 100);
  EXPECT_EQ(c.errors, 1);
  EXPECT_NEAR(c.LatencyQuantile(0.98), 0.001, 0.0001);
  EXPECT_NEAR(c.LatencyQuantile(0.99), 0.100, 0.010);
  HealthCounts later = c;
  later.ok += 5;
  EXPECT_EQ(later.Minus(c).ok, 5);
  EXPECT_EQ(health.Counts("m", 2).requests(), 0);
}

}  // namespace
}  // namespace protoserve
