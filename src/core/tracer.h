// Tracer: the spans of each request, from the caller's W3C traceparent to a
// SpanData sink (the BatchSpanProcessor in the server).
//
// Per request (made by the facade, InferenceServer, only when a Tracer is
// configured: tracing off costs one null check):
//   <operation> (SERVER)   the whole request; parent: the caller's span
//     decode               the body decoded into tensors (ModelInfer)
//     queue                queued in the version's batcher, until its batch formed
//     execute              the batch's execution: ONE span per batch, child of
//                          the first exported request in it, with a span link to
//                          every exported request of the batch (OTel's batching
//                          pattern), batch size, rows and instance as attributes
//     encode               the front-end encoding the answer for its wire
//
// Sampling: the head decision (TraceSampler) is taken at the start and
// returned to the caller in `traceresponse`; every request is nevertheless
// recorded (a few timestamps in a RequestTrace), and at its end it is
// exported when head-sampled OR failed: errors are always exported, which a
// head-only decision cannot do. An unsampled OK request is dropped at Finish.
// The execute span follows the same rule at batch end (any member sampled,
// or the batch failed).
//
// Thread-safety: Tracer is immutable; a RequestTrace is written by one
// thread at a time, handed over with the request (queue mutex, callbacks).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/request_observer.h"
#include "core/scheduler.h"
#include "core/span_data.h"
#include "core/status.h"
#include "core/trace_context.h"
#include "core/trace_sampler.h"

namespace protoserve {

// What the tracer records of one request while it runs.
class RequestTrace {
 public:
  TraceId trace_id{};
  SpanId span_id{};         // the server span
  SpanId parent_span_id{};  // the caller's span; zero for a new trace
  std::string tracestate;
  bool sampled = false;  // head decision
  std::string request_id;
  const char* operation = "";
  Api api = Api::kGrpc;
  Clock::time_point start{};
  // Facade and router facts (attributes).
  std::string model;
  int64_t version = 0;
  const char* route = nullptr;  // "explicit", "split" or "latest" once routed
  int64_t shadow_version = 0;   // mirrored to this version (0: not)
  int64_t request_bytes = -1;   // -1: unknown
  int64_t response_bytes = -1;
  // Phases (time_point{}: did not happen).
  Clock::time_point decode_start{}, decode_end{};
  Clock::time_point queued{}, batch_start{}, batch_end{};
  Clock::time_point encode_start{};
  size_t batch_requests = 0;
  SpanId batch_span{};  // the execute span (possibly in another request's trace)

  // The router's decision: `requested` 0 is the default version.
  void NoteRoute(int64_t requested, bool split, int64_t answering, int64_t shadow) {
    route = requested != 0 ? "explicit" : split ? "split" : "latest";
    version = answering;
    shadow_version = shadow;
  }
  // The server span as a traceparent: the response's `traceresponse`.
  std::string TraceResponse() const;
  std::string TraceIdHex() const { return ToHex(trace_id); }
  // W3C trace flags: sampled by the head decision (an error exported
  // without it keeps 00, so the flag tells the two apart).
  uint8_t Flags() const { return sampled ? kTraceFlagSampled : 0; }
};

class Tracer {
 public:
  using Sink = std::function<void(std::vector<SpanData>)>;

  // `sink` receives each request's (and each batch's) exported spans.
  Tracer(SamplerConfig sampler, Sink sink);

  // A new request's trace. `traceparent`/`tracestate`: as the caller sent
  // them (invalid or empty: a new trace).
  std::shared_ptr<RequestTrace> Start(std::string_view traceparent, std::string_view tracestate,
                                      const std::string& request_id, Api api, const char* operation) const;
  // Whether a request answered with `status` is exported: head-sampled, or failed.
  static bool Exported(const RequestTrace& trace, const Status& status) { return trace.sampled || !status.ok(); }
  // The request was answered with `status` (the front-end has encoded it):
  // its spans go to the sink if Exported (taking the trace's strings: it ends here).
  void Finish(RequestTrace& trace, const Status& status) const;
  // One observer per version: the execute span of each batch (OnBatch).
  RequestObserverFactory ObserverFactory() const;

  // Steady clock -> Unix nanoseconds (OTLP times), fixed at construction.
  int64_t UnixNanos(Clock::time_point t) const;
  void Export(std::vector<SpanData> spans) const { sink_(std::move(spans)); }

 private:
  const TraceSampler sampler_;
  const Sink sink_;
  const int64_t steady_to_unix_ns_;
};

}  // namespace protoserve
