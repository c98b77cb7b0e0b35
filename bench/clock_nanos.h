// ClockNanos: a POSIX clock's reading in nanoseconds, for the bench programs
// (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC).
#pragma once

#include <ctime>

namespace protoserve::bench {

inline double ClockNanos(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

}  // namespace protoserve::bench
