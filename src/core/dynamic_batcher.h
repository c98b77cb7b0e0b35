// DynamicBatcher: a model version's bounded request queue and its instances.
//
// Requests are queued (Enqueue never blocks: a full queue is refused at once
// with RESOURCE_EXHAUSTED) and taken by `instance_count` execution threads.
// An instance that finds work forms a batch of queued requests, oldest first,
// up to `max_batch_size` rows, joining only requests whose non-batch dims
// agree. It waits for company (up to `max_queue_delay`) only while the batch
// is below its target size AND other requests are executing on other
// instances: under load this fills batches, while a lone request at low load
// runs at once instead of waiting for a batch that will not come.
// Batches form on the threads that execute them, so batching wakes nobody:
// for a quick model (recent executions averaged under `inline_max_compute`,
// with `inline_when_idle`), the caller's thread (a gRPC callback thread or
// an HTTP I/O thread) that finds an instance free executes at once, holding
// that instance's slot; a caller that finds every instance busy queues its
// request and returns; and the thread that finishes a batch takes what was
// queued meanwhile as its next batch (ExecuteAndDrain), after completing the
// calls of the one it ran. With a max_queue_delay, a caller starts a batch on
// a free instance only when nothing executes or a full batch is queued: while
// one executes, requests gather for the next (they wait at most one
// execution, which for a quick model is short). A caller's thread executes
// at most kMaxInlineBatches before an instance thread takes over. A model
// whose executions take long runs on the instance threads, which wait for
// company up to max_queue_delay while other batches execute. Either way
// batches executing at once never exceed `instance_count`.
// Requests whose deadline passed or whose caller cancelled are completed
// without execution. Inputs of a multi-request batch are concatenated (one
// copy); outputs are split back as views of the batch output (no copy).
//
// Thread-safety: all public methods may be called from any thread. `done`
// callbacks run on an instance thread or a caller's thread and must not block
// for long. A `done` may destroy the batcher only when no other request is
// pending in it (ModelVersion's callers hold a handle on the version per
// request, which keeps it so).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/scheduler.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/tensor.h"

namespace protoserve {

struct PendingRequest {
  std::vector<Tensor> inputs;  // in config input order, batch dim first when batching
  int64_t rows = 1;            // batch rows this request contributes
  Clock::time_point enqueued{};
  Clock::time_point deadline = Clock::time_point::max();
  std::function<bool()> is_cancelled;  // optional
  RequestTrace* trace = nullptr;       // set when traced; outlives the request (tracer.h)
  // Called exactly once with the status and, on success, this request's
  // outputs (config output order).
  std::function<void(Status, std::vector<Tensor>, const BatchTiming&)> done;
};

struct BatcherOptions {
  int instance_count = 1;
  // 0: the model does not batch; tensors pass through untouched.
  int64_t max_batch_size = 0;
  // false: every request executes alone (its own batch dim, if any, kept).
  bool dynamic_batching = false;
  std::vector<int64_t> preferred_batch_sizes;
  Clock::duration max_queue_delay{};
  size_t max_queue_size = 1024;
  bool inline_when_idle = true;
  // Inline execution only while the model's recent executions averaged less
  // than this: a long one would hold the caller's thread (a gRPC callback
  // thread or an HTTP I/O thread) and delay every other call it serves.
  Clock::duration inline_max_compute = std::chrono::milliseconds(1);
  // Time for queue delays, deadlines and execution times; null: steady_clock.
  const SchedulerClock* clock = nullptr;
  // Told of each executed batch that holds a traced request (optional).
  std::function<void(const BatchEvent&)> on_traced_batch;
};

// Opened by a thread that takes several calls from one network poll (the
// gRPC engine's queue thread, grpc/cq_engine.h): until the scope closes, a
// batcher that would execute a request inline on this thread queues it
// instead; when it closes, each such batcher executes what is queued, on
// this thread, in batches as its options allow. The calls of one poll so
// batch together (under load a poll brings many), and nobody is woken.
// Scopes do not nest.
class InlineBatchScope {
 public:
  InlineBatchScope();
  ~InlineBatchScope();
  InlineBatchScope(const InlineBatchScope&) = delete;
  InlineBatchScope& operator=(const InlineBatchScope&) = delete;
  // Whether a request was queued for this scope to run.
  bool deferred() const;
};

class DynamicBatcher final : public Scheduler {
 public:
  using Executor = std::function<Status(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs)>;
  // Runs once on each instance thread before it takes work; a failure fails Start().
  using ThreadInit = std::function<Status()>;

