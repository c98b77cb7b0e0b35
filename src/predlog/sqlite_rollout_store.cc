#include "predlog/sqlite_rollout_store.h"

#include <sqlite3.h>

#include <sstream>

#include "predlog/sqlite_db.h"

namespace protoserve {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS rollouts (
  model TEXT PRIMARY KEY, policy TEXT NOT NULL, step INTEGER NOT NULL, phase TEXT NOT NULL,
  source TEXT NOT NULL, started_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rollout_decisions (
  time_ms INTEGER NOT NULL, model TEXT NOT NULL, baseline_version INTEGER NOT NULL,
  candidate_version INTEGER NOT NULL, step INTEGER NOT NULL, from_percent INTEGER NOT NULL,
  to_percent INTEGER NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
  baseline_requests INTEGER, candidate_requests INTEGER, baseline_errors INTEGER, candidate_errors INTEGER,
  baseline_error_rate REAL, candidate_error_rate REAL, baseline_p99_ms REAL, candidate_p99_ms REAL,
  p99_ratio REAL, metric TEXT, baseline_feedback INTEGER, candidate_feedback INTEGER,
  baseline_trials INTEGER, candidate_trials INTEGER, baseline_successes INTEGER, candidate_successes INTEGER,
  baseline_rate REAL, candidate_rate REAL, z REAL, p_value REAL);
CREATE INDEX IF NOT EXISTS rollout_decisions_model ON rollout_decisions (model, time_ms);
)sql";

constexpr const char* kDecisionColumns =
    "time_ms, model, baseline_version, candidate_version, step, from_percent, to_percent, outcome, reason, "
    "baseline_requests, candidate_requests, baseline_errors, candidate_errors, baseline_error_rate, "
    "candidate_error_rate, baseline_p99_ms, candidate_p99_ms, p99_ratio, metric, baseline_feedback, "
    "candidate_feedback, baseline_trials, candidate_trials, baseline_successes, candidate_successes, baseline_rate, "
    "candidate_rate, z, p_value";

// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) { ok_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) == SQLITE_OK; }
  ~Statement() { sqlite3_finalize(s_); }
  bool ok() const { return ok_; }
  sqlite3_stmt* get() { return s_; }
  void Text(int i, const std::string& t) { sqlite3_bind_text(s_, i, t.data(), static_cast<int>(t.size()), SQLITE_TRANSIENT); }
  void Int(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void Real(int i, double v) { sqlite3_bind_double(s_, i, v); }
  std::string ColumnText(int i) {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
  }
  int64_t ColumnInt(int i) { return sqlite3_column_int64(s_, i); }
  double ColumnReal(int i) { return sqlite3_column_double(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
  bool ok_ = false;
};

std::string EncodePolicy(const RolloutPolicy& policy) {
  std::string out;
  for (const auto& [k, v] : policy.ToParameters()) out += k + "=" + v + "\n";
  return out;
}

StatusOr<RolloutPolicy> DecodePolicy(const std::string& text) {
  std::map<std::string, std::string> parameters;
  std::stringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) parameters[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return ParseRolloutPolicy(parameters);
}

}  // namespace

StatusOr<std::unique_ptr<SqliteRolloutStore>> SqliteRolloutStore::Open(const std::string& path) {
  ASSIGN_OR_RETURN(sqlite3 * db, OpenWalDatabase(path, "rollout state in"));
  std::unique_ptr<SqliteRolloutStore> store(new SqliteRolloutStore(db));
  RETURN_IF_ERROR(store->Exec(kSchema));
  return store;
}

SqliteRolloutStore::~SqliteRolloutStore() { sqlite3_close(db_); }

Status SqliteRolloutStore::Error() const { return Internal(std::string("rollout state (sqlite): ") + sqlite3_errmsg(db_)); }

Status SqliteRolloutStore::Exec(const char* sql) { return ExecSql(db_, sql, "rollout state (sqlite)"); }

StatusOr<std::vector<RolloutRecord>> SqliteRolloutStore::LoadRollouts() {
  std::lock_guard lock(mu_);
  Statement s(db_, "SELECT model, policy, step, phase, source, started_ms, updated_ms FROM rollouts ORDER BY model");
  if (!s.ok()) return Error();
  std::vector<RolloutRecord> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    RolloutRecord r;
    r.model = s.ColumnText(0);
    auto policy = DecodePolicy(s.ColumnText(1));
    if (!policy.ok()) return Internal("rollout state of model '" + r.model + "': " + policy.status().message());
    r.policy = std::move(policy).value();
    r.step = static_cast<int>(s.ColumnInt(2));
    auto phase = ParseRolloutPhase(s.ColumnText(3));
    if (!phase.ok()) return Internal("rollout state of model '" + r.model + "': " + phase.status().message());
    r.phase = *phase;
    if (r.step < 0 || static_cast<size_t>(r.step) >= r.policy.steps.size()) {
      return Internal("rollout state of model '" + r.model + "': step " + std::to_string(r.step) + " out of range");
    }
    r.source = s.ColumnText(4);
    r.started_unix_ms = s.ColumnInt(5);
    r.updated_unix_ms = s.ColumnInt(6);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Error();
  return out;
}

Status SqliteRolloutStore::SaveRollout(const RolloutRecord& r) {
  std::lock_guard lock(mu_);
  Statement s(db_,
              "INSERT INTO rollouts (model, policy, step, phase, source, started_ms, updated_ms) VALUES (?, ?, ?, ?, "
              "?, ?, ?) ON CONFLICT(model) DO UPDATE SET policy = excluded.policy, step = excluded.step, phase = "
              "excluded.phase, source = excluded.source, started_ms = excluded.started_ms, updated_ms = "
              "excluded.updated_ms");
  if (!s.ok()) return Error();
  s.Text(1, r.model);
  s.Text(2, EncodePolicy(r.policy));
  s.Int(3, r.step);
  s.Text(4, RolloutPhaseName(r.phase));
  s.Text(5, r.source);
  s.Int(6, r.started_unix_ms);
  s.Int(7, r.updated_unix_ms);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Error();
  return Status::Ok();
}

Status SqliteRolloutStore::AppendDecision(const RolloutDecision& d) {
  std::lock_guard lock(mu_);
  Statement s(db_, std::string("INSERT INTO rollout_decisions (") + kDecisionColumns +
                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!s.ok()) return Error();
  const RolloutEvidence& e = d.evidence;
  int i = 0;
  s.Int(++i, d.time_unix_ms);
  s.Text(++i, d.model);
  s.Int(++i, d.baseline_version);
  s.Int(++i, d.candidate_version);
  s.Int(++i, d.step);
  s.Int(++i, d.from_percent);
  s.Int(++i, d.to_percent);
  s.Text(++i, RolloutOutcomeName(d.outcome));
  s.Text(++i, d.reason);
  s.Int(++i, e.baseline_requests);
  s.Int(++i, e.candidate_requests);
  s.Int(++i, e.baseline_errors);
  s.Int(++i, e.candidate_errors);
  s.Real(++i, e.baseline_error_rate);
  s.Real(++i, e.candidate_error_rate);
  s.Real(++i, e.baseline_p99_ms);
  s.Real(++i, e.candidate_p99_ms);
  s.Real(++i, e.p99_ratio);
  s.Text(++i, e.metric);
  s.Int(++i, e.baseline_feedback);
  s.Int(++i, e.candidate_feedback);
  s.Int(++i, e.baseline_trials);
  s.Int(++i, e.candidate_trials);
  s.Int(++i, e.baseline_successes);
  s.Int(++i, e.candidate_successes);
  s.Real(++i, e.baseline_rate);
  s.Real(++i, e.candidate_rate);
  s.Real(++i, e.z);
  s.Real(++i, e.p_value);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return Error();
  return Status::Ok();
}

StatusOr<std::vector<RolloutDecision>> SqliteRolloutStore::Decisions(const std::string& model, size_t limit) {
  std::lock_guard lock(mu_);
  Statement s(db_, std::string("SELECT ") + kDecisionColumns +
                       " FROM (SELECT rowid AS r, * FROM rollout_decisions WHERE model = ? ORDER BY rowid DESC LIMIT ?)"
                       " ORDER BY r");
  if (!s.ok()) return Error();
  s.Text(1, model);
  s.Int(2, static_cast<int64_t>(limit));
  std::vector<RolloutDecision> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    RolloutDecision d;
    RolloutEvidence& e = d.evidence;
    int i = 0;
    d.time_unix_ms = s.ColumnInt(i++);
    d.model = s.ColumnText(i++);
    d.baseline_version = s.ColumnInt(i++);
    d.candidate_version = s.ColumnInt(i++);
    d.step = static_cast<int>(s.ColumnInt(i++));
    d.from_percent = static_cast<int>(s.ColumnInt(i++));
    d.to_percent = static_cast<int>(s.ColumnInt(i++));
    auto outcome = ParseRolloutOutcome(s.ColumnText(i++));
    if (!outcome.ok()) return Internal("rollout decision of model '" + model + "': " + outcome.status().message());
    d.outcome = *outcome;
    d.reason = s.ColumnText(i++);
    e.baseline_requests = s.ColumnInt(i++);
    e.candidate_requests = s.ColumnInt(i++);
    e.baseline_errors = s.ColumnInt(i++);
    e.candidate_errors = s.ColumnInt(i++);
    e.baseline_error_rate = s.ColumnReal(i++);
    e.candidate_error_rate = s.ColumnReal(i++);
    e.baseline_p99_ms = s.ColumnReal(i++);
    e.candidate_p99_ms = s.ColumnReal(i++);
    e.p99_ratio = s.ColumnReal(i++);
    e.metric = s.ColumnText(i++);
    e.baseline_feedback = s.ColumnInt(i++);
    e.candidate_feedback = s.ColumnInt(i++);
    e.baseline_trials = s.ColumnInt(i++);
    e.candidate_trials = s.ColumnInt(i++);
    e.baseline_successes = s.ColumnInt(i++);
    e.candidate_successes = s.ColumnInt(i++);
    e.baseline_rate = s.ColumnReal(i++);
    e.candidate_rate = s.ColumnReal(i++);
    e.z = s.ColumnReal(i++);
    e.p_value = s.ColumnReal(i++);
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return Error();
  return out;
}

}  // namespace protoserve
