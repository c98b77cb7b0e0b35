// The server's log line formats (spdlog), chosen by --log-format:
//   text  2026-01-02T03:04:05.678 info message[ request_id=... trace_id=...]
//   json  {"time":"2026-01-02T03:04:05.678901Z","level":"info","message":"...",
//          "request_id":"...","trace_id":"..."}   one object per line
// Lines written inside a ScopedLogContext (core/log_context.h) carry its
// request and trace ids; the JSON is written by nlohmann-json (escaping
// included), never by hand.
#pragma once

#include <memory>
#include <string_view>

#include <spdlog/formatter.h>

#include "core/status.h"

namespace protoserve {

enum class LogFormat { kText, kJson };

StatusOr<LogFormat> ParseLogFormat(std::string_view name);  // "text" | "json"

std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format);

// Sets the default logger's formatter.
void SetLogFormat(LogFormat format);

}  // namespace protoserve
