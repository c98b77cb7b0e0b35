// SqliteLogSink: the prediction log in one SQLite file (WAL mode), the
// embedded default (--prediction-log=PATH.sqlite).
//
// Tables (one row per entry; times are Unix milliseconds, UTC):
//   predictions(request_id, time_ms, model, version, api, routing_key, output JSON, latency_us)
//   feedback(request_id, time_ms, model, version, truth JSON)
// Each Write() is one transaction. Retention (Maintain) deletes rows older
// than `max_age` and the oldest rows beyond `max_rows`, per table. WAL mode
// lets readers (sqlite3 CLI, python, a dashboard) read while the server writes.
//
// Thread-safety: used by one writer thread (PredictionLogWriter) only.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/prediction_log.h"

struct sqlite3;
struct sqlite3_stmt;

namespace protoserve {

struct SqliteRetention {
  std::chrono::seconds max_age{7 * 24 * 3600};  // 0: keep regardless of age
  int64_t max_rows = 10'000'000;                // per table; 0: no row limit
};

class SqliteLogSink final : public LogSink {
 public:
  // Opens (creating if needed) `path` and its tables; an error names the path.
  static StatusOr<std::unique_ptr<LogSink>> Open(const std::string& path, SqliteRetention retention);
  ~SqliteLogSink() override;

  const char* name() const override { return "sqlite"; }
  Status Write(std::span<const LogEntry> batch) override;
  void Maintain(WallTime now) override;

 private:
  SqliteLogSink(sqlite3* db, SqliteRetention retention) : db_(db), retention_(retention) {}
  Status Exec(const char* sql);
  Status Prepare();

  sqlite3* const db_;
  const SqliteRetention retention_;
  sqlite3_stmt* insert_prediction_ = nullptr;
  sqlite3_stmt* insert_feedback_ = nullptr;
};

}  // namespace protoserve
