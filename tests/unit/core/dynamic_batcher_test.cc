// DynamicBatcher on an injected clock: no test orders events by sleeping.
// Executions are held by a gate (tests/support) while the test arranges the
// queue, and queue delays, deadlines and execution times are the fake
// clock's, which only the test advances. The same tests run under TSan
// (make test-tsan) and under ctest -j 2 load without any timing bound.
#include "core/dynamic_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <mutex>
#include <thread>

#include "support/fake_backend.h"
#include "support/fake_clock.h"

namespace protoserve {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::Gate;

// Executor that echoes input 0 (FP32 [rows, 1]) times two and records batch
// sizes. A batch whose first value is `hold_value` passes `gate` first; every
// execution advances `clock` by `compute` (its measured execution time).
struct Recorder {
  std::mutex mu;
  std::vector<int64_t> batch_rows;
  std::atomic<bool> fail{false};
  Gate gate;
  float hold_value = -1;
  FakeClock* clock = nullptr;
  Clock::duration compute{};

  DynamicBatcher::Executor executor() {
    return [this](const std::vector<Tensor>& in, std::vector<Tensor>* out) -> Status {
      if (in[0].data_as<float>()[0] == hold_value) gate.Pass();
      if (clock) clock->Advance(compute);
      if (fail) return Internal("boom");
      {
        std::lock_guard lock(mu);
        batch_rows.push_back(in[0].shape()[0]);
      }
      Tensor t = Tensor::Allocate(DataType::kFp32, in[0].shape(), in[0].byte_size());
      for (int64_t i = 0; i < in[0].element_count(); ++i) {
        reinterpret_cast<float*>(t.mutable_data())[i] = in[0].data_as<float>()[i] * 2;
      }
      out->push_back(t);
      return Status::Ok();
    };
  }
  // Holds executions of batches starting with `value` until Release().
  void Hold(float value) {
    hold_value = value;
    gate.Close();
  }
  void Release() { gate.Open(); }
};

struct Result {
  Status status;
  std::vector<float> values;
  int64_t batch_rows = 0;
};

std::unique_ptr<PendingRequest> Request(std::vector<float> values, std::promise<Result>* promise,
                                        Clock::time_point deadline = Clock::time_point::max()) {
  auto r = std::make_unique<PendingRequest>();
  const int64_t rows = static_cast<int64_t>(values.size());
  std::string bytes(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  r->inputs.push_back(Tensor::FromString(DataType::kFp32, {rows, 1}, std::move(bytes)));
  r->rows = rows;
  r->deadline = deadline;
  r->done = [promise](Status s, std::vector<Tensor> out, const BatchTiming& timing) {
    Result result{s, {}, timing.batch_rows};
    if (s.ok()) result.values.assign(out[0].data_as<float>(), out[0].data_as<float>() + out[0].element_count());
    promise->set_value(result);
  };
  return r;
}

BatcherOptions Batching(int64_t max_batch, Clock::duration delay, int instances = 1, const SchedulerClock* clock = nullptr) {
  BatcherOptions o;
  o.instance_count = instances;
  o.max_batch_size = max_batch;
  o.dynamic_batching = true;
  o.max_queue_delay = delay;
  o.inline_when_idle = false;  // queue-path behaviour; inline execution has its own tests
  o.clock = clock;
  return o;
}

// The future is still pending after the other threads had a chance to run it
// (a negative check: what must not happen, given 20 ms of real time).
template <typename T>
bool StillPending(std::future<T>& f) {
  return f.wait_for(20ms) == std::future_status::timeout;
}

TEST(DynamicBatcherTest, LoneRequestRunsWithoutWaitingForCompany) {
  FakeClock clock;
  Recorder rec;
  DynamicBatcher batcher(Batching(8, 2s, 1, &clock), rec.executor());
  ASSERT_TRUE(batcher.Start().ok());
  std::promise<Result> p;
  const auto start = clock.Now();
  ASSERT_TRUE(batcher.Enqueue(Request({1.5f}, &p)).ok());
  Result r = p.get_future().get();  // answered though the clock never moved: no 2 s wait
  EXPECT_EQ(clock.Now(), start);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.values, std::vector<float>{3.0f});
}

TEST(DynamicBatcherTest, IdleInstanceRunsRequestOnCallerThread) {
  Recorder rec;
  BatcherOptions options = Batching(8, 2s);
  options.inline_when_idle = true;
  std::thread::id executed_on;
  DynamicBatcher batcher(options, [&](const std::vector<Tensor>& in, std::vector<Tensor>* out) {
    executed_on = std::this_thread::get_id();
    return rec.executor()(in, out);
  });
  ASSERT_TRUE(batcher.Start().ok());
  std::promise<Result> p;
  ASSERT_TRUE(batcher.Enqueue(Request({2.0f}, &p)).ok());
  EXPECT_EQ(executed_on, std::this_thread::get_id());  // done before Enqueue returned
  EXPECT_EQ(p.get_future().get().values, std::vector<float>{4.0f});
}

TEST(DynamicBatcherTest, InlineExecutionNeverExceedsInstanceCount) {
  Recorder rec;
  BatcherOptions options = Batching(1, 0s, 1);
  options.inline_when_idle = true;
  std::atomic<int> running{0}, peak{0};
  DynamicBatcher batcher(options, [&](const std::vector<Tensor>& in, std::vector<Tensor>* out) {
    const int now = ++running;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    for (int i = 0; i < 200; ++i) std::this_thread::yield();  // widen the window for overlap
    --running;
    return rec.executor()(in, out);
  });
  ASSERT_TRUE(batcher.Start().ok());
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        std::promise<Result> p;
        ASSERT_TRUE(batcher.Enqueue(Request({1}, &p)).ok());
        ok += p.get_future().get().status.ok();
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok.load(), 60);
  EXPECT_EQ(peak.load(), 1);  // one instance: never two batches at once
}

