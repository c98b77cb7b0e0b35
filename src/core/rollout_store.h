// The records of progressive rollouts (docs/rollout.md): each model's
// rollout state, each decision with its evidence, and where they are kept
// (RolloutStore: the prediction log's SQLite file in the server, src/predlog;
// MemoryRolloutStore without one). RolloutController (rollout_controller.h)
// makes the decisions.
//
// Thread-safety: MemoryRolloutStore's methods may be called concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/rollout_policy.h"
#include "core/status.h"
#include "core/thread_annotations.h"

namespace protoserve {

enum class RolloutPhase { kProgressing, kPromoted, kRolledBack, kAborted };
inline constexpr RolloutPhase kRolloutPhases[] = {RolloutPhase::kProgressing, RolloutPhase::kPromoted,
                                                  RolloutPhase::kRolledBack, RolloutPhase::kAborted};
const char* RolloutPhaseName(RolloutPhase phase);  // "progressing", "promoted", "rolled_back", "aborted"
StatusOr<RolloutPhase> ParseRolloutPhase(const std::string& name);

enum class RolloutOutcome { kStart, kResume, kAdvance, kPromote, kRollback, kAbort };
inline constexpr RolloutOutcome kRolloutOutcomes[] = {RolloutOutcome::kStart,   RolloutOutcome::kResume,
                                                      RolloutOutcome::kAdvance, RolloutOutcome::kPromote,
                                                      RolloutOutcome::kRollback, RolloutOutcome::kAbort};
const char* RolloutOutcomeName(RolloutOutcome outcome);  // "start", "resume", "advance", ...
StatusOr<RolloutOutcome> ParseRolloutOutcome(const std::string& name);

// What a step has seen so far, per version (since the step began).
struct RolloutEvidence {
  int64_t baseline_requests = 0, candidate_requests = 0;
  int64_t baseline_errors = 0, candidate_errors = 0;
  double baseline_error_rate = 0, candidate_error_rate = 0;
  double baseline_p99_ms = 0, candidate_p99_ms = 0;
  double p99_ratio = 0;        // candidate / baseline; 0 while either has no answer
  std::string metric;          // hit_rate | accuracy | none
  int64_t baseline_feedback = 0, candidate_feedback = 0;
  int64_t baseline_trials = 0, candidate_trials = 0;        // predictions (hit rate) or labelled (accuracy)
  int64_t baseline_successes = 0, candidate_successes = 0;  // hits or correct
  double baseline_rate = 0, candidate_rate = 0;
  double z = 0;
  double p_value = 1;
};

struct RolloutDecision {
  std::string model;
  int64_t baseline_version = 0;
  int64_t candidate_version = 0;
  int step = 0;          // the step decided on (index into the policy's steps)
  int from_percent = 0;  // candidate's share before and after
  int to_percent = 0;
  RolloutOutcome outcome = RolloutOutcome::kStart;
  std::string reason;
  RolloutEvidence evidence;
  int64_t time_unix_ms = 0;
};

// The persisted state of one model's rollout.
struct RolloutRecord {
  std::string model;
  RolloutPolicy policy;  // baseline_version resolved
  int step = 0;
  RolloutPhase phase = RolloutPhase::kProgressing;
  std::string source;  // "config" or "api"
  int64_t started_unix_ms = 0;
  int64_t updated_unix_ms = 0;

  int candidate_percent() const;  // the share the split gives the candidate now
};

// Where rollouts survive a restart. The server's is the prediction log's
// SQLite file (src/predlog); without one, MemoryRolloutStore.
class RolloutStore {
 public:
  virtual ~RolloutStore() = default;
  virtual StatusOr<std::vector<RolloutRecord>> LoadRollouts() = 0;
  virtual Status SaveRollout(const RolloutRecord& record) = 0;
  virtual Status AppendDecision(const RolloutDecision& decision) = 0;
  // The latest `limit` decisions of `model`, oldest first.
  virtual StatusOr<std::vector<RolloutDecision>> Decisions(const std::string& model, size_t limit) = 0;
};

class MemoryRolloutStore final : public RolloutStore {
 public:
  StatusOr<std::vector<RolloutRecord>> LoadRollouts() override;
  Status SaveRollout(const RolloutRecord& record) override;
  Status AppendDecision(const RolloutDecision& decision) override;
  StatusOr<std::vector<RolloutDecision>> Decisions(const std::string& model, size_t limit) override;

 private:
  Mutex mu_;
  std::map<std::string, RolloutRecord> rollouts_ GUARDED_BY(mu_);
  std::vector<RolloutDecision> decisions_ GUARDED_BY(mu_);
};

}  // namespace protoserve
