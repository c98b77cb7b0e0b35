// What the prediction log and the rollout state do alike with their SQLite
// file (often the same file): open it in WAL mode, run a statement.
#pragma once

#include <sqlite3.h>

#include <string>

#include "core/status.h"

namespace protoserve {

// Opens (creating) `path` for one thread's use, with a 5 s busy timeout, WAL
// journal (readers never block the writer) and synchronous=NORMAL (a crash
// of the process, even SIGKILL, loses nothing committed; a power loss may
// lose the last transactions, never corrupt the file). INVALID_ARGUMENT
// "<what> <path>: <reason>" when it cannot.
StatusOr<sqlite3*> OpenWalDatabase(const std::string& path, const std::string& what);

// Runs `sql` (no results). INTERNAL "<what>: <sqlite's message>".
Status ExecSql(sqlite3* db, const char* sql, const std::string& what);

}  // namespace protoserve
