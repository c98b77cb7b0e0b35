#include "telemetry/trace_pipeline.h"

#include <prometheus/counter.h>

#include "telemetry/otlp_grpc_exporter.h"
#include "telemetry/otlp_http_exporter.h"

namespace protoserve {

namespace {

std::function<void(uint64_t)> CounterOf(prometheus::Registry* registry, const std::string& name,
                                        const std::string& help) {
  if (registry == nullptr) return nullptr;
  prometheus::Counter* counter = &prometheus::BuildCounter().Name(name).Help(help).Register(*registry).Add({});
  return [counter](uint64_t n) { counter->Increment(static_cast<double>(n)); };
}

}  // namespace

StatusOr<std::unique_ptr<TracePipeline>> TracePipeline::Create(const TracingConfig& config,
                                                                const std::string& version,
                                                                prometheus::Registry* registry) {
  std::unique_ptr<SpanExporter> exporter;
  const ResourceAttributes resource = ServerResource(config.service_name, version);
  if (config.protocol == OtlpProtocol::kGrpc) {
    ASSIGN_OR_RETURN(OtlpGrpcTarget target, ParseOtlpGrpcEndpoint(config.traces_endpoint));
    exporter = std::make_unique<OtlpGrpcExporter>(std::move(target), config.export_timeout, resource, config.headers);
  } else {
    ASSIGN_OR_RETURN(OtlpEndpoint endpoint, ParseOtlpEndpoint(config.traces_endpoint));
    exporter = std::make_unique<OtlpHttpExporter>(std::move(endpoint), config.export_timeout, resource, config.headers);
  }
  BatchSpanOptions options;
  options.schedule_delay = config.schedule_delay;
  options.max_queue_size = config.max_queue_size;
  options.max_export_batch_size = config.max_export_batch_size;
  options.on_exported = CounterOf(registry, "protoserve_trace_spans_exported_total",
                                  "Spans exported to the OTLP collector (accepted: a 2xx answer, or an OK gRPC status)");
  options.on_failed = CounterOf(registry, "protoserve_trace_spans_failed_total",
                                "Spans in OTLP exports that failed (collector down, timeout, non-2xx answer or gRPC error)");
  options.on_dropped = CounterOf(registry, "protoserve_trace_spans_dropped_total",
                                 "Spans dropped because the export queue was full (OTEL_BSP_MAX_QUEUE_SIZE)");
  std::unique_ptr<TracePipeline> pipeline(new TracePipeline());
  pipeline->processor_ = std::make_unique<BatchSpanProcessor>(std::move(options), std::move(exporter));
  BatchSpanProcessor* processor = pipeline->processor_.get();
  pipeline->tracer_ = std::make_unique<Tracer>(
      config.sampler, [processor](std::vector<SpanData> spans) { processor->Submit(std::move(spans)); });
  return pipeline;
}

TracePipeline::~TracePipeline() { Shutdown(); }

void TracePipeline::Shutdown() {
  if (processor_) processor_->Shutdown();
}

}  // namespace protoserve
