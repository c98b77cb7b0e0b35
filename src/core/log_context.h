// LogContext: which request the log lines written in its scope are about.
//
// A line about a request carries its request id and trace id as fields of
// their own (the JSON log format, telemetry/log_format.h) or as
// `request_id=... trace_id=...` after the message (the text format), so
// logs join up with traces. The ids live in a thread-local for the scope of
// a ScopedLogContext, read by the formatter on the same thread (spdlog
// formats synchronously).
//
//   { ScopedLogContext ids(request_id, trace_id); spdlog::info("..."); }
#pragma once

#include <string_view>

namespace protoserve {

struct LogContext {
  std::string_view request_id;
  std::string_view trace_id;  // 32 hex digits, or empty
};

// The calling thread's current context (empty ids outside any scope).
const LogContext& CurrentLogContext();

class ScopedLogContext {
 public:
  // The views must outlive the scope.
  ScopedLogContext(std::string_view request_id, std::string_view trace_id);
  ~ScopedLogContext();
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  const LogContext previous_;
};

// The trace id (32 hex digits) of a traceparent/traceresponse value, or "".
std::string_view TraceIdOf(std::string_view traceparent);

}  // namespace protoserve
