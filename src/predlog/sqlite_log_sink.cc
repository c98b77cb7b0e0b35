#include "predlog/sqlite_log_sink.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "predlog/log_json.h"
#include "predlog/sqlite_db.h"

namespace protoserve {

namespace {

// No index on predictions.request_id: ids are random, so every insert would
// dirty a random page of a large B-tree (measured: it more than doubled the
// writer's CPU per row). Rows are appended in time order; a reader that joins
// often creates the index it needs (docs/rollout.md).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS predictions (
  request_id TEXT NOT NULL, time_ms INTEGER NOT NULL, model TEXT NOT NULL, version INTEGER NOT NULL,
  api TEXT NOT NULL, routing_key TEXT, output TEXT, latency_us INTEGER);
CREATE INDEX IF NOT EXISTS predictions_time ON predictions (time_ms);
CREATE TABLE IF NOT EXISTS feedback (
  request_id TEXT NOT NULL, time_ms INTEGER NOT NULL, model TEXT NOT NULL, version INTEGER NOT NULL,
  truth TEXT);
CREATE INDEX IF NOT EXISTS feedback_request_id ON feedback (request_id);
CREATE INDEX IF NOT EXISTS feedback_time ON feedback (time_ms);
)sql";

void BindText(sqlite3_stmt* statement, int index, const std::string& text) {
  sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

}  // namespace

StatusOr<std::unique_ptr<LogSink>> SqliteLogSink::Open(const std::string& path, SqliteRetention retention) {
  ASSIGN_OR_RETURN(sqlite3 * db, OpenWalDatabase(path, "--prediction-log"));
  std::unique_ptr<SqliteLogSink> sink(new SqliteLogSink(db, retention));
  RETURN_IF_ERROR(sink->Exec(kSchema));
  RETURN_IF_ERROR(sink->Prepare());
  return std::unique_ptr<LogSink>(std::move(sink));
}

SqliteLogSink::~SqliteLogSink() {
  sqlite3_finalize(insert_prediction_);
  sqlite3_finalize(insert_feedback_);
  sqlite3_close(db_);
}

Status SqliteLogSink::Exec(const char* sql) { return ExecSql(db_, sql, "sqlite"); }

Status SqliteLogSink::Prepare() {
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO predictions (request_id, time_ms, model, version, api, routing_key, output, "
                         "latency_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         -1, &insert_prediction_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_,
                         "INSERT INTO feedback (request_id, time_ms, model, version, truth) VALUES (?, ?, ?, ?, ?)", -1,
                         &insert_feedback_, nullptr) != SQLITE_OK) {
    return Internal(std::string("sqlite: ") + sqlite3_errmsg(db_));
  }
  return Status::Ok();
}

Status SqliteLogSink::Write(std::span<const LogEntry> batch) {
  RETURN_IF_ERROR(Exec("BEGIN"));
  for (const LogEntry& entry : batch) {
    sqlite3_stmt* statement = nullptr;
    if (const auto* p = std::get_if<PredictionRecord>(&entry)) {
      statement = insert_prediction_;
      BindText(statement, 1, p->request_id);
      sqlite3_bind_int64(statement, 2, UnixMillis(p->time));
      BindText(statement, 3, p->model);
      sqlite3_bind_int64(statement, 4, p->version);
      BindText(statement, 5, ApiName(p->api));
      BindText(statement, 6, p->routing_key);
      BindText(statement, 7, OutputJson(p->output));
      sqlite3_bind_int64(statement, 8, p->latency.count());
    } else {
      const auto& f = std::get<FeedbackRecord>(entry);
      statement = insert_feedback_;
      BindText(statement, 1, f.request_id);
      sqlite3_bind_int64(statement, 2, UnixMillis(f.time));
      BindText(statement, 3, f.model);
      sqlite3_bind_int64(statement, 4, f.version);
      BindText(statement, 5, TruthJson(f));
    }
    const int rc = sqlite3_step(statement);
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    if (rc != SQLITE_DONE) {
      Status failed = Internal(std::string("sqlite: ") + sqlite3_errmsg(db_));
      (void)Exec("ROLLBACK");
      return failed;
    }
  }
  return Exec("COMMIT");
}

void SqliteLogSink::Maintain(WallTime now) {
  for (const char* table : {"predictions", "feedback"}) {
    std::string sql;
    if (retention_.max_age.count() > 0) {
      const int64_t cutoff = UnixMillis(now) - retention_.max_age.count() * 1000;
      sql += "DELETE FROM " + std::string(table) + " WHERE time_ms < " + std::to_string(cutoff) + ";";
    }
    if (retention_.max_rows > 0) {
      sql += "DELETE FROM " + std::string(table) + " WHERE rowid <= (SELECT MAX(rowid) FROM " + table + ") - " +
             std::to_string(retention_.max_rows) + ";";
    }
    if (sql.empty()) continue;
    if (Status s = Exec(sql.c_str()); !s.ok()) spdlog::warn("prediction log retention: {}", s.message());
  }
}

}  // namespace protoserve
