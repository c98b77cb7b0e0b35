#include "cli/bench/open_loop_schedule.h"

#include <cmath>
#include <stdexcept>

namespace protoserve::cli::bench {

OpenLoopSchedule::OpenLoopSchedule(Clock::time_point start, double rate_per_sec)
    : start_(start), rate_(rate_per_sec) {
  if (!(rate_per_sec > 0)) throw std::invalid_argument("open-loop rate must be > 0");
}

OpenLoopSchedule::Clock::time_point OpenLoopSchedule::IntendedTime(uint64_t index) const {
  const double ns = static_cast<double>(index) * 1e9 / rate_;
  return start_ + std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
}

OpenLoopSchedule::Arrival OpenLoopSchedule::Claim() {
  const uint64_t index = next_.fetch_add(1, std::memory_order_relaxed);
  return {index, IntendedTime(index)};
}

uint64_t OpenLoopSchedule::Backlog(Clock::time_point now) const {
  if (now < start_) return 0;
  const double elapsed_s = std::chrono::duration<double>(now - start_).count();
  // Arrivals 0..due-1 are due by `now`; the guard handles rounding at the edge.
  auto due = static_cast<uint64_t>(std::floor(elapsed_s * rate_)) + 1;
  while (due > 0 && IntendedTime(due - 1) > now) --due;
  while (IntendedTime(due) <= now) ++due;
  const uint64_t claimed = next_.load(std::memory_order_relaxed);
  return due > claimed ? due - claimed : 0;
}

}  // namespace protoserve::cli::bench
