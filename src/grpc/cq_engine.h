// CqEngine: every gRPC method of the server served on gRPC's completion-queue
// (async) API, by `threads` completion queues with one polling thread each
// (default 1).
//
// Why not the callback API: gRPC 1.51 runs callbacks from a completion queue
// of its own, polled by at least two threads (Clamp(cores / 2, 2, 16)) that
// hand each call between them: a canned reply cost 55-79 us of server CPU at
// concurrency 1 on the callback API against 30-35 us here, and the whole
// recommender request 1.6-2.3x less (docs/benchmarks.md, "the engine").
// A single callback service beside this engine brings those threads back, so
// nothing in the server uses the callback API: the services register their
// methods here (GrpcService::Register) and gRPC's health service is
// grpc/health_service.h.
//
// A method is registered by its full name ("/package.Service/Method") with
// its request and response types, before the server starts:
//   - unary: `handler(call)` runs on the queue's thread; it fills
//     call->response() and calls call->Finish(status) exactly once, from any
//     thread (a reply can be sent from the thread that completes the work);
//     a `blocking` method's handler runs on a thread of its own instead
//     (model loads, SQLite): the queue's thread never waits;
//   - bidi streaming: `process(context, request, done)` for each message, in
//     flight together (up to 64 per stream); the i-th response written is
//     the i-th request's (OrderedStream, grpc/cq_calls.h); `done` from any thread;
//   - server streaming: `start(call)`; then call->Write() and call->Finish()
//     from any thread; the engine calls the `on_done` the handler set once,
//     when the call ends (finished or the client gone);
//   - every other method (the fallback): unary calls with byte buffers.
// Each call's request and response live on a protobuf arena inside the call.
// A queue's thread takes every event already there before the quick models
// it queued execute (core/dynamic_batcher.h: InlineBatchScope): the calls of
// one poll batch together, on that thread.
//
// Lifecycle: Register*() before AddTo(builder); AddTo() before BuildAndStart;
// Start() after it; after the server's Shutdown(), Stop() waits for every
// call it handed to a handler to finish, then drains the queues and joins.
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpc/cq_calls.h"

namespace protoserve {

// How a unary method is served (outside CqEngine: clang needs the default
// member initializers complete where CqEngine uses the type as a default argument).
struct CqMethodOptions {
  int slots = 2;          // calls armed per queue (busy methods: more)
  bool blocking = false;  // run the handler on a worker thread (RunBlocking)
};

class CqEngine {
 public:
  using MethodOptions = CqMethodOptions;

  explicit CqEngine(int threads = 1) : threads_(threads < 1 ? 1 : threads) {}
  ~CqEngine();
  CqEngine(const CqEngine&) = delete;
  CqEngine& operator=(const CqEngine&) = delete;

  template <typename Request, typename Response>
  void AddUnary(const std::string& name, typename UnaryCall<Request, Response>::Handler handler,
                MethodOptions options = {}) {
    auto method = std::make_unique<UnaryMethod<Request, Response>>();
    method->core = Core(name, grpc::internal::RpcMethod::NORMAL_RPC);
    method->handler = std::move(handler);
    method->blocking = options.blocking;
    method->slots = options.slots;
    methods_.push_back(std::move(method));
  }
  template <typename Request, typename Response>
  void AddBidiStream(const std::string& name, typename OrderedStream<Request, Response>::Process process) {
    auto method = std::make_unique<BidiMethod<Request, Response>>();
    method->core = Core(name, grpc::internal::RpcMethod::BIDI_STREAMING);
    method->process = std::move(process);
    methods_.push_back(std::move(method));
  }
  template <typename Request, typename Response>
  void AddServerStream(const std::string& name, typename ServerStreamCall<Request, Response>::Handler handler) {
    auto method = std::make_unique<ServerStreamMethod<Request, Response>>();
    method->core = Core(name, grpc::internal::RpcMethod::SERVER_STREAMING);
    method->handler = std::move(handler);
    methods_.push_back(std::move(method));
  }
  // Every method not registered; without one such calls are UNIMPLEMENTED.
  void SetFallback(FallbackCall::Handler handler) { fallback_ = std::move(handler); }

  // Registers the methods and the queues with `builder`.
  void AddTo(grpc::ServerBuilder* builder);
  // After BuildAndStart: arms every method on every queue and starts the threads.
  void Start();
  // After the server's Shutdown() (see the file comment).
  void Stop();

  // Runs `work` on a worker thread for blocking handlers: an idle one, or a
  // new one when all are busy (so a model load never delays another call).
  void RunBlocking(std::function<void()> work);

 private:
  friend class FallbackCall;
  template <typename Request, typename Response>
  friend class UnaryCall;

  struct UnaryBase : cq_internal::Method {
    cq_internal::MethodCore core{};
    bool blocking = false;
  };
  template <typename Request, typename Response>
  struct UnaryMethod final : UnaryBase {
    typename UnaryCall<Request, Response>::Handler handler;
    void Arm(grpc::ServerCompletionQueue* queue) override {
      new UnaryCall<Request, Response>(&core, &handler, blocking, queue);
    }
  };
  template <typename Request, typename Response>
  struct BidiMethod final : cq_internal::Method {
    cq_internal::MethodCore core{};
    typename OrderedStream<Request, Response>::Process process;
    void Arm(grpc::ServerCompletionQueue* queue) override {
      new OrderedStream<Request, Response>(&core, &process, queue);
    }
  };
  template <typename Request, typename Response>
  struct ServerStreamMethod final : cq_internal::Method {
    cq_internal::MethodCore core{};
    typename ServerStreamCall<Request, Response>::Handler handler;
    void Arm(grpc::ServerCompletionQueue* queue) override {
      new ServerStreamCall<Request, Response>(&core, &handler, queue);
    }
  };

  cq_internal::MethodCore Core(const std::string& name, grpc::internal::RpcMethod::RpcType type) {
    names_.push_back(name);
    return {&table_, &counter_, this, table_.Add(names_.back().c_str(), type)};
  }

  const int threads_;
  cq_internal::MethodTable table_;
  std::deque<std::string> names_;  // gRPC keeps pointers to them
  std::vector<std::unique_ptr<cq_internal::Method>> methods_;
  FallbackCall::Handler fallback_;
  grpc::AsyncGenericService generic_;
  cq_internal::CallCounter counter_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> pollers_;
  // A queue's thread: takes its events until the queue shuts down.
  static void Poll(grpc::ServerCompletionQueue* queue);
  // Events taken before the deferred executions of a poll run.
  static constexpr int kMaxEventsPerPoll = 64;
  void BlockingWorker();
  std::mutex blocking_mu_;  // guards the four below
  std::condition_variable blocking_ready_;
  std::deque<std::function<void()>> blocking_work_;
  std::vector<std::thread> blocking_;
  int blocking_idle_ = 0;
  bool blocking_stop_ = false;
  bool stopped_ = false;
};

template <typename Request, typename Response>
void UnaryCall<Request, Response>::Proceed(bool ok) {
  if (answering_) {  // the answer went out (or the call died)
    finished_ = true;
    MaybeDelete();
    return;
  }
  if (!ok) {  // the server shuts down: no call came, and no done notification will
    delete this;
    return;
  }
  answering_ = true;
  new UnaryCall(method_, handler_, blocking_, queue_);  // keep the slot armed
  method_->counter->Opened();
  if (blocking_) {
    method_->engine->RunBlocking([this] { (*handler_)(this); });
  } else {
    (*handler_)(this);
  }
}

}  // namespace protoserve
