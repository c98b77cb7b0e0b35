#include "core/dynamic_batcher.h"

#include <algorithm>
#include <cstring>

namespace protoserve {

namespace {

bool SameInnerShape(const Tensor& a, const Tensor& b) {
  const Shape& x = a.shape();
  const Shape& y = b.shape();
  return x.size() == y.size() && std::equal(x.begin() + 1, x.end(), y.begin() + 1);
}

bool Compatible(const PendingRequest& a, const PendingRequest& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    if (a.inputs[i].dtype() == DataType::kBytes || !SameInnerShape(a.inputs[i], b.inputs[i])) return false;
  }
  return true;
}

// Concatenates input `index` of every request along dim 0.
Tensor Concatenate(const std::vector<std::unique_ptr<PendingRequest>>& batch, size_t index, int64_t rows) {
  const Tensor& first = batch.front()->inputs[index];
  size_t bytes = 0;
  for (const auto& request : batch) bytes += request->inputs[index].byte_size();
  Shape shape = first.shape();
  shape[0] = rows;
  Tensor out = Tensor::Allocate(first.dtype(), std::move(shape), bytes);
  char* cursor = out.mutable_data();
  for (const auto& request : batch) {
    const Tensor& t = request->inputs[index];
    std::memcpy(cursor, t.data(), t.byte_size());
    cursor += t.byte_size();
  }
  return out;
}

}  // namespace

const SchedulerClock& SteadySchedulerClock() {
  class Steady final : public SchedulerClock {
   public:
    Clock::time_point Now() const override { return Clock::now(); }
    void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                   Clock::time_point deadline) const override {
      cv.wait_until(lock, deadline);
    }
  };
  static const Steady steady;
  return steady;
}

namespace {

// The open scope's batchers, on this thread (InlineBatchScope).
struct DeferredBatchers {
  bool open = false;
  std::vector<std::shared_ptr<void>> lifelines;  // DynamicBatcher::Lifeline, each once
};
thread_local DeferredBatchers t_deferred;

}  // namespace

InlineBatchScope::InlineBatchScope() { t_deferred.open = true; }

bool InlineBatchScope::deferred() const { return !t_deferred.lifelines.empty(); }

InlineBatchScope::~InlineBatchScope() {
  t_deferred.open = false;
  std::vector<std::shared_ptr<void>> lifelines;
  lifelines.swap(t_deferred.lifelines);
  for (const auto& lifeline : lifelines) {
    DynamicBatcher::RunDeferred(*static_cast<DynamicBatcher::Lifeline*>(lifeline.get()));
  }
}

DynamicBatcher::DynamicBatcher(BatcherOptions options, Executor executor, ThreadInit thread_init)
    : options_(std::move(options)),
      lifeline_(std::make_shared<Lifeline>()),
      clock_(options_.clock ? *options_.clock : SteadySchedulerClock()),
      executor_(std::move(executor)),
      thread_init_(std::move(thread_init)) {
  lifeline_->batcher = this;
}

DynamicBatcher::~DynamicBatcher() {
  {
    std::lock_guard guard(lifeline_->mu);  // waits for a scope that is taking a batch
    lifeline_->batcher = nullptr;
  }
  Shutdown();
}

void DynamicBatcher::RunDeferred(Lifeline& lifeline) {
  DynamicBatcher* self = nullptr;
  std::vector<std::unique_ptr<PendingRequest>> batch;
  std::vector<Dropped> dropped;
  {
    std::lock_guard guard(lifeline.mu);
    self = lifeline.batcher;
    if (!self) return;
    MutexLock lock(self->mu_);
    if (self->queue_.empty() || self->executing_ >= std::max(1, self->options_.instance_count)) return;
    if (!self->CallerStartsBatch()) return;  // the executing batch's thread takes it with company
    self->DropUnusable(&dropped);
    batch = self->TakeBatch();
    if (!batch.empty()) ++self->executing_;  // this thread takes a free instance's slot
  }
  // From here the taken requests, still pending, keep the batcher alive.
  CompleteDropped(std::move(dropped));
  if (!batch.empty()) self->ExecuteAndDrain(std::move(batch), kMaxInlineBatches);
}

Status DynamicBatcher::Start() {
  const int count = std::max(1, options_.instance_count);
  for (int i = 0; i < count; ++i) threads_.emplace_back([this, i] { InstanceLoop(i); });
  MutexLock lock(mu_);
  init_cv_.wait(lock.native(), [&]() REQUIRES(mu_) { return initialised_ == count; });
  if (!init_status_.ok()) {
    const Status failed = init_status_;
    lock.Unlock();
    Shutdown();
    return failed;
  }
  accepting_ = true;
  return Status::Ok();
}

