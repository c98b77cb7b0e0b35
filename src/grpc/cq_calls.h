// The calls of the completion-queue engine (grpc/cq_engine.h): one object
// per call, armed on a queue before a client calls, answering through the
// same queue, deleted when gRPC is done with it. Only CqEngine creates them;
// services see UnaryCall, ServerStreamCall and FallbackCall through their
// handlers (grpc/cq_engine.h says how each kind is served).
#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace protoserve {

// The receiver of a completion-queue event.
class CqTag {
 public:
  virtual void Proceed(bool ok) = 0;

 protected:
  ~CqTag() = default;
};

class CqEngine;

namespace cq_internal {

// What each call needs from the engine: its method table and the count of
// calls handed to handlers (Stop() waits for them).
class CallCounter {
 public:
  void Opened() { open_.fetch_add(1, std::memory_order_relaxed); }
  void Closed();
  // Blocks until every opened call closed.
  void WaitIdle();

 private:
  std::atomic<int> open_{0};
  std::mutex mu_;
  std::condition_variable idle_;
};

// The registered methods, as a grpc::Service without handlers (async).
class MethodTable final : public grpc::Service {
 public:
  int Add(const char* name, grpc::internal::RpcMethod::RpcType type) {
    AddMethod(new grpc::internal::RpcServiceMethod(name, type, nullptr));
    MarkMethodAsync(count_);
    return count_++;
  }
  template <typename Request>
  void RequestUnary(int index, grpc::ServerContext* context, Request* request,
                    grpc::internal::ServerAsyncStreamingInterface* stream, grpc::ServerCompletionQueue* queue,
                    void* tag) {
    RequestAsyncUnary(index, context, request, stream, queue, queue, tag);
  }
  template <typename Request>
  void RequestServerStream(int index, grpc::ServerContext* context, Request* request,
                           grpc::internal::ServerAsyncStreamingInterface* stream, grpc::ServerCompletionQueue* queue,
                           void* tag) {
    RequestAsyncServerStreaming(index, context, request, stream, queue, queue, tag);
  }
  void RequestBidi(int index, grpc::ServerContext* context, grpc::internal::ServerAsyncStreamingInterface* stream,
                   grpc::ServerCompletionQueue* queue, void* tag) {
    RequestAsyncBidiStreaming(index, context, stream, queue, queue, tag);
  }

 private:
  int count_ = 0;
};

// A registered method: arms calls of its kind on a queue.
class Method {
 public:
  virtual ~Method() = default;
  virtual void Arm(grpc::ServerCompletionQueue* queue) = 0;
  int slots = 1;  // calls armed per queue
};

// Everything a call of a method shares.
struct MethodCore {
  MethodTable* table;
  CallCounter* counter;
  CqEngine* engine;
  int index;
};

template <typename T, void (T::*kProceed)(bool)>
class MemberTag final : public CqTag {
 public:
  explicit MemberTag(T* self) : self_(self) {}
  void Proceed(bool ok) override { (self_->*kProceed)(ok); }

 private:
  T* const self_;
};

inline google::protobuf::ArenaOptions ArenaWithBlock(char* block, size_t size) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = size;
  return options;
}

}  // namespace cq_internal

// One unary call (see the file comment).
template <typename Request, typename Response>
class UnaryCall final : private CqTag {
 public:
  using Handler = std::function<void(UnaryCall*)>;

  grpc::ServerContext* context() { return &context_; }
  const Request& request() const { return *request_; }
  // The request, for readers that consume it (a ByteBuffer is read through a stream).
  Request* mutable_request() { return request_; }
  Response* response() { return response_; }
  // Sends the answer (the response when `status` is OK); exactly once, from
  // any thread. The call is deleted once gRPC is done with it.
  void Finish(const grpc::Status& status) {
    if (status.ok()) {
      writer_.Finish(*response_, status, this);
    } else {
      writer_.FinishWithError(status, this);
    }
  }

 private:
  friend class CqEngine;
  static constexpr size_t kBlockBytes = 4096;

