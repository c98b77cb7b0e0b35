#include "core/tracer.h"

#include <chrono>

namespace protoserve {

namespace {

int64_t SinceEpochNs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// A child span of the request's server span.
SpanData Child(const Tracer& tracer, const RequestTrace& trace, const char* name, Clock::time_point start,
               Clock::time_point end) {
  SpanData span;
  span.trace_id = trace.trace_id;
  span.span_id = NewSpanId();
  span.parent_span_id = trace.span_id;
  span.trace_state = trace.tracestate;
  span.flags = trace.Flags();
  span.name = name;
  span.start_unix_nano = tracer.UnixNanos(start);
  span.end_unix_nano = tracer.UnixNanos(end);
  return span;
}

// Exports the execute span of each batch that holds a traced request.
class BatchSpanObserver final : public RequestObserver {
 public:
  BatchSpanObserver(const Tracer* tracer, std::string model, int64_t version)
      : tracer_(tracer), model_(std::move(model)), version_(version) {}

  void OnBatch(const BatchEvent& event) override {
    const RequestTrace* parent = nullptr;
    SpanData span;
    for (const BatchEvent::Member& member : event.traced) {
      RequestTrace& trace = *member.trace;
      trace.queued = member.enqueued;
      trace.batch_start = event.start;
      trace.batch_end = event.end;
      trace.batch_requests = event.requests;
      // Exported members (the rule of Tracer::Finish) are linked.
      if (!trace.sampled && event.ok) continue;
      if (parent == nullptr) {
        parent = &trace;
        span.span_id = NewSpanId();
      }
      trace.batch_span = span.span_id;
      span.links.push_back({trace.trace_id, trace.span_id, {{"protoserve.request_id", trace.request_id}}});
    }
    if (parent == nullptr) return;  // no member is exported
    span.trace_id = parent->trace_id;
    span.parent_span_id = parent->span_id;
    span.trace_state = parent->tracestate;
    span.flags = parent->Flags();
    span.name = "execute";
    span.start_unix_nano = tracer_->UnixNanos(event.start);
    span.end_unix_nano = tracer_->UnixNanos(event.end);
    span.Set("protoserve.model.name", model_);
    span.Set("protoserve.model.version", version_);
    span.Set("protoserve.batch.size", static_cast<int64_t>(event.requests));
    span.Set("protoserve.batch.rows", event.rows);
    span.Set("protoserve.instance", static_cast<int64_t>(event.instance));
    if (!event.ok) span.error = true;
    std::vector<SpanData> spans;
    spans.push_back(std::move(span));
    tracer_->Export(std::move(spans));
  }

 private:
  const Tracer* const tracer_;
  const std::string model_;
  const int64_t version_;
};

}  // namespace

std::string RequestTrace::TraceResponse() const {
  return FormatTraceparent(trace_id, span_id, Flags());
}

Tracer::Tracer(SamplerConfig sampler, Sink sink)
    : sampler_(sampler),
      sink_(std::move(sink)),
      steady_to_unix_ns_(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count() -
          SinceEpochNs(Clock::now())) {}

int64_t Tracer::UnixNanos(Clock::time_point t) const { return SinceEpochNs(t) + steady_to_unix_ns_; }

std::shared_ptr<RequestTrace> Tracer::Start(std::string_view traceparent, std::string_view tracestate,
                                            const std::string& request_id, Api api, const char* operation) const {
  auto trace = std::make_shared<RequestTrace>();
  trace->start = Clock::now();
  const std::optional<TraceParent> parent = ParseTraceparent(traceparent);
  if (parent) {
    trace->trace_id = parent->trace_id;
    trace->parent_span_id = parent->span_id;
    trace->tracestate = SanitizeTracestate(tracestate);
  } else {
    trace->trace_id = NewTraceId();
  }
  trace->span_id = NewSpanId();
  trace->sampled = sampler_.ShouldSample(parent ? &*parent : nullptr, trace->trace_id);
  trace->request_id = request_id;
  trace->api = api;
  trace->operation = operation;
  return trace;
}

void Tracer::Finish(RequestTrace& trace, const Status& status) const {
  if (!Exported(trace, status)) return;
  const auto end = Clock::now();
  std::vector<SpanData> spans;
  spans.reserve(4);
  // The children first: the server span then takes the trace's strings (it ends here).
  if (trace.decode_end != Clock::time_point{}) {
    spans.push_back(Child(*this, trace, "decode", trace.decode_start, trace.decode_end));
  }
  if (trace.batch_start != Clock::time_point{}) {
    spans.push_back(Child(*this, trace, "queue", trace.queued, trace.batch_start));
  }
  if (trace.encode_start != Clock::time_point{}) {
    spans.push_back(Child(*this, trace, "encode", trace.encode_start, end));
  }
  SpanData& server = spans.emplace_back();
  server.trace_id = trace.trace_id;
  server.span_id = trace.span_id;
  server.parent_span_id = trace.parent_span_id;
  server.remote_parent = !IsZero(trace.parent_span_id);
  server.trace_state = std::move(trace.tracestate);
  server.flags = trace.Flags();
  server.name = trace.operation;
  server.kind = SpanKind::kServer;
  server.start_unix_nano = UnixNanos(trace.start);
  server.end_unix_nano = UnixNanos(end);
  server.attributes.reserve(12);
  server.Set("protoserve.model.name", std::move(trace.model));
  if (trace.version != 0) server.Set("protoserve.model.version", trace.version);
  server.Set("protoserve.api", std::string(ApiName(trace.api)));
  server.Set("protoserve.request_id", std::move(trace.request_id));
  server.Set("protoserve.status_code", std::string(StatusCodeName(status.code())));
  if (trace.route != nullptr) server.Set("protoserve.route", std::string(trace.route));
  if (trace.shadow_version != 0) server.Set("protoserve.shadow.version", trace.shadow_version);
  if (trace.request_bytes >= 0) server.Set("protoserve.request.bytes", trace.request_bytes);
  if (trace.response_bytes >= 0) server.Set("protoserve.response.bytes", trace.response_bytes);
  if (trace.batch_requests > 0) server.Set("protoserve.batch.size", static_cast<int64_t>(trace.batch_requests));
  // The execute span lives in the first linked request's trace; the
  // others find it through this attribute (and its link back to them).
  if (!IsZero(trace.batch_span)) server.Set("protoserve.batch.span_id", ToHex(trace.batch_span));
  if (!status.ok()) {
    server.error = true;
    server.status_message = status.message();
  }
  sink_(std::move(spans));
}

RequestObserverFactory Tracer::ObserverFactory() const {
  return [this](const std::string& model, int64_t version) -> std::shared_ptr<RequestObserver> {
    return std::make_shared<BatchSpanObserver>(this, model, version);
  };
}

}  // namespace protoserve