Status DynamicBatcher::Enqueue(std::unique_ptr<PendingRequest> request) {
  std::vector<std::unique_ptr<PendingRequest>> batch;
  std::vector<Dropped> dropped;
  {
    MutexLock lock(mu_);
    if (!accepting_) return Unavailable("model version is not accepting requests (loading or unloading)");
    if (queue_.size() >= options_.max_queue_size) {
      return ResourceExhausted("request queue is full (max_queue_size=" + std::to_string(options_.max_queue_size) + ")");
    }
    request->enqueued = clock_.Now();
    queue_.push_back(std::move(request));
    if (!options_.inline_when_idle || !Quick()) {
      lock.Unlock();
      work_cv_.notify_one();  // an instance thread executes it
      return Status::Ok();
    }
    // Executors drain the queue when their batch finishes (ExecuteAndDrain),
    // so a request that finds every slot busy just waits there, in company,
    // and nobody is woken. With a free slot, this thread executes at once
    // when the model would not wait for company anyway: nothing executing,
    // no max_queue_delay, no dynamic batching, or a full batch queued.
    if (executing_ >= std::max(1, options_.instance_count)) return Status::Ok();
    if (t_deferred.open) {  // the scope runs it, with the calls of the same poll
      for (const auto& lifeline : t_deferred.lifelines) {
        if (lifeline == lifeline_) return Status::Ok();
      }
      t_deferred.lifelines.push_back(lifeline_);
      return Status::Ok();
    }
    if (!CallerStartsBatch()) return Status::Ok();  // the executing batch's thread takes it with company
    DropUnusable(&dropped);
    batch = TakeBatch();
    if (batch.empty()) {  // everything queued had expired
      lock.Unlock();
      CompleteDropped(std::move(dropped));
      return Status::Ok();
    }
    ++executing_;  // this thread takes a free instance's slot
  }
  CompleteDropped(std::move(dropped));
  ExecuteAndDrain(std::move(batch), kMaxInlineBatches);
  return Status::Ok();
}

bool DynamicBatcher::CallerStartsBatch() const {
  int64_t rows = 0;
  BatchableCount(&rows);
  return executing_ == 0 || !options_.dynamic_batching || options_.max_queue_delay <= Clock::duration::zero() ||
         rows >= TargetRows();
}

bool DynamicBatcher::Quick() const {
  return std::chrono::nanoseconds(mean_compute_ns_.load(std::memory_order_relaxed)) < options_.inline_max_compute;
}

void DynamicBatcher::ExecuteAndDrain(std::vector<std::unique_ptr<PendingRequest>> batch, int max_batches) {
  for (int executed = 1;; ++executed) {
    std::vector<Completion> completions = ExecuteBatch(std::move(batch), -1);
    std::vector<Dropped> dropped;
    bool hand_off = false;
    {
      MutexLock lock(mu_);
      // A caller's thread serves other calls too: past its share of batches,
      // or once the model proved slow, it hands the rest to an instance
      // thread, unless those are gone (stopping).
      if ((executed < max_batches && Quick()) || stopping_) {
        DropUnusable(&dropped);
        batch = TakeBatch();
      }
      if (batch.empty()) {
        --executing_;
        hand_off = !queue_.empty();
      }
    }
    if (hand_off) work_cv_.notify_one();
    CompleteDropped(std::move(dropped));
    // With no next batch this is the last touch of `this`: a completion may
    // release the last handle on the batcher's owner. A taken batch's
    // requests are still pending, and pending requests keep it alive.
    RunCompletions(std::move(completions));
    if (batch.empty()) return;
  }
}