  UnaryCall(const cq_internal::MethodCore* method, const Handler* handler, bool blocking,
            grpc::ServerCompletionQueue* queue)
      : method_(method),
        handler_(handler),
        blocking_(blocking),
        queue_(queue),
        arena_(cq_internal::ArenaWithBlock(block_, sizeof(block_))),
        request_(google::protobuf::Arena::Create<Request>(&arena_)),
        response_(google::protobuf::Arena::Create<Response>(&arena_)),
        writer_(&context_) {
    // Without it ServerContext::IsCancelled() (the core's cancellation
    // check) takes the synchronous API's path, which crashes here.
    context_.AsyncNotifyWhenDone(&ended_tag_);
    method_->table->RequestUnary(method_->index, &context_, request_, &writer_, queue_, this);
  }

  void Proceed(bool ok) override;
  // gRPC is done with the call (the answer went out, or the client left).
  void Ended(bool) {
    ended_ = true;
    MaybeDelete();
  }
  // Both the finish and the done notification came (on this queue's thread).
  void MaybeDelete() {
    if (!ended_ || !finished_) return;
    method_->counter->Closed();
    delete this;
  }

  const cq_internal::MethodCore* const method_;
  const Handler* const handler_;
  const bool blocking_;
  grpc::ServerCompletionQueue* const queue_;
  alignas(std::max_align_t) char block_[kBlockBytes];
  google::protobuf::Arena arena_;  // after the block it starts in
  Request* const request_;
  Response* const response_;
  grpc::ServerContext context_;
  grpc::ServerAsyncResponseWriter<Response> writer_;
  cq_internal::MemberTag<UnaryCall, &UnaryCall::Ended> ended_tag_{this};
  bool answering_ = false;
  bool finished_ = false;
  bool ended_ = false;
};

// One server-streaming call (see the file comment). Write() and Finish() are
// ignored once the call ended.
template <typename Request, typename Response>
class ServerStreamCall final {
 public:
  using Handler = std::function<void(ServerStreamCall*)>;

  grpc::ServerContext* context() { return &context_; }
  const Request& request() const { return request_; }
  // Must be set by the handler before it returns; runs once, when the call ends.
  void set_on_done(std::function<void()> on_done) { on_done_ = std::move(on_done); }
  // Queues `response`; messages are written in Write() order. Ignored after Finish().
  void Write(Response response) {
    std::unique_lock lock(mu_);
    if (ended_ || finish_requested_) return;
    queued_.push_back(std::move(response));
    WriteNextLocked();
  }
  // Ends the call with `status` after the queued messages.
  void Finish(const grpc::Status& status) {
    std::unique_lock lock(mu_);
    if (ended_ || finish_requested_) return;
    finish_requested_ = true;
    status_ = status;
    WriteNextLocked();
  }

 private:
  friend class CqEngine;
  using Self = ServerStreamCall;

  ServerStreamCall(const cq_internal::MethodCore* method, const Handler* handler, grpc::ServerCompletionQueue* queue)
      : method_(method), handler_(handler), queue_(queue), writer_(&context_) {
    context_.AsyncNotifyWhenDone(&done_tag_);
    method_->table->RequestServerStream(method_->index, &context_, &request_, &writer_, queue_, &accept_tag_);
  }

  void Accepted(bool ok) {
    if (!ok) {  // the server shuts down: no call came, and no done tag will
      delete this;
      return;
    }
    new Self(method_, handler_, queue_);
    method_->counter->Opened();
    (*handler_)(this);
  }
  void Written(bool ok) {
    std::unique_lock lock(mu_);
    writing_ = false;
    if (!ok) ended_ = true;
    if (!queued_.empty()) queued_.pop_front();
    WriteNextLocked();
    MaybeDeleteLocked(lock);
  }
  void Finished(bool) {
    std::unique_lock lock(mu_);
    finished_ = true;
    MaybeDeleteLocked(lock);
  }
  void CallEnded(bool) {
    std::function<void()> on_done = std::move(on_done_);
    if (on_done) on_done();  // outside mu_: it may take the handler's locks
    std::unique_lock lock(mu_);
    done_ = true;
    if (!finishing_) {  // the client left: end the call without messages
      ended_ = true;
      queued_.clear();
      finish_requested_ = true;
      status_ = grpc::Status::CANCELLED;
      WriteNextLocked();
    }
    MaybeDeleteLocked(lock);
  }

