// InferenceServer: the one request path every front-end calls.
//
// gRPC (KServe v2, typed APIs, Recommender), REST (/v2 and /v1), gRPC-Web and any
// future front-end decode their wire format, call this facade and encode
// what it hands back; none of them holds request logic of its own. The
// facade owns, in one place:
//   - the server state (STARTING -> READY -> DRAINING), set once by main;
//   - the order of checks: the model name, then the model's existence
//     (NOT_FOUND), and only then the body is decoded (INVALID_ARGUMENT) —
//     Triton's order, and no decoding work for a model that is not there;
//   - routing (version policy, traffic split keyed by the routing key),
//     shadow mirroring, in-flight accounting;
//   - the request context: an id (the client's, or made here), the API,
//     the deadline (the server default when the client set none), the
//     cancellation probe and a W3C traceparent, returned with the answer;
//   - the explicit model-control rule for load/unload.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/inference.h"
#include "core/metrics.h"
#include "core/model_repository.h"
#include "core/recommender.h"
#include "core/tracer.h"

namespace protoserve {

class FeedbackLoop;
class RolloutController;

enum class ServerState { kStarting, kReady, kDraining };

// What travels with one request from the wire to the reply.
struct RequestContext {
  std::string id;  // the client's (KServe `id`, x-request-id) or made by the server
  Api api = Api::kGrpc;
  Clock::time_point deadline = Clock::time_point::max();  // max: the server default applies
  std::function<bool()> is_cancelled;                      // optional
  std::string traceparent;                                 // W3C trace context, if the caller sent one
  std::string tracestate;                                  // its W3C tracestate, if any
  int64_t request_bytes = -1;  // the request's size on the wire, when known (traced requests)
  const char* operation = "ModelInfer";  // the trace's server span name (e.g. the typed method's)
};

// A core request decoded from the wire, produced only once the model is known.
struct DecodedRequest {
  InferenceRequest request;
  std::string routing_key;  // sticky traffic splits (e.g. the user id)
  std::string id;           // the body's own request id (KServe `id`), if any: echoed instead
  // A deadline the body itself sets (Triton's "timeout" parameter); max: none.
  Clock::time_point deadline = Clock::time_point::max();
  // Inputs are views into a wire message that may die before a shadow copy
  // finishes: the shadow then gets deep copies.
  bool inputs_are_views = false;
  // The answer is a ranked list of items (core/recommender.h): the answering
  // version ranks them (InferResult::items), the prediction log records them
  // and a shadow is compared by top-k overlap.
  std::shared_ptr<const ItemRanking> ranking = nullptr;
};

// Kept by the front-end until it hands the answer to the wire: the version
// that answered stays alive and the request counts as in flight until then.
class RequestScope {
 public:
  RequestScope() = default;
  RequestScope(Metrics* metrics, Api api) : inflight_(std::make_unique<InFlightGuard>(metrics, api)) {}
  // The answer is being written: no longer in flight; a traced request's
  // spans end here (encoding done), or when the scope is destroyed.
  void Release() {
    inflight_.reset();
    trace_end_.reset();
  }

  // Tracing (InferenceServer with a Tracer): before Release(), the
  // front-end reports the size of its answer and hands the trace id back to
  // its caller. No-ops when not traced.
  bool traced() const { return trace_end_ != nullptr; }
  void set_response_bytes(int64_t bytes) {
    if (trace_end_) trace_end_->trace->response_bytes = bytes;
  }
  // The server span as a W3C traceparent, the value of the `traceresponse`
  // header or trailer: only for a request whose spans are exported
  // (head-sampled, or failed; Tracer::Exported), so that it always names a
  // trace the collector has. "" otherwise: an unsampled request that succeeded
  // leaves no trace to look up, and a unique trailer on every gRPC call cost
  // ~8% of a traced call's CPU at ratio 0.01 (docs/observability.md).
  std::string TraceResponse() const {
    return trace_end_ && Tracer::Exported(*trace_end_->trace, trace_end_->status) ? trace_end_->trace->TraceResponse()
                                                                                  : std::string();
  }
  // The facade: finish `trace` with `status` when this scope is released.
  void FinishTraceOnRelease(const Tracer* tracer, std::shared_ptr<RequestTrace> trace, Status status) {
    trace_end_ = std::make_unique<TraceEnd>(tracer, std::move(trace), std::move(status));
  }