// A model whose executions take long runs on instance threads: inline, it
// would hold the caller's (gRPC or HTTP I/O) thread.
TEST(DynamicBatcherTest, SlowModelIsNotRunInline) {
  FakeClock clock;
  BatcherOptions options = Batching(8, 0s, 1, &clock);
  options.inline_when_idle = true;
  options.inline_max_compute = 1ms;
  std::vector<std::thread::id> threads;  // one caller at a time: no lock needed
  DynamicBatcher batcher(options, [&](const std::vector<Tensor>& in, std::vector<Tensor>* out) {
    threads.push_back(std::this_thread::get_id());
    clock.Advance(20ms);  // the first execution alone moves the average past 1 ms
    out->push_back(in[0]);
    return Status::Ok();
  });
  ASSERT_TRUE(batcher.Start().ok());
  for (float v : {1.0f, 2.0f}) {
    std::promise<Result> p;
    ASSERT_TRUE(batcher.Enqueue(Request({v}, &p)).ok());
    EXPECT_EQ(p.get_future().get().values, std::vector<float>{v});
  }
  ASSERT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads[0], std::this_thread::get_id());  // nothing known yet: inline
  EXPECT_NE(threads[1], std::this_thread::get_id());  // known slow: an instance thread
}

// With two instances, a caller arriving while one instance executes takes the
// free one on its own thread when the model never waits for company; with a
// max_queue_delay it queues instead, and the thread that finishes the running
// batch executes it next (no instance thread is woken).
TEST(DynamicBatcherTest, FreeSecondInstanceRunsInlineOnlyWithoutQueueDelay) {
  for (const auto delay : {Clock::duration::zero(), Clock::duration(std::chrono::milliseconds(1))}) {
    FakeClock clock;
    BatcherOptions options = Batching(8, delay, 2, &clock);
    options.inline_when_idle = true;
    Recorder rec;
    rec.Hold(1);
    std::mutex mu;
    std::vector<std::thread::id> threads;  // executing thread per call, in order
    DynamicBatcher batcher(options, [&](const std::vector<Tensor>& in, std::vector<Tensor>* out) {
      {
        std::lock_guard lock(mu);
        threads.push_back(std::this_thread::get_id());
      }
      return rec.executor()(in, out);
    });
    ASSERT_TRUE(batcher.Start().ok());
    std::promise<Result> p1, p2;
    std::thread::id holder_id;
    std::thread holder([&] { ASSERT_TRUE(batcher.Enqueue(Request({1}, &p1)).ok()); });  // inline: nothing executing
    holder_id = holder.get_id();
    ASSERT_TRUE(rec.gate.AwaitEntered(1));
    ASSERT_TRUE(batcher.Enqueue(Request({2}, &p2)).ok());
    auto second = p2.get_future();
    if (delay == Clock::duration::zero()) {
      EXPECT_EQ(second.get().values, std::vector<float>{4});  // not stuck behind the first
      rec.Release();
    } else {
      clock.Advance(2 * delay);  // no timer is involved: it waits for the running batch
      EXPECT_EQ(second.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
      rec.Release();
      EXPECT_EQ(second.get().values, std::vector<float>{4});
    }
    holder.join();
    EXPECT_EQ(p1.get_future().get().values, std::vector<float>{2});
    ASSERT_EQ(threads.size(), 2u);
    if (delay == Clock::duration::zero()) {
      EXPECT_EQ(threads[1], std::this_thread::get_id()) << "delay 0: ran inline on the caller";
    } else {
      EXPECT_EQ(threads[1], holder_id) << "with a delay: executed next by the thread that ran the first batch";
    }
  }
}

// Requests that queue behind a running batch are executed, as one batch, by
// the thread that ran it, after it completed its own call.
TEST(DynamicBatcherTest, FinishingThreadExecutesWhatQueuedMeanwhileAsOneBatch) {
  Recorder rec;
  rec.Hold(1);
  BatcherOptions options = Batching(8, 500us, 1);
  options.inline_when_idle = true;
  // The held first execution lasts as long as this test takes to queue the
  // others (real time): on a loaded machine over the default 1 ms, which
  // made the model "slow" and handed the queue to an instance thread (1 run
  // in 5). Whether the model counts as quick is not what this test is about.
  options.inline_max_compute = std::chrono::hours(1);
  std::mutex mu;
  std::vector<std::pair<std::thread::id, int64_t>> executions;  // thread, rows
  DynamicBatcher batcher(options, [&](const std::vector<Tensor>& in, std::vector<Tensor>* out) {
    {
      std::lock_guard lock(mu);
      executions.push_back({std::this_thread::get_id(), in[0].shape()[0]});
    }
    return rec.executor()(in, out);
  });
  ASSERT_TRUE(batcher.Start().ok());
  std::vector<std::promise<Result>> promises(4);
  std::thread first([&] { ASSERT_TRUE(batcher.Enqueue(Request({1}, &promises[0])).ok()); });
  ASSERT_TRUE(rec.gate.AwaitEntered(1));
  for (int i = 1; i < 4; ++i) ASSERT_TRUE(batcher.Enqueue(Request({static_cast<float>(i + 1)}, &promises[i])).ok());
  rec.Release();
  first.join();  // Enqueue returned only after executing the queued batch too
  for (int i = 0; i < 4; ++i) EXPECT_EQ(promises[i].get_future().get().values, std::vector<float>{2.0f * (i + 1)});
  ASSERT_EQ(executions.size(), 2u);
  EXPECT_EQ(executions[1].first, executions[0].first);
  EXPECT_EQ(executions[1].second, 3);
}

// A caller's thread that ran the first execution of a model that proves slow
// does not go on with the queue: an instance thread does (the caller's thread
// serves other calls).
TEST(DynamicBatcherTest, CallerThreadStopsDrainingOnceTheModelProvesSlow) {
  FakeClock clock;
  BatcherOptions options = Batching(8, 0s, 1, &clock);
  options.inline_when_idle = true;
  options.inline_max_compute = 1ms;
  Recorder rec;
  rec.clock = &clock;
  rec.compute = 20ms;
  rec.Hold(1);
  std::mutex mu;
  std::vector<std::thread::id> threads;
  DynamicBatcher batcher(options, [&](const std::vector<Tensor>& in, std::vector<Tensor>* out) {
    {
      std::lock_guard lock(mu);
      threads.push_back(std::this_thread::get_id());
    }
    return rec.executor()(in, out);
  });
  ASSERT_TRUE(batcher.Start().ok());
  std::promise<Result> p1, p2;
  std::thread caller([&] { ASSERT_TRUE(batcher.Enqueue(Request({1}, &p1)).ok()); });  // nothing known: inline
  const std::thread::id caller_id = caller.get_id();
  ASSERT_TRUE(rec.gate.AwaitEntered(1));
  ASSERT_TRUE(batcher.Enqueue(Request({2}, &p2)).ok());  // queues behind it
  rec.Release();
  caller.join();
  EXPECT_EQ(p2.get_future().get().values, std::vector<float>{4});
  ASSERT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads[0], caller_id);
  EXPECT_NE(threads[1], caller_id) << "20 ms per execution: an instance thread takes the queue";
}