  void WriteNextLocked() {
    if (writing_ || finishing_) return;
    if (!ended_ && !queued_.empty()) {
      writing_ = true;
      writer_.Write(queued_.front(), &written_tag_);
    } else if (finish_requested_) {
      finishing_ = true;
      writer_.Finish(status_, &finished_tag_);
    }
  }
  void MaybeDeleteLocked(std::unique_lock<std::mutex>& lock) {
    if (!done_ || !finished_ || writing_) return;
    lock.unlock();
    method_->counter->Closed();
    delete this;
  }

  const cq_internal::MethodCore* const method_;
  const Handler* const handler_;
  grpc::ServerCompletionQueue* const queue_;
  grpc::ServerContext context_;
  Request request_;
  grpc::ServerAsyncWriter<Response> writer_;
  std::function<void()> on_done_;
  cq_internal::MemberTag<Self, &Self::Accepted> accept_tag_{this};
  cq_internal::MemberTag<Self, &Self::Written> written_tag_{this};
  cq_internal::MemberTag<Self, &Self::Finished> finished_tag_{this};
  cq_internal::MemberTag<Self, &Self::CallEnded> done_tag_{this};
  std::mutex mu_;
  std::deque<Response> queued_;  // front: being written
  grpc::Status status_;
  bool writing_ = false;
  bool finish_requested_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  bool ended_ = false;
  bool done_ = false;
};

// One bidi stream whose messages are processed concurrently and answered in
// request order.
//
// The i-th response of a stream answers the i-th request, always; requests
// are in flight together (up to kMaxInFlight), so they batch with other
// traffic like unary calls. An error in one message is reported in that
// message's response (the service encodes it); the stream stays open. When
// the client half-closes, the stream finishes with OK after the last
// response; when the client cancels, pending work completes and the stream
// ends CANCELLED.
template <typename Request, typename Response>
class OrderedStream final {
 public:
  using Done = std::function<void(Response)>;
  using Process = std::function<void(grpc::ServerContext*, std::unique_ptr<Request>, Done)>;
  static constexpr size_t kMaxInFlight = 64;

 private:
  friend class CqEngine;
  using Self = OrderedStream;
  struct Slot {
    Response response;
    bool ready = false;
  };

  OrderedStream(const cq_internal::MethodCore* method, const Process* process, grpc::ServerCompletionQueue* queue)
      : method_(method), process_(process), queue_(queue), stream_(&context_) {
    context_.AsyncNotifyWhenDone(&done_tag_);
    method_->table->RequestBidi(method_->index, &context_, &stream_, queue_, &accept_tag_);
  }

  void Accepted(bool ok) {
    if (!ok) {
      delete this;
      return;
    }
    new Self(method_, process_, queue_);
    method_->counter->Opened();
    std::unique_lock lock(mu_);
    StartReadLocked();
  }
  void StartReadLocked() {
    reading_ = std::make_unique<Request>();
    read_outstanding_ = true;
    stream_.Read(reading_.get(), &read_tag_);
  }
  void ReadDone(bool ok) {
    std::unique_lock lock(mu_);
    read_outstanding_ = false;
    if (!ok) {
      reads_done_ = true;
      MaybeFinishLocked();
      MaybeDeleteLocked(lock);
      return;
    }
    auto slot = std::make_shared<Slot>();
    slots_.push_back(slot);
    ++pending_;
    std::unique_ptr<Request> request = std::move(reading_);
    if (slots_.size() < kMaxInFlight && !cancelled_) {
      StartReadLocked();
    } else {
      read_paused_ = true;
    }
    lock.unlock();
    (*process_)(&context_, std::move(request), [this, slot](Response response) {
      std::unique_lock guard(mu_);
      slot->response = std::move(response);
      slot->ready = true;
      --pending_;
      WriteNextLocked();
      MaybeFinishLocked();
      MaybeDeleteLocked(guard);
    });
  }
  void Written(bool ok) {
    std::unique_lock lock(mu_);
    writing_ = false;
    slots_.pop_front();
    if (!ok) write_failed_ = true;
    WriteNextLocked();
    if (read_paused_ && !reads_done_ && !cancelled_ && !finishing_ && slots_.size() < kMaxInFlight) {
      read_paused_ = false;
      StartReadLocked();
    }
    MaybeFinishLocked();
    MaybeDeleteLocked(lock);
  }
  void Finished(bool) {
    std::unique_lock lock(mu_);
    finished_ = true;
    MaybeDeleteLocked(lock);
  }
  void CallEnded(bool) {
    std::unique_lock lock(mu_);
    done_ = true;
    if (context_.IsCancelled()) cancelled_ = true;
    MaybeFinishLocked();
    MaybeDeleteLocked(lock);
  }