  DynamicBatcher(BatcherOptions options, Executor executor, ThreadInit thread_init = nullptr);
  ~DynamicBatcher() override;  // Calls Shutdown().

  // Starts the instance threads and waits until each ran `thread_init`.
  Status Start() override;
  // Takes ownership on success. Fails with RESOURCE_EXHAUSTED when the queue
  // is full and UNAVAILABLE after Shutdown() began.
  Status Enqueue(std::unique_ptr<PendingRequest> request) override;
  // Stops accepting, executes everything already queued, joins the threads.
  void Shutdown() override;

  size_t queue_depth() const override;
  const BatcherOptions& options() const { return options_; }

 private:
  void InstanceLoop(size_t index);
  // Number of queued requests (from the front) that can run as one batch.
  size_t BatchableCount(int64_t* rows) const REQUIRES(mu_);
  int64_t TargetRows() const;
  // A finished request, not yet told: its `done` runs after the batcher's
  // own bookkeeping (see RunCompletions).
  struct Completion {
    std::unique_ptr<PendingRequest> request;
    Status status;
    std::vector<Tensor> outputs;
    BatchTiming timing;
  };
  // A request completed without execution (deadline passed, cancelled).
  struct Dropped {
    std::unique_ptr<PendingRequest> request;
    Status status;
  };
  // Takes the next batch from the front of the queue (empty if none). Callers
  // run DropUnusable first, so no expired or cancelled request executes.
  std::vector<std::unique_ptr<PendingRequest>> TakeBatch() REQUIRES(mu_);
  // Moves expired and cancelled requests from the queue to `dropped`.
  void DropUnusable(std::vector<Dropped>* dropped) REQUIRES(mu_);
  // With a slot free and the queue not empty: whether a caller's thread
  // starts a batch now (nothing executing, no max_queue_delay, no dynamic
  // batching, or a full batch queued) instead of leaving the queue to the
  // executing batch's thread.
  bool CallerStartsBatch() const REQUIRES(mu_);
  // Whether recent executions averaged under inline_max_compute.
  bool Quick() const;
  static void CompleteDropped(std::vector<Dropped> dropped);
  // On a thread holding an instance slot: executes `batch`, then the batches
  // queued meanwhile (at most `max_batches` in all), completing each batch
  // before executing the next; releases the slot.
  void ExecuteAndDrain(std::vector<std::unique_ptr<PendingRequest>> batch, int max_batches);
  // How many batches a caller's thread executes before handing the queue to
  // an instance thread.
  static constexpr int kMaxInlineBatches = 16;
  // Executes `batch` on instance `instance` (-1: inline); returns each
  // request's completion without running it.
  std::vector<Completion> ExecuteBatch(std::vector<std::unique_ptr<PendingRequest>> batch, int instance);
  void ReportTracedBatch(const std::vector<std::unique_ptr<PendingRequest>>& batch, int instance,
                         Clock::time_point start, int64_t rows, bool ok) const;
  // Runs the callbacks. Touches nothing of the batcher: the last callback may
  // release the last handle on the version that owns it.
  static void RunCompletions(std::vector<Completion> completions);

  friend class InlineBatchScope;
  // Lets an InlineBatchScope reach a batcher that may be destroyed meanwhile.
  struct Lifeline {
    std::mutex mu;
    DynamicBatcher* batcher = nullptr;  // null once the batcher is being destroyed
  };
  // The closing scope's turn: executes what is queued if a slot is free and
  // the batch would start now (as Enqueue decides).
  static void RunDeferred(Lifeline& lifeline);

  const BatcherOptions options_;
  const std::shared_ptr<Lifeline> lifeline_;
  const SchedulerClock& clock_;
  const Executor executor_;
  const ThreadInit thread_init_;

  mutable Mutex mu_;
  std::condition_variable work_cv_;   // waits on mu_: queue changed or stopping
  std::condition_variable init_cv_;   // waits on mu_: an instance finished init
  std::deque<std::unique_ptr<PendingRequest>> queue_ GUARDED_BY(mu_);
  bool accepting_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  int executing_ GUARDED_BY(mu_) = 0;  // instances running a batch
  // Moving average (1/8 weight per batch) of the backend's execution time.
  std::atomic<int64_t> mean_compute_ns_{0};
  int initialised_ GUARDED_BY(mu_) = 0;
  Status init_status_ GUARDED_BY(mu_);
  std::vector<std::thread> threads_;  // touched only by Start/Shutdown
};

}  // namespace protoserve
