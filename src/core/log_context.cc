#include "core/log_context.h"

namespace protoserve {

namespace {
thread_local LogContext current;
}  // namespace

const LogContext& CurrentLogContext() { return current; }

ScopedLogContext::ScopedLogContext(std::string_view request_id, std::string_view trace_id) : previous_(current) {
  current = LogContext{request_id, trace_id};
}

ScopedLogContext::~ScopedLogContext() { current = previous_; }

std::string_view TraceIdOf(std::string_view traceparent) {
  // "00-" + 32 hex + "-" ...
  if (traceparent.size() < 36 || traceparent[2] != '-' || traceparent[35] != '-') return {};
  return traceparent.substr(3, 32);
}

}  // namespace protoserve
