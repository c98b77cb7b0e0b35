// OpenLoopSchedule: the fixed arrival times of an open-loop (constant rate) run.
//
// Arrival i is intended at start + i / rate, computed from i (not by adding
// intervals), so the schedule never drifts. Senders claim arrivals in order
// with Claim(); an arrival is never skipped and never re-timed when the sender
// is late: a late sender gets arrivals whose intended time has already passed
// and sends them at once (catch-up), and the latency of each is measured from
// its intended time. That is what keeps coordinated omission from hiding
// queueing: a stalled server (or a client out of free workers) shows up as
// latency, not as fewer, later requests (wrk2 and perf_analyzer do the same).
//
// Thread-safety: Claim() and Backlog() may be called from any thread; the
// schedule is otherwise immutable. Time is passed in, so tests need no clock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace protoserve::cli::bench {

class OpenLoopSchedule {
 public:
  using Clock = std::chrono::steady_clock;

  // `rate_per_sec` must be > 0.
  OpenLoopSchedule(Clock::time_point start, double rate_per_sec);

  // Intended time of arrival `index` (0-based).
  Clock::time_point IntendedTime(uint64_t index) const;

  struct Arrival {
    uint64_t index = 0;
    Clock::time_point intended;
  };
  // Claims the next unclaimed arrival; each index is handed out exactly once.
  Arrival Claim();

  // Arrivals due at or before `now` that nobody has claimed yet: 0 when the
  // senders keep up, growing while they fall behind.
  uint64_t Backlog(Clock::time_point now) const;

  double rate() const { return rate_; }

 private:
  const Clock::time_point start_;
  const double rate_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace protoserve::cli::bench
