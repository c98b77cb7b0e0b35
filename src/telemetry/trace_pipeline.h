// TracePipeline: the server's tracing, wired from a TracingConfig: a Tracer
// (core) whose spans go through a BatchSpanProcessor to the OTLP/HTTP or
// OTLP/gRPC exporter (TracingConfig::protocol), with its counters on the server's Prometheus registry:
//   protoserve_trace_spans_exported_total  spans the collector accepted
//   protoserve_trace_spans_failed_total    spans in exports that failed (down, timeout, non-2xx)
//   protoserve_trace_spans_dropped_total   spans dropped because the queue was full
//
// Thread-safety: tracer() is used from any thread; Shutdown() once, after
// the front-ends stopped (it exports what is queued).
#pragma once

#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "core/batch_span_processor.h"
#include "core/status.h"
#include "core/tracer.h"
#include "telemetry/tracing_config.h"

namespace protoserve {

class TracePipeline {
 public:
  // `registry` may be null (no counters). `version`: service.version.
  static StatusOr<std::unique_ptr<TracePipeline>> Create(const TracingConfig& config, const std::string& version,
                                                         prometheus::Registry* registry);
  ~TracePipeline();

  const Tracer* tracer() const { return tracer_.get(); }
  // Exports what is queued (bounded by the export timeout per batch) and stops.
  void Shutdown();

 private:
  TracePipeline() = default;

  std::unique_ptr<BatchSpanProcessor> processor_;
  std::unique_ptr<Tracer> tracer_;
};

}  // namespace protoserve