TEST(DynamicBatcherTest, QueuedRequestsFormOneBatchAndSplitBack) {
  Recorder rec;
  rec.Hold(0);  // the first batch keeps the instance busy while others queue
  DynamicBatcher batcher(Batching(8, 0s), rec.executor());
  ASSERT_TRUE(batcher.Start().ok());
  std::vector<std::promise<Result>> promises(5);
  ASSERT_TRUE(batcher.Enqueue(Request({0}, &promises[0])).ok());
  ASSERT_TRUE(rec.gate.AwaitEntered(1));
  ASSERT_TRUE(batcher.Enqueue(Request({1, 2}, &promises[1])).ok());
  ASSERT_TRUE(batcher.Enqueue(Request({3}, &promises[2])).ok());
  ASSERT_TRUE(batcher.Enqueue(Request({4, 5, 6}, &promises[3])).ok());
  ASSERT_TRUE(batcher.Enqueue(Request({7, 8, 9}, &promises[4])).ok());  // would make 9 > 8 rows
  rec.Release();
  std::vector<Result> results;
  for (auto& p : promises) results.push_back(p.get_future().get());
  EXPECT_EQ(results[1].values, (std::vector<float>{2, 4}));
  EXPECT_EQ(results[2].values, (std::vector<float>{6}));
  EXPECT_EQ(results[3].values, (std::vector<float>{8, 10, 12}));
  EXPECT_EQ(results[4].values, (std::vector<float>{14, 16, 18}));
  EXPECT_EQ(results[1].batch_rows, 6);
  EXPECT_EQ(results[4].batch_rows, 3);
  EXPECT_EQ(rec.batch_rows, (std::vector<int64_t>{1, 6, 3}));
}

