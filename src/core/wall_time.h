// Wall-clock time as logs and exported records write it. (Scheduling and
// latency use the steady Clock of scheduler.h; these are only for stamps a
// person or another system reads.)
#pragma once

#include <chrono>
#include <string>

namespace protoserve {

using WallTime = std::chrono::system_clock::time_point;

// RFC 3339 UTC with microseconds ("2026-12-05T13:45:00.123456Z").
std::string Rfc3339(WallTime time);

}  // namespace protoserve