  void WriteNextLocked() {
    if (writing_ || write_failed_ || cancelled_ || finishing_ || slots_.empty() || !slots_.front()->ready) return;
    writing_ = true;
    stream_.Write(slots_.front()->response, &written_tag_);
  }
  void MaybeFinishLocked() {
    if (finishing_ || pending_ > 0 || writing_) return;
    if (cancelled_ || write_failed_) {
      finishing_ = true;
      stream_.Finish(grpc::Status::CANCELLED, &finished_tag_);
    } else if (reads_done_ && slots_.empty()) {
      finishing_ = true;
      stream_.Finish(grpc::Status::OK, &finished_tag_);
    }
  }
  void MaybeDeleteLocked(std::unique_lock<std::mutex>& lock) {
    if (!done_ || !finished_ || read_outstanding_ || writing_ || pending_ > 0) return;
    lock.unlock();
    method_->counter->Closed();
    delete this;
  }

  const cq_internal::MethodCore* const method_;
  const Process* const process_;
  grpc::ServerCompletionQueue* const queue_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<Response, Request> stream_;
  cq_internal::MemberTag<Self, &Self::Accepted> accept_tag_{this};
  cq_internal::MemberTag<Self, &Self::ReadDone> read_tag_{this};
  cq_internal::MemberTag<Self, &Self::Written> written_tag_{this};
  cq_internal::MemberTag<Self, &Self::Finished> finished_tag_{this};
  cq_internal::MemberTag<Self, &Self::CallEnded> done_tag_{this};
  std::mutex mu_;
  std::unique_ptr<Request> reading_;        // the buffer of the outstanding read
  std::deque<std::shared_ptr<Slot>> slots_;  // responses in request order
  size_t pending_ = 0;                       // process calls not yet done
  bool read_outstanding_ = false;
  bool writing_ = false;
  bool reads_done_ = false;
  bool read_paused_ = false;  // too many in flight
  bool cancelled_ = false;
  bool write_failed_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  bool done_ = false;
};

// A call of a method no registered service has: one request message, one
// answer (the typed APIs of models added after the server started).
class FallbackCall final : private CqTag {
 public:
  using Handler = std::function<void(FallbackCall*)>;

  grpc::GenericServerContext* context() { return &context_; }
  const std::string& method() const { return context_.method(); }
  grpc::ByteBuffer* request() { return &request_; }
  grpc::ByteBuffer* response() { return &response_; }
  // As UnaryCall::Finish.
  void Finish(const grpc::Status& status);

 private:
  friend class CqEngine;
  enum class State { kArmed, kReading, kAnswering, kFinishing };
  FallbackCall(CqEngine* engine, grpc::ServerCompletionQueue* queue);
  void Proceed(bool ok) override;
  void Ended(bool);
  void MaybeDelete();

  CqEngine* const engine_;
  grpc::ServerCompletionQueue* const queue_;
  grpc::GenericServerContext context_;
  grpc::GenericServerAsyncReaderWriter stream_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  cq_internal::MemberTag<FallbackCall, &FallbackCall::Ended> ended_tag_{this};
  State state_ = State::kArmed;
  bool finished_ = false;
  bool ended_ = false;
};

}  // namespace protoserve