TEST(DynamicBatcherTest, WaitsUpToDelayWhileOtherInstancesAreBusy) {
  FakeClock clock;
  Recorder rec;
  rec.Hold(1);
  DynamicBatcher batcher(Batching(4, 100ms, 2, &clock), rec.executor());
  ASSERT_TRUE(batcher.Start().ok());
  std::promise<Result> busy, a, b;
  ASSERT_TRUE(batcher.Enqueue(Request({1}, &busy)).ok());  // occupies one instance
  ASSERT_TRUE(rec.gate.AwaitEntered(1));
  ASSERT_TRUE(batcher.Enqueue(Request({2}, &a)).ok());
  auto fa = a.get_future();
  EXPECT_TRUE(StillPending(fa));  // the free instance waits for company
  ASSERT_TRUE(batcher.Enqueue(Request({3}, &b)).ok());
  clock.Advance(99ms);
  EXPECT_TRUE(StillPending(fa));  // still below target and within the delay
  clock.Advance(1ms);             // the delay is over: a and b run together
  Result ra = fa.get();
  Result rb = b.get_future().get();
  EXPECT_EQ(ra.batch_rows, 2);  // a waited for b
  EXPECT_EQ(rb.values, std::vector<float>{6});
  rec.Release();
  busy.get_future().get();
}

