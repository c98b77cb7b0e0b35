#include "grpc/cq_engine.h"

#include "core/dynamic_batcher.h"

namespace protoserve {

namespace cq_internal {

void CallCounter::Closed() {
  if (open_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(mu_);
    idle_.notify_all();
  }
}

void CallCounter::WaitIdle() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return open_.load(std::memory_order_acquire) == 0; });
}

}  // namespace cq_internal

FallbackCall::FallbackCall(CqEngine* engine, grpc::ServerCompletionQueue* queue)
    : engine_(engine), queue_(queue), stream_(&context_) {
  context_.AsyncNotifyWhenDone(&ended_tag_);  // as UnaryCall's
  engine_->generic_.RequestCall(&context_, &stream_, queue_, queue_, this);
}

void FallbackCall::Finish(const grpc::Status& status) {
  state_ = State::kFinishing;
  if (status.ok()) {
    stream_.WriteAndFinish(response_, grpc::WriteOptions(), status, this);
  } else {
    stream_.Finish(status, this);
  }
}

void FallbackCall::Proceed(bool ok) {
  switch (state_) {
    case State::kArmed:
      if (!ok) {  // the server shuts down: no call came
        delete this;
        return;
      }
      new FallbackCall(engine_, queue_);
      engine_->counter_.Opened();
      if (!engine_->fallback_) {
        Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method " + context_.method()));
        return;
      }
      state_ = State::kReading;
      stream_.Read(&request_, this);
      return;
    case State::kReading:
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"));
        return;
      }
      state_ = State::kAnswering;
      engine_->fallback_(this);
      return;
    case State::kAnswering:  // not an event of ours
      return;
    case State::kFinishing:
      finished_ = true;
      MaybeDelete();
      return;
  }
}

void FallbackCall::Ended(bool) {
  ended_ = true;
  MaybeDelete();
}

void FallbackCall::MaybeDelete() {
  if (!ended_ || !finished_) return;
  engine_->counter_.Closed();
  delete this;
}

CqEngine::~CqEngine() { Stop(); }

void CqEngine::Poll(grpc::ServerCompletionQueue* queue) {
  void* tag;
  bool ok;
  while (queue->Next(&tag, &ok)) {
    // A call for a quick model waits in its queue instead of executing at
    // once while the calls that already arrived are taken too; then they
    // execute together, on this thread (core/dynamic_batcher.h).
    InlineBatchScope scope;
    static_cast<CqTag*>(tag)->Proceed(ok);
    for (int taken = 1; scope.deferred() && taken < kMaxEventsPerPoll; ++taken) {
      if (queue->AsyncNext(&tag, &ok, gpr_time_0(GPR_CLOCK_MONOTONIC)) != grpc::CompletionQueue::GOT_EVENT) break;
      static_cast<CqTag*>(tag)->Proceed(ok);
    }
  }
}

void CqEngine::AddTo(grpc::ServerBuilder* builder) {
  builder->RegisterService(&table_);
  builder->RegisterAsyncGenericService(&generic_);
  for (int i = 0; i < threads_; ++i) queues_.push_back(builder->AddCompletionQueue());
}

void CqEngine::Start() {
  for (auto& queue : queues_) {
    for (auto& method : methods_) {
      for (int i = 0; i < method->slots; ++i) method->Arm(queue.get());
    }
    for (int i = 0; i < 2; ++i) new FallbackCall(this, queue.get());
    pollers_.emplace_back([queue = queue.get()] { Poll(queue); });
  }
}

void CqEngine::RunBlocking(std::function<void()> work) {
  std::lock_guard lock(blocking_mu_);
  blocking_work_.push_back(std::move(work));
  if (blocking_idle_ > 0) {
    blocking_ready_.notify_one();
  } else {
    blocking_.emplace_back([this] { BlockingWorker(); });
  }
}

void CqEngine::BlockingWorker() {
  std::unique_lock lock(blocking_mu_);
  for (;;) {
    while (blocking_work_.empty() && !blocking_stop_) {
      ++blocking_idle_;
      blocking_ready_.wait(lock);
      --blocking_idle_;
    }
    if (blocking_work_.empty()) return;
    std::function<void()> work = std::move(blocking_work_.front());
    blocking_work_.pop_front();
    lock.unlock();
    work();
    lock.lock();
  }
}

void CqEngine::Stop() {
  if (stopped_ || queues_.empty()) return;
  stopped_ = true;
  // Calls handed to handlers reply through the queues: keep them polled
  // until the last one is done.
  counter_.WaitIdle();
  {
    std::lock_guard lock(blocking_mu_);
    blocking_stop_ = true;
    blocking_ready_.notify_all();
  }
  for (auto& thread : blocking_) thread.join();  // no call is open: nobody adds one
  for (auto& queue : queues_) queue->Shutdown();
  for (auto& poller : pollers_) poller.join();
  if (pollers_.empty()) {  // never started: drain here
    void* tag;
    bool ok;
    for (auto& queue : queues_) {
      while (queue->Next(&tag, &ok)) {
      }
    }
  }
}

}  // namespace protoserve
