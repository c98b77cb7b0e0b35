// TraceSampler: the head-sampling decision of a new server span, as the
// OpenTelemetry SDK samplers make it (OTEL_TRACES_SAMPLER names):
//   always_on, always_off, traceidratio (ratio of trace ids),
//   parentbased_always_on / parentbased_always_off / parentbased_traceidratio:
//   follow the caller's sampled flag when a traceparent came in, else the
//   named root sampler.
// traceidratio keys on the trace id's last 8 bytes (the random part in W3C
// Trace Context level 2), so every server that sees a trace decides alike.
//
// Failed requests are exported whatever this decides: the tracer records
// every request and decides again at its end (tracer.h).
//
// Thread-safety: immutable after construction.
#pragma once

#include <string_view>

#include "core/status.h"
#include "core/trace_context.h"

namespace protoserve {

enum class SamplerKind {
  kAlwaysOn,
  kAlwaysOff,
  kTraceIdRatio,
  kParentBasedAlwaysOn,
  kParentBasedAlwaysOff,
  kParentBasedTraceIdRatio,
};

struct SamplerConfig {
  SamplerKind kind = SamplerKind::kParentBasedAlwaysOn;  // the SDKs' default
  double ratio = 1.0;                                    // traceidratio kinds only, in [0, 1]
};

// From OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG ("" for either: the
// default). INVALID_ARGUMENT for an unknown name or a ratio outside [0, 1].
StatusOr<SamplerConfig> ParseSamplerConfig(std::string_view name, std::string_view arg);
const char* SamplerName(SamplerKind kind);

class TraceSampler {
 public:
  explicit TraceSampler(SamplerConfig config);

  // `parent`: the caller's span, null for a new trace.
  bool ShouldSample(const TraceParent* parent, const TraceId& trace_id) const;

 private:
  bool RootDecision(const TraceId& trace_id) const;

  const SamplerConfig config_;
  uint64_t threshold_ = 0;  // trace ids below it are sampled (traceidratio)
  bool all_ = false;        // ratio 1: every id, even the largest
};

}  // namespace protoserve