TEST(DynamicBatcherTest, PreferredSizeStopsTheWait) {
  FakeClock clock;
  Recorder rec;
  rec.Hold(1);
  BatcherOptions options = Batching(8, 5s, 2, &clock);
  options.preferred_batch_sizes = {2};
  DynamicBatcher batcher(options, rec.executor());
  ASSERT_TRUE(batcher.Start().ok());
  std::promise<Result> busy, a, b;
  ASSERT_TRUE(batcher.Enqueue(Request({1}, &busy)).ok());
  ASSERT_TRUE(rec.gate.AwaitEntered(1));
  const auto start = clock.Now();
  ASSERT_TRUE(batcher.Enqueue(Request({2}, &a)).ok());
  ASSERT_TRUE(batcher.Enqueue(Request({3}, &b)).ok());
  EXPECT_EQ(a.get_future().get().batch_rows, 2);
  EXPECT_EQ(clock.Now(), start);  // no part of the 5 s delay was needed
  rec.Release();
  busy.get_future().get();
  b.get_future().get();
}

TEST(DynamicBatcherTest, FullQueueIsRefusedAtOnce) {
  Recorder rec;
  rec.Hold(1);
  BatcherOptions options = Batching(1, 0s);
  options.max_queue_size = 2;
  DynamicBatcher batcher(options, rec.executor());
  ASSERT_TRUE(batcher.Start().ok());
  std::vector<std::promise<Result>> p(3);
  ASSERT_TRUE(batcher.Enqueue(Request({1}, &p[0])).ok());
  ASSERT_TRUE(rec.gate.AwaitEntered(1));  // first one executing, queue empty
  ASSERT_TRUE(batcher.Enqueue(Request({2}, &p[1])).ok());
  ASSERT_TRUE(batcher.Enqueue(Request({3}, &p[2])).ok());
  std::promise<Result> extra;
  Status s = batcher.Enqueue(Request({4}, &extra));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  rec.Release();
  for (auto& x : p) EXPECT_TRUE(x.get_future().get().status.ok());
}

