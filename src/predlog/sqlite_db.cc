#include "predlog/sqlite_db.h"

namespace protoserve {

StatusOr<sqlite3*> OpenWalDatabase(const std::string& path, const std::string& what) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return InvalidArgument(what + " " + path + ": " + message);
  }
  sqlite3_busy_timeout(db, 5000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"}) {
    if (Status s = ExecSql(db, pragma, what + " " + path); !s.ok()) {
      sqlite3_close(db);
      return InvalidArgument(s.message());
    }
  }
  return db;
}

Status ExecSql(sqlite3* db, const char* sql, const std::string& what) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) == SQLITE_OK) return Status::Ok();
  std::string message = error ? error : sqlite3_errmsg(db);
  sqlite3_free(error);
  return Internal(what + ": " + message);
}

}  // namespace protoserve
