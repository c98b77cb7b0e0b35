#include "cli/bench/load_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace protoserve::cli::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Completes each call after `service_time`, on its own thread (like a real
// transport) or inline inside Start(); every `fail_every`-th call fails.
class FakeTransport final : public Transport {
 public:
  std::chrono::nanoseconds service_time{0};
  bool inline_completion = false;
  int fail_every = 0;

  std::atomic<uint64_t> started{0};
  std::atomic<int> in_flight{0}, max_in_flight{0};
  std::atomic<bool> slot_reused_while_busy{false};
  bool opened = false, closed = false;

  void Open(int slots, CallSink* sink) override {
    sink_ = sink;
    busy_ = std::vector<std::atomic<bool>>(slots);
    opened = true;
    if (!inline_completion) worker_ = std::thread([this] { Work(); });
  }

  void Start(int slot) override {
    if (busy_[slot].exchange(true)) slot_reused_while_busy = true;
    const int now_in_flight = ++in_flight;
    int seen = max_in_flight.load();
    while (now_in_flight > seen && !max_in_flight.compare_exchange_weak(seen, now_in_flight)) {}
    const uint64_t n = ++started;
    const bool fail = fail_every > 0 && n % fail_every == 0;
    if (inline_completion) return Complete(slot, fail);
    std::lock_guard lock(mu_);
    queue_.push_back({slot, fail, Clock::now() + service_time});
    cv_.notify_one();
  }

  void Close() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    if (worker_.joinable()) worker_.join();
    closed = true;
  }

 private:
  struct Call {
    int slot;
    bool fail;
    Clock::time_point due;
  };

  void Complete(int slot, bool fail) {
    busy_[slot] = false;
    --in_flight;
    CallResult result;
    result.request_bytes = 10;
    result.response_bytes = fail ? 0 : 20;
    if (fail) result.error = "UNAVAILABLE";
    sink_->OnCallDone(slot, std::move(result));
  }

  void Work() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      const Call call = queue_.front();
      queue_.pop_front();
      lock.unlock();
      std::this_thread::sleep_until(call.due);
      Complete(call.slot, call.fail);
      lock.lock();
    }
  }

  CallSink* sink_ = nullptr;
  std::vector<std::atomic<bool>> busy_;
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Call> queue_;
  bool stop_ = false;
};

RunPlan Requests(uint64_t n, int concurrency, double rate = 0) {
  RunPlan plan;
  plan.requests = n;
  plan.concurrency = concurrency;
  plan.rate = rate;
  return plan;
}

TEST(LoadRunnerTest, ClosedLoopRecordsExactlyTheRequestedCount) {
  FakeTransport transport;
  const RunResult r = LoadRunner(&transport, Requests(500, 4)).Run();
  EXPECT_TRUE(transport.opened);
  EXPECT_TRUE(transport.closed);
  EXPECT_EQ(r.requests, 500u);
  EXPECT_EQ(r.successes, 500u);
  EXPECT_EQ(r.latency.count, 500u);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(transport.started.load(), 500u);
  EXPECT_DOUBLE_EQ(r.request_bytes, 10);
  EXPECT_DOUBLE_EQ(r.response_bytes, 20);
  EXPECT_GT(r.qps, 0);
  EXPECT_LE(r.latency.p50, r.latency.p99);
  EXPECT_LE(r.latency.p99, r.latency.max);
  EXPECT_FALSE(transport.slot_reused_while_busy);
  EXPECT_LE(transport.max_in_flight.load(), 4);
}

TEST(LoadRunnerTest, InlineCompletionsDoNotRecurse) {
  // 200k calls completed inside Start(): naive chaining would overflow the stack.
  FakeTransport transport;
  transport.inline_completion = true;
  const RunResult r = LoadRunner(&transport, Requests(200000, 3)).Run();
  EXPECT_EQ(r.requests, 200000u);
  EXPECT_EQ(r.successes, 200000u);
}

TEST(LoadRunnerTest, ErrorsAreCountedByNameAndHaveNoLatency) {
  FakeTransport transport;
  transport.fail_every = 10;
  const RunResult r = LoadRunner(&transport, Requests(500, 1)).Run();
  EXPECT_EQ(r.requests, 500u);
  EXPECT_EQ(r.successes, 450u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors.at("UNAVAILABLE"), 50u);
  EXPECT_EQ(r.latency.count, 450u);
  EXPECT_DOUBLE_EQ(r.response_bytes, 20);  // per successful call
}

TEST(LoadRunnerTest, WarmupIsSentButNotRecorded) {
  FakeTransport transport;
  RunPlan plan = Requests(100, 2);
  plan.warmup = 30ms;
  const RunResult r = LoadRunner(&transport, plan).Run();
  EXPECT_EQ(r.requests, 100u);
  EXPECT_GT(transport.started.load(), 100u);
}

TEST(LoadRunnerTest, DurationBoundsTheClosedLoop) {
  FakeTransport transport;
  transport.service_time = 1ms;
  RunPlan plan;
  plan.concurrency = 2;
  plan.duration = 100ms;
  const RunResult r = LoadRunner(&transport, plan).Run();
  EXPECT_GT(r.requests, 0u);
  EXPECT_LT(r.requests, 250u);  // at most 2 slots x 100 ms / 1 ms, plus the last in flight
  EXPECT_GT(r.duration_s, 0.09);
}

TEST(LoadRunnerTest, OpenLoopFollowsTheSchedule) {
  FakeTransport transport;
  const RunResult r = LoadRunner(&transport, Requests(200, 8, 2000)).Run();
  EXPECT_EQ(r.requests, 200u);
  // Arrival 199 is due 99.5 ms after the first: the run cannot be shorter.
  EXPECT_GE(r.duration_s, 0.0995);
  EXPECT_LE(transport.max_in_flight.load(), 8);
}

TEST(LoadRunnerTest, OpenLoopLatencyCountsFromTheIntendedSendTime) {
  // One slot, 5 ms per call, one arrival per ms: calls queue for the slot.
  // Call k is due at k ms but ends no earlier than (k + 1) * 5 ms, so its
  // latency is at least 4k + 5 ms (coordinated omission would report ~5 ms).
  FakeTransport transport;
  transport.service_time = 5ms;
  const RunResult r = LoadRunner(&transport, Requests(20, 1, 1000)).Run();
  EXPECT_EQ(r.requests, 20u);
  EXPECT_GE(r.latency.max, 4 * 19 + 5);
  EXPECT_GE(r.latency.p50, 4 * 9 + 5);
  EXPECT_GE(r.send_lag_max_ms, 19 * 5 - 19);
}

}  // namespace
}  // namespace protoserve::cli::bench