TEST(DynamicBatcherTest, ExpiredRequestsAreDroppedBeforeExecution) {
  FakeClock clock;
  Recorder rec;
  rec.Hold(1);
  DynamicBatcher batcher(Batching(4, 0s, 1, &clock), rec.executor());
  ASSERT_TRUE(batcher.Start().ok());
  std::promise<Result> first, expired, cancelled_p;
  ASSERT_TRUE(batcher.Enqueue(Request({1}, &first)).ok());
  ASSERT_TRUE(rec.gate.AwaitEntered(1));
  ASSERT_TRUE(batcher.Enqueue(Request({2}, &expired, clock.Now() + 30ms)).ok());
  auto cancelled = Request({3}, &cancelled_p);
  cancelled->is_cancelled = [] { return true; };
  ASSERT_TRUE(batcher.Enqueue(std::move(cancelled)).ok());
  clock.Advance(30ms);  // the deadline passes while it is queued
  rec.Release();
  EXPECT_EQ(expired.get_future().get().status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(cancelled_p.get_future().get().status.code(), StatusCode::kCancelled);
  EXPECT_TRUE(first.get_future().get().status.ok());
  EXPECT_EQ(rec.batch_rows, std::vector<int64_t>{1});  // neither was executed
}

TEST(DynamicBatcherTest, ExecutorErrorReachesEveryRequestOfTheBatch) {
  Recorder rec;
  rec.fail = true;
  DynamicBatcher batcher(Batching(4, 0s), rec.executor());
  ASSERT_TRUE(batcher.Start().ok());
  std::promise<Result> p;
  ASSERT_TRUE(batcher.Enqueue(Request({1}, &p)).ok());
  EXPECT_EQ(p.get_future().get().status.code(), StatusCode::kInternal);
}

TEST(DynamicBatcherTest, ShutdownDrainsQueueAndRefusesNewWork) {
  Recorder rec;
  rec.Hold(1);
  DynamicBatcher batcher(Batching(1, 0s), rec.executor());
  ASSERT_TRUE(batcher.Start().ok());
  std::vector<std::promise<Result>> p(5);
  for (auto& x : p) ASSERT_TRUE(batcher.Enqueue(Request({1}, &x)).ok());
  ASSERT_TRUE(rec.gate.AwaitEntered(1));  // one executing, four queued
  std::thread stopper([&] { batcher.Shutdown(); });
  rec.Release();
  stopper.join();
  for (auto& x : p) EXPECT_TRUE(x.get_future().get().status.ok());
  std::promise<Result> late;
  EXPECT_EQ(batcher.Enqueue(Request({1}, &late)).code(), StatusCode::kUnavailable);
}

TEST(DynamicBatcherTest, FailedThreadInitFailsStart) {
  Recorder rec;
  DynamicBatcher batcher(Batching(1, 0s, 3), rec.executor(), [] { return Internal("warm-up failed"); });
  EXPECT_EQ(batcher.Start().code(), StatusCode::kInternal);
}

// The completion is the last thing the inline path does: the object that
// owns the batcher may be destroyed by it (issue 19, finding 1). Instance
// threads need no such care: Shutdown() joins them before anything is freed.
TEST(DynamicBatcherTest, LastCompletionOnTheInlinePathMayDestroyTheBatcher) {
  Recorder rec;
  BatcherOptions options = Batching(1, 0s);
  options.inline_when_idle = true;
  auto batcher = std::make_shared<DynamicBatcher>(options, rec.executor());
  ASSERT_TRUE(batcher->Start().ok());
  std::promise<Result> p;
  std::weak_ptr<DynamicBatcher> watch = batcher;
  auto request = Request({1}, &p);
  // The request holds the last reference; its completion drops it.
  request->done = [done = std::move(request->done), owner = batcher](Status s, std::vector<Tensor> out,
                                                                      const BatchTiming& t) mutable {
    done(s, std::move(out), t);
    owner.reset();
  };
  DynamicBatcher* raw = batcher.get();
  batcher.reset();
  ASSERT_TRUE(raw->Enqueue(std::move(request)).ok());  // ran inline, then freed by its completion
  EXPECT_TRUE(watch.expired());
  EXPECT_TRUE(p.get_future().get().status.ok());
}

// The gRPC engine's queue thread takes every call of one poll inside an
// InlineBatchScope: they queue, and run as one batch on that thread when the
// scope closes, with no instance thread involved.
TEST(DynamicBatcherTest, RequestsOfOneInlineScopeRunTogetherWhenItCloses) {
  Recorder rec;
  BatcherOptions options = Batching(8, 0s);
  options.inline_when_idle = true;
  options.inline_max_compute = std::chrono::hours(1);
  std::vector<std::thread::id> executed_on;
  DynamicBatcher batcher(options, [&](const std::vector<Tensor>& in, std::vector<Tensor>* out) {
    executed_on.push_back(std::this_thread::get_id());
    return rec.executor()(in, out);
  });
  ASSERT_TRUE(batcher.Start().ok());
  std::vector<std::promise<Result>> promises(3);
  {
    InlineBatchScope scope;
    EXPECT_FALSE(scope.deferred());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(batcher.Enqueue(Request({static_cast<float>(i)}, &promises[i])).ok());
    EXPECT_TRUE(scope.deferred());
    EXPECT_EQ(batcher.queue_depth(), 3u);  // nothing ran yet, and no instance thread was woken
    EXPECT_TRUE(executed_on.empty());
  }
  ASSERT_EQ(executed_on.size(), 1u);  // one batch, run as the scope closed, on this thread
  EXPECT_EQ(executed_on[0], std::this_thread::get_id());
  for (int i = 0; i < 3; ++i) {
    Result r = promises[i].get_future().get();
    EXPECT_EQ(r.values, std::vector<float>{2.0f * i});
    EXPECT_EQ(r.batch_rows, 3);
  }
  // Outside a scope the caller's thread executes at once again.
  std::promise<Result> alone;
  ASSERT_TRUE(batcher.Enqueue(Request({5}, &alone)).ok());
  EXPECT_EQ(executed_on.size(), 2u);
  EXPECT_EQ(alone.get_future().get().batch_rows, 1);
}

// A batcher destroyed while a scope still names it (its queued request was
// drained by its shutdown) is skipped when the scope closes.
TEST(DynamicBatcherTest, AScopeOutlivingItsBatcherSkipsIt) {
  Recorder rec;
  BatcherOptions options = Batching(8, 0s);
  options.inline_when_idle = true;
  std::promise<Result> p;
  {
    InlineBatchScope scope;
    {
      DynamicBatcher batcher(options, rec.executor());
      ASSERT_TRUE(batcher.Start().ok());
      ASSERT_TRUE(batcher.Enqueue(Request({1}, &p)).ok());
      EXPECT_TRUE(scope.deferred());
    }  // Shutdown executes what is queued on an instance thread
    EXPECT_TRUE(p.get_future().get().status.ok());
  }
}

TEST(DynamicBatcherTest, ConcurrentProducersAllComplete) {
  Recorder rec;
  DynamicBatcher batcher(Batching(16, 200us, 2), rec.executor());
  ASSERT_TRUE(batcher.Start().ok());
  constexpr int kThreads = 8, kEach = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::promise<Result> p;
        const float v = static_cast<float>(t * 1000 + i);
        ASSERT_TRUE(batcher.Enqueue(Request({v}, &p)).ok());
        Result r = p.get_future().get();
        if (r.status.ok() && r.values == std::vector<float>{2 * v}) ok++;
      }
    });
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
}

