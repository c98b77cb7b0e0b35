// RolloutController: progressive rollout of a candidate version, decided by
// the server itself on the evidence of each step (docs/rollout.md).
//
// A rollout moves the model's traffic split (sticky by routing key, so a
// user stays on one version within a step and, as the candidate's share
// only grows, across steps too) through the policy's steps:
//
//   start: baseline 100-s0 %, candidate s0 %
//   each tick (every `interval` on the injected clock), for the current step,
//   over the requests and feedback since the step began:
//     both versions have >= min_requests:
//       candidate error rate > baseline's + margin     -> ROLLBACK (at once)
//       candidate p99 / baseline p99 > max_p99_ratio   -> ROLLBACK (at once)
//     both have >= min_feedback, and the quality test is significant
//       (candidate worse, one-sided two-proportion z-test, p < alpha)
//                                                       -> ROLLBACK
//     all guards pass and the step is >= min_step_secs old
//                                                       -> ADVANCE (next step; PROMOTE when it is 100 %)
//   ROLLBACK: baseline 100 %; PROMOTE: candidate 100 %; ABORT (an operator): baseline 100 %.
//
// Each decision is recorded with its evidence: in the store (the prediction
// log's SQLite file, so a restart resumes at the step it was at; the step's
// evidence then starts again, since counts are in memory), in the log, and
// in /metrics (protoserve_rollout_*). A rollout comes from config.pbtxt
// (`rollout_*` parameters, see rollout_policy.h) or from the management API;
// a stored rollout started through the API wins over the config until a
// new one is started, and one from the config is replaced when the config
// names another candidate or baseline.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "core/online_evaluation.h"
#include "core/rollout_policy.h"
#include "core/rollout_store.h"
#include "core/scheduler.h"
#include "core/thread_annotations.h"
#include "core/traffic_split.h"
#include "core/version_health.h"

namespace protoserve {

class ModelRepository;

// What the controller reads and moves. The server's (RepositoryRolloutTarget)
// is the repository, the online evaluation and the version health; tests
// use a fake.
class RolloutTarget {
 public:
  virtual ~RolloutTarget() = default;
  virtual std::vector<std::string> ModelNames() const = 0;
  // The model's `rollout_*` config parameters (empty when none or unknown model).
  virtual std::map<std::string, std::string> RolloutParameters(const std::string& model) const = 0;
  virtual bool Exists(const std::string& model) const = 0;
  virtual std::vector<int64_t> ReadyVersions(const std::string& model) const = 0;  // ascending
  // Routes the model's default-version requests by `weights` (sticky); empty: the config's split again.
  virtual void SetSplit(const std::string& model, const std::vector<TrafficSplit::Weight>& weights) = 0;
  virtual HealthCounts Health(const std::string& model, int64_t version) const = 0;
  virtual EvaluationCounts Quality(const std::string& model, int64_t version) const = 0;
};

class RepositoryRolloutTarget final : public RolloutTarget {
 public:
  // All must outlive the target.
  RepositoryRolloutTarget(ModelRepository* repository, const OnlineEvaluation* evaluation,
                          const VersionHealth* health)
      : repository_(repository), evaluation_(evaluation), health_(health) {}
  std::vector<std::string> ModelNames() const override;
  std::map<std::string, std::string> RolloutParameters(const std::string& model) const override;
  bool Exists(const std::string& model) const override;
  std::vector<int64_t> ReadyVersions(const std::string& model) const override;
  void SetSplit(const std::string& model, const std::vector<TrafficSplit::Weight>& weights) override;
  HealthCounts Health(const std::string& model, int64_t version) const override;
  EvaluationCounts Quality(const std::string& model, int64_t version) const override;

 private:
  ModelRepository* const repository_;
  const OnlineEvaluation* const evaluation_;
  const VersionHealth* const health_;
};

struct RolloutStatus {
  RolloutRecord record;
  RolloutEvidence evidence;  // the current step's, live (progressing only)
  double step_age_secs = 0;
  std::vector<RolloutDecision> decisions;  // the current rollout's, from its start (at most status_decisions), oldest first
};

struct RolloutControllerOptions {
  const SchedulerClock* clock = nullptr;  // null: the steady clock
  std::chrono::milliseconds interval{1000};
  size_t status_decisions = 50;  // decisions returned by Status()
};

class RolloutController {
 public:
  // All must outlive the controller; `metrics` may be null.
  RolloutController(RolloutTarget* target, RolloutStore* store, Metrics* metrics, RolloutControllerOptions options);
  ~RolloutController();

  // Loads the stored rollouts and re-applies their splits (decision
  // "resume" for those still progressing). Call once, before serving.
  Status Restore();
  // Ticks every `interval` on a thread of its own until Stop().
  void Start();
  void Stop();
  // One evaluation of every rollout (and of config policies); the thread's body, public for tests.
  void Tick();

  // The management API: starts (or replaces) a rollout of `model`.
  // NOT_FOUND unknown model, FAILED_PRECONDITION when the candidate or the
  // baseline is not READY (or no baseline can be chosen).
  StatusOr<RolloutStatus> StartRollout(const std::string& model, RolloutPolicy policy, const std::string& source = "api");
  // Back to the baseline at 100% (recorded as "abort"); FAILED_PRECONDITION
  // when no rollout of `model` is progressing.
  StatusOr<RolloutStatus> AbortRollout(const std::string& model, const std::string& reason);
  // NOT_FOUND when `model` never had a rollout.
  StatusOr<RolloutStatus> GetStatus(const std::string& model) const;

 private:
  struct Active {
    RolloutRecord record;
    // Readings at the start of the step (evidence = now - these).
    HealthCounts baseline_health, candidate_health;
    EvaluationCounts baseline_quality, candidate_quality;
    Clock::time_point step_started;
  };

  void BeginStep(Active* active) REQUIRES(mu_);
  RolloutEvidence EvidenceLocked(const Active& active) const REQUIRES(mu_);
  void ApplySplit(const RolloutRecord& record) REQUIRES(mu_);
  void Decide(Active* active, RolloutOutcome outcome, int to_step, RolloutPhase phase, std::string reason,
              const RolloutEvidence& evidence) REQUIRES(mu_);
  void EvaluateLocked(Active* active) REQUIRES(mu_);
  void StartFromConfigLocked(const std::string& model) REQUIRES(mu_);
  StatusOr<RolloutStatus> StartLocked(const std::string& model, RolloutPolicy policy, const std::string& source)
      REQUIRES(mu_);
  RolloutStatus StatusLocked(const Active& active) const REQUIRES(mu_);
  void ExportLocked(const RolloutRecord& record) REQUIRES(mu_);

  RolloutTarget* const target_;
  RolloutStore* const store_;
  const SchedulerClock* const clock_;
  const RolloutControllerOptions options_;

  prometheus::Family<prometheus::Gauge>* weight_ = nullptr;
  prometheus::Family<prometheus::Gauge>* step_ = nullptr;
  prometheus::Family<prometheus::Gauge>* phase_ = nullptr;
  prometheus::Family<prometheus::Counter>* decisions_ = nullptr;
  prometheus::Family<prometheus::Gauge>* z_ = nullptr;
  prometheus::Family<prometheus::Gauge>* p_value_ = nullptr;

  mutable Mutex mu_;
  std::map<std::string, Active> rollouts_ GUARDED_BY(mu_);
  // Config policies refused (logged once per distinct text).
  std::map<std::string, std::string> config_errors_ GUARDED_BY(mu_);

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;  // waits on thread_mu_
  bool stopping_ = false;              // guarded by thread_mu_
  std::thread thread_;
};

}  // namespace protoserve
