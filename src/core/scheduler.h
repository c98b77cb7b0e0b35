// Scheduler: what a model version queues requests on, and the clock it uses.
//
// DynamicBatcher is the implementation; the interface is the seam for
// others (a sequence batcher, an ensemble step) and for tests. The clock is
// injected (BatcherOptions::clock) so the scheduler's tests advance time
// instead of sleeping: queue delays, deadlines and measured execution times
// all read it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "core/status.h"

namespace protoserve {

using Clock = std::chrono::steady_clock;

class SchedulerClock {
 public:
  virtual ~SchedulerClock() = default;
  virtual Clock::time_point Now() const = 0;
  // Blocks on `cv` (whose mutex `lock` holds) until notified or until
  // `deadline` on this clock. May return early: callers re-check.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         Clock::time_point deadline) const = 0;
};

// std::chrono::steady_clock.
const SchedulerClock& SteadySchedulerClock();

// Where one request's time went inside the scheduler.
struct BatchTiming {
  Clock::duration queue{};          // enqueue -> batch start
  Clock::duration compute_input{};  // gathering the batch's inputs (concatenation)
  Clock::duration compute{};        // execution of the whole batch by the backend
  int64_t batch_rows = 0;     // rows in the batch this request ran in
};

struct PendingRequest;
class RequestTrace;  // core/tracer.h

// One executed batch that holds at least one traced request: told to the
// version's observers (RequestObserver::OnBatch) on the executing thread,
// after the backend returned and before any request of the batch completes.
struct BatchEvent {
  struct Member {
    RequestTrace* trace;          // never null
    Clock::time_point enqueued;   // when it was queued
  };
  std::vector<Member> traced;     // the batch's traced requests, in batch order
  size_t requests = 0;            // requests in the batch, traced or not
  int64_t rows = 0;
  int instance = -1;              // instance thread index; -1: ran inline on the caller's thread
  Clock::time_point start{};      // batch formed (inputs gathered from here)
  Clock::time_point end{};        // the backend returned
  bool ok = true;                 // the batch executed without error
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Starts the execution threads (warm-up included); fails if one fails.
  virtual Status Start() = 0;
  // Takes ownership on success; RESOURCE_EXHAUSTED when full, UNAVAILABLE when stopped.
  virtual Status Enqueue(std::unique_ptr<PendingRequest> request) = 0;
  // Stops accepting, finishes what is queued, joins the threads.
  virtual void Shutdown() = 0;
  virtual size_t queue_depth() const = 0;
};

}  // namespace protoserve