 private:
  struct TraceEnd {
    TraceEnd(const Tracer* t, std::shared_ptr<RequestTrace> r, Status s)
        : tracer(t), trace(std::move(r)), status(std::move(s)) {}
    ~TraceEnd() { tracer->Finish(*trace, status); }
    TraceEnd(const TraceEnd&) = delete;
    TraceEnd& operator=(const TraceEnd&) = delete;
    const Tracer* tracer;
    std::shared_ptr<RequestTrace> trace;
    Status status;
  };
  std::unique_ptr<InFlightGuard> inflight_;
  std::unique_ptr<TraceEnd> trace_end_;
};

struct InferResult {
  std::shared_ptr<ModelVersion> model;  // the version that answered (null on early errors)
  InferenceResponse response;
  std::string id;  // the request id to echo
  RequestScope scope;
  RankedItems items;  // when the decoded request asked for a ranking
};

struct ServerOptions {
  std::chrono::milliseconds default_timeout{0};  // 0: calls without a deadline have none
  bool explicit_control = false;                  // load/unload allowed (explicit control mode)
  // When not empty, load/unload and the rollout's start/abort are refused
  // (PERMISSION_DENIED) with this reason: management needs a token by
  // default, and the server has none.
  std::string management_refused;
  // Traces every request when set (must outlive the server); null: off.
  const Tracer* tracer = nullptr;
};

class InferenceServer {
 public:
  // Called once the model is known, with the version routing would pick by
  // default (for bounds checks before parsing, e.g. max_request_elements()).
  using Decode = std::function<StatusOr<DecodedRequest>(const ModelVersion& model)>;
  using InferDone = std::function<void(Status, InferResult)>;

  // All must outlive the server; `metrics` may be null.
  InferenceServer(ModelRepository* repository, Metrics* metrics, ServerOptions options);

  void set_state(ServerState state) { state_.store(state); }
  ServerState state() const { return state_.load(); }
  bool Live() const { return true; }
  // READY state and every model has a ready version.
  bool Ready() const;

  // Fills a missing id, applies the default deadline. Front-ends call it once per request.
  void Prepare(RequestContext* context) const;

  // Model `name` (version text as on the wire, "" or "0": the server's
  // choice), then `decode`, then route, queue and run. `done` is called
  // exactly once, possibly before this returns.
  void Infer(RequestContext context, const std::string& name, std::string_view version, const Decode& decode,
             InferDone done) const;

  // Known model: ready or not; unknown model: NOT_FOUND.
  StatusOr<bool> ModelReady(const std::string& name, std::string_view version) const;
  // The config of a known model (and, with a version, only if that version is ready).
  StatusOr<ModelConfig> Config(const std::string& name, std::string_view version) const;
  // UNAVAILABLE unless the server runs in explicit model control mode;
  // PERMISSION_DENIED when management is refused (ServerOptions).
  Status CheckModelControl() const;
  // Explicit control mode only; `has_parameters`: config/file overrides (unsupported).
  Status LoadModel(const std::string& name, bool has_parameters) const;
  Status UnloadModel(const std::string& name) const;
  // Management calls other than load/unload (a rollout's start and abort):
  // PERMISSION_DENIED when management is refused (ServerOptions), whatever
  // the model control mode. The ports' authorisation (scope `manage`,
  // loopback peers) applies before, as for load/unload.
  Status CheckManagement() const;

  // A request its front-end refused before it could call Infer or
  // Recommend (a body that does not parse as its wire format, bad framing):
  // with tracing on, one SERVER span `context->operation` with the error (exported,
  // as every failure is), whose scope gives the front-end its traceresponse;
  // an empty scope otherwise. Fills a missing request id, as Prepare.
  RequestScope Refused(RequestContext* context, const Status& status) const;

  // A Tracer is configured: front-ends then read trace headers and sizes.
  bool tracing() const { return options_.tracer != nullptr; }

  ModelRepository& repository() const { return *repository_; }
  Metrics* metrics() const { return metrics_; }
  // The prediction log, join window and online metrics (feedback_loop.h):
  // told of every answered prediction before its client is. Set before
  // serving; null (the default): no log and no feedback APIs.
  void set_feedback_loop(FeedbackLoop* loop) { feedback_loop_ = loop; }
  FeedbackLoop* feedback_loop() const { return feedback_loop_; }
  // The progressive rollout controller (rollout_controller.h); null: the
  // rollout API answers UNIMPLEMENTED. Set before serving.
  void set_rollout_controller(RolloutController* controller) { rollout_controller_ = controller; }
  RolloutController* rollout_controller() const { return rollout_controller_; }

 private:
  ModelRepository* const repository_;
  // The trace of `context`, started (tracing on); the caller finishes it.
  std::shared_ptr<RequestTrace> StartTrace(const RequestContext& context) const;

  Metrics* const metrics_;
  const ServerOptions options_;
  FeedbackLoop* feedback_loop_ = nullptr;
  RolloutController* rollout_controller_ = nullptr;
  std::atomic<ServerState> state_{ServerState::kStarting};
};

// A fresh request id: 32 lowercase hex digits, unique within the process and
// unlikely to repeat across processes.
std::string MakeRequestId();
// Request ids a client may send: 1..128 printable ASCII characters.
bool IsValidRequestId(std::string_view id);

}  // namespace protoserve