std::vector<std::unique_ptr<PendingRequest>> DynamicBatcher::TakeBatch() {
  std::vector<std::unique_ptr<PendingRequest>> batch;
  if (queue_.empty()) return batch;
  int64_t rows = 0;
  const size_t count = BatchableCount(&rows);
  batch.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void DynamicBatcher::DropUnusable(std::vector<Dropped>* dropped) {
  const auto now = clock_.Now();
  for (auto it = queue_.begin(); it != queue_.end();) {
    PendingRequest& r = **it;
    if (r.deadline <= now) {
      dropped->push_back({std::move(*it), DeadlineExceeded("deadline exceeded while queued")});
    } else if (r.is_cancelled && r.is_cancelled()) {
      dropped->push_back({std::move(*it), Cancelled("request cancelled while queued")});
    } else {
      ++it;
      continue;
    }
    it = queue_.erase(it);
  }
}

void DynamicBatcher::CompleteDropped(std::vector<Dropped> dropped) {
  for (auto& [request, status] : dropped) request->done(status, {}, BatchTiming{});
}

void DynamicBatcher::RunCompletions(std::vector<Completion> completions) {
  for (Completion& c : completions) {
    c.request->done(std::move(c.status), std::move(c.outputs), c.timing);
    c.request.reset();  // the callback and what it holds go now, in order
  }
}

void DynamicBatcher::Shutdown() {
  {
    MutexLock lock(mu_);
    accepting_ = false;
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

size_t DynamicBatcher::queue_depth() const {
  MutexLock lock(mu_);
  return queue_.size();
}

int64_t DynamicBatcher::TargetRows() const {
  if (!options_.preferred_batch_sizes.empty()) {
    return *std::max_element(options_.preferred_batch_sizes.begin(), options_.preferred_batch_sizes.end());
  }
  return options_.max_batch_size;
}

size_t DynamicBatcher::BatchableCount(int64_t* rows) const {
  *rows = queue_.front()->rows;
  // Without dynamic_batching (as in Triton) each request executes alone.
  if (options_.max_batch_size == 0 || !options_.dynamic_batching) return 1;
  size_t count = 1;
  while (count < queue_.size()) {
    const PendingRequest& next = *queue_[count];
    if (*rows + next.rows > options_.max_batch_size || !Compatible(*queue_.front(), next)) break;
    *rows += next.rows;
    ++count;
  }
  return count;
}

void DynamicBatcher::InstanceLoop(size_t index) {
  Status init = thread_init_ ? thread_init_() : Status::Ok();
  {
    MutexLock lock(mu_);
    if (!init.ok() && init_status_.ok()) init_status_ = init;
    ++initialised_;
  }
  init_cv_.notify_all();

  const int slots = std::max(1, options_.instance_count);
  MutexLock lock(mu_);
  while (true) {
    // A free slot is needed too: a caller running a request inline holds one.
    work_cv_.wait(lock.native(), [&]() REQUIRES(mu_) { return (stopping_ && queue_.empty()) || (!queue_.empty() && executing_ < slots); });
    if (queue_.empty()) return;  // stopping and drained

    std::vector<Dropped> dropped;
    DropUnusable(&dropped);
    if (!dropped.empty()) {
      lock.Unlock();
      CompleteDropped(std::move(dropped));
      lock.Lock();
      continue;
    }
    int64_t rows = 0;
    const size_t count = BatchableCount(&rows);
    const bool may_wait = options_.dynamic_batching && !stopping_ && executing_ > 0 &&
                          rows < TargetRows() && count == queue_.size();
    if (may_wait) {
      const auto until = queue_.front()->enqueued + options_.max_queue_delay;
      if (clock_.Now() < until) {
        clock_.WaitUntil(work_cv_, lock.native(), until);
        continue;  // re-evaluate with whatever arrived
      }
    }
    std::vector<std::unique_ptr<PendingRequest>> batch = TakeBatch();  // DropUnusable ran above
    ++executing_;
    const bool more_work = !queue_.empty();
    lock.Unlock();
    if (more_work) work_cv_.notify_one();  // another idle instance can take the rest
    RunCompletions(ExecuteBatch(std::move(batch), static_cast<int>(index)));  // instance threads are joined by Shutdown: safe
    lock.Lock();
    --executing_;
  }
}

void DynamicBatcher::ReportTracedBatch(const std::vector<std::unique_ptr<PendingRequest>>& batch, int instance,
                                       Clock::time_point start, int64_t rows, bool ok) const {
  BatchEvent event;
  for (const auto& request : batch) {
    if (request->trace) event.traced.push_back({request->trace, request->enqueued});
  }
  if (event.traced.empty()) return;
  event.requests = batch.size();
  event.rows = rows;
  event.instance = instance;
  event.start = start;
  event.end = clock_.Now();
  event.ok = ok;
  options_.on_traced_batch(event);
}

std::vector<DynamicBatcher::Completion> DynamicBatcher::ExecuteBatch(
    std::vector<std::unique_ptr<PendingRequest>> batch, int instance) {
  const auto start = clock_.Now();
  int64_t rows = 0;
  for (const auto& request : batch) rows += request->rows;

  std::vector<Tensor> inputs;
  if (batch.size() == 1) {
    inputs = std::move(batch.front()->inputs);
  } else {
    for (size_t i = 0; i < batch.front()->inputs.size(); ++i) inputs.push_back(Concatenate(batch, i, rows));
  }
  const auto execute = clock_.Now();
  std::vector<Tensor> outputs;
  Status status = executor_(inputs, &outputs);
  inputs.clear();
  BatchTiming timing;
  timing.compute_input = execute - start;
  timing.compute = clock_.Now() - execute;
  const int64_t compute_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timing.compute).count();
  const int64_t mean = mean_compute_ns_.load(std::memory_order_relaxed);
  mean_compute_ns_.store(mean + (compute_ns - mean) / 8, std::memory_order_relaxed);  // a lost update is harmless
  timing.batch_rows = rows;

  const bool split = options_.max_batch_size > 0;
  if (status.ok() && split) {
    for (const Tensor& out : outputs) {
      if (out.shape().empty() || out.shape()[0] != rows || out.dtype() == DataType::kBytes) {
        status = Internal("backend output has shape " + ShapeToString(out.shape()) + ", expected " +
                          std::to_string(rows) + " rows");
        break;
      }
    }
  }
  if (options_.on_traced_batch) ReportTracedBatch(batch, instance, start, rows, status.ok());
  std::vector<Completion> completions;
  completions.reserve(batch.size());
  int64_t offset = 0;
  for (auto& request : batch) {
    timing.queue = start - request->enqueued;
    Completion c{std::move(request), status, {}, timing};
    if (status.ok()) {
      if (split && batch.size() > 1) {
        c.outputs.reserve(outputs.size());
        for (const Tensor& out : outputs) c.outputs.push_back(out.Slice(offset, offset + c.request->rows));
      } else {
        c.outputs = outputs;
      }
      offset += c.request->rows;
    }
    completions.push_back(std::move(c));
  }
  return completions;
}

}  // namespace protoserve
