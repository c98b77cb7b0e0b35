// OtlpGrpcExporter: OTLP over gRPC (the OpenTelemetry protocol's `grpc`):
// each batch is one unary call of
// opentelemetry.proto.collector.trace.v1.TraceService/Export on a channel
// to the collector (e.g. http://collector:4317; https:// uses TLS with the
// system's roots), made once and reused.
//
// Every export is bounded by `timeout` (the call's deadline): a collector
// that is down or hangs costs the export thread at most that, never a
// request. Failures are not retried (the batch is counted as failed, and
// logged with the first and every 100th); a partial success (the collector
// rejected some spans) is logged and counts as exported.
//
// Thread-safety: Export() is called from one thread (BatchSpanProcessor).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch_span_processor.h"
#include "core/status.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "telemetry/otlp_encoder.h"
#include "telemetry/tracing_config.h"

namespace protoserve {

// "http://host:port" or "https://host:port" (a trailing "/" allowed) -> the
// channel target and whether it uses TLS; INVALID_ARGUMENT otherwise.
struct OtlpGrpcTarget {
  std::string target;  // host:port
  bool tls = false;
};
StatusOr<OtlpGrpcTarget> ParseOtlpGrpcEndpoint(std::string_view url);

class OtlpGrpcExporter final : public SpanExporter {
 public:
  // `headers` are sent as metadata on every call (OTEL_EXPORTER_OTLP_HEADERS).
  OtlpGrpcExporter(OtlpGrpcTarget target, std::chrono::milliseconds timeout, ResourceAttributes resource,
                   OtlpHeaders headers = {});

  Status Export(std::vector<SpanData>& spans) override;

 private:
  const OtlpGrpcTarget target_;
  const std::chrono::milliseconds timeout_;
  const ResourceAttributes resource_;
  const OtlpHeaders headers_;
  std::unique_ptr<opentelemetry::proto::collector::trace::v1::TraceService::Stub> stub_;
  uint64_t failures_ = 0;  // Export's thread only
};

}  // namespace protoserve