// Tracing: a batch that holds traced requests is told once, with its traced
// members in batch order, the batch's request count and the instance.
TEST(DynamicBatcherTest, TracedBatchIsReportedOnceWithItsMembers) {
  Recorder rec;
  rec.Hold(0);
  std::mutex mu;
  std::vector<BatchEvent> events;
  BatcherOptions options = Batching(8, 0s);
  options.on_traced_batch = [&](const BatchEvent& event) {
    std::lock_guard lock(mu);
    events.push_back(event);
  };
  DynamicBatcher batcher(std::move(options), rec.executor());
  ASSERT_TRUE(batcher.Start().ok());
  std::vector<std::promise<Result>> promises(4);
  ASSERT_TRUE(batcher.Enqueue(Request({0}, &promises[0])).ok());  // untraced, alone: no event
  ASSERT_TRUE(rec.gate.AwaitEntered(1));
  // RequestTrace is only forward-declared here: the batcher never looks inside.
  auto* first = reinterpret_cast<RequestTrace*>(uintptr_t{0x1000});
  auto* second = reinterpret_cast<RequestTrace*>(uintptr_t{0x2000});
  auto traced = [&](float v, RequestTrace* trace, std::promise<Result>* p) {
    auto r = Request({v}, p);
    r->trace = trace;
    return r;
  };
  ASSERT_TRUE(batcher.Enqueue(traced(1, first, &promises[1])).ok());
  ASSERT_TRUE(batcher.Enqueue(Request({2}, &promises[2])).ok());
  ASSERT_TRUE(batcher.Enqueue(traced(3, second, &promises[3])).ok());
  rec.Release();
  for (auto& p : promises) EXPECT_TRUE(p.get_future().get().status.ok());
  std::lock_guard lock(mu);
  ASSERT_EQ(events.size(), 1u);
  const BatchEvent& event = events.front();
  ASSERT_EQ(event.traced.size(), 2u);
  EXPECT_EQ(event.traced[0].trace, first);
  EXPECT_EQ(event.traced[1].trace, second);
  EXPECT_EQ(event.requests, 3u);
  EXPECT_EQ(event.rows, 3);
  EXPECT_EQ(event.instance, 0);
  EXPECT_TRUE(event.ok);
  EXPECT_LE(event.traced[0].enqueued, event.start);
  EXPECT_LE(event.start, event.end);
}

}  // namespace
}  // namespace protoserve
