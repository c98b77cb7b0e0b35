// Test support: a scheduler clock that moves only when the test says so.
//
// WaitUntil() returns after at most 1 ms of real time (or when notified),
// and the scheduler re-checks its condition against Now(): a wait for a
// queue delay therefore ends exactly when the test has advanced the clock
// past it, never because real time went by.
#pragma once

#include <mutex>

#include "core/scheduler.h"

namespace protoserve::testing {

class FakeClock final : public SchedulerClock {
 public:
  Clock::time_point Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 Clock::time_point deadline) const override {
    if (Now() >= deadline) return;
    cv.wait_for(lock, std::chrono::milliseconds(1));
  }
  void Advance(Clock::duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  Clock::time_point now_ = Clock::time_point() + std::chrono::hours(1);
};

}  // namespace protoserve::testing
