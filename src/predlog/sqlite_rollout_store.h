// SqliteRolloutStore: the rollout controller's state and decisions in the
// prediction log's SQLite file (--prediction-log), so a restarted server
// resumes each rollout at the step it was at (core/rollout_store.h, core/rollout_controller.h).
//
// Tables (times are Unix milliseconds, UTC):
//   rollouts(model PRIMARY KEY, policy, step, phase, source, started_ms, updated_ms)
//     policy: the policy's rollout_* parameters, one `key=value` a line;
//   rollout_decisions(time_ms, model, baseline_version, candidate_version,
//     step, from_percent, to_percent, outcome, reason, and the evidence:
//     baseline_/candidate_ requests, errors, error_rate, p99_ms, p99_ratio,
//     metric, baseline_/candidate_ feedback, trials, successes, rate, z, p_value).
// Retention of the log never touches them. Its own connection (WAL lets it
// write beside the log's writer thread); each call is one transaction.
//
// Thread-safety: all methods may be called concurrently (one mutex).
#pragma once

#include <mutex>
#include <string>

#include "core/rollout_store.h"

struct sqlite3;

namespace protoserve {

class SqliteRolloutStore final : public RolloutStore {
 public:
  static StatusOr<std::unique_ptr<SqliteRolloutStore>> Open(const std::string& path);
  ~SqliteRolloutStore() override;

  StatusOr<std::vector<RolloutRecord>> LoadRollouts() override;
  Status SaveRollout(const RolloutRecord& record) override;
  Status AppendDecision(const RolloutDecision& decision) override;
  StatusOr<std::vector<RolloutDecision>> Decisions(const std::string& model, size_t limit) override;

 private:
  explicit SqliteRolloutStore(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);
  Status Error() const;

  std::mutex mu_;
  sqlite3* const db_;
};

}  // namespace protoserve
