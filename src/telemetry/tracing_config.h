// TracingConfig: how the server traces, named as the OpenTelemetry SDKs name
// it (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):
//
//   OTEL_TRACES_EXPORTER                 otlp | none (default none: tracing off)
//   OTEL_EXPORTER_OTLP_PROTOCOL          http/protobuf (default) or grpc (also _TRACES_PROTOCOL, which wins)
//   OTEL_EXPORTER_OTLP_ENDPOINT          base URL; http/protobuf: default http://localhost:4318, traces go to
//                                        <base>/v1/traces; grpc: default http://localhost:4317, used as is
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   the traces URL itself (wins over the base; used as is)
//   OTEL_EXPORTER_OTLP_HEADERS           "key=value,key2=value2" (values percent-encoded) on every export,
//                                        e.g. a collector's API key (also _TRACES_HEADERS, which wins)
//   OTEL_TRACES_SAMPLER / _ARG           see core/trace_sampler.h (default parentbased_always_on)
//   OTEL_BSP_SCHEDULE_DELAY              ms between exports (5000)
//   OTEL_BSP_MAX_QUEUE_SIZE              spans queued at most; more are dropped (2048)
//   OTEL_BSP_MAX_EXPORT_BATCH_SIZE       spans per export (512)
//   OTEL_BSP_EXPORT_TIMEOUT              ms one export may take (30000)
//   OTEL_SERVICE_NAME                    resource service.name (default "protoserve")
//
// The server's --otel-* flags have the same names and meanings and win over
// the environment; main.cc reads both and hands a lookup to Parse, so
// nothing here reads the environment itself.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/batch_span_processor.h"
#include "core/status.h"
#include "core/trace_sampler.h"

namespace protoserve {

enum class OtlpProtocol { kHttpProtobuf, kGrpc };

// Header (gRPC metadata) names, lower-cased, and their decoded values.
using OtlpHeaders = std::vector<std::pair<std::string, std::string>>;

struct TracingConfig {
  bool enabled = false;                                       // OTEL_TRACES_EXPORTER=otlp
  OtlpProtocol protocol = OtlpProtocol::kHttpProtobuf;
  std::string traces_endpoint = "http://localhost:4318/v1/traces";
  OtlpHeaders headers;
  SamplerConfig sampler;
  std::chrono::milliseconds schedule_delay{5000};
  size_t max_queue_size = 2048;
  size_t max_export_batch_size = 512;
  std::chrono::milliseconds export_timeout{30000};
  std::string service_name = "protoserve";
};

// The names TracingConfig reads, for main.cc's flags.
inline constexpr std::string_view kTracingVariables[] = {
    "OTEL_TRACES_EXPORTER",         "OTEL_EXPORTER_OTLP_ENDPOINT",    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",  "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",      "OTEL_BSP_SCHEDULE_DELAY",        "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_BSP_EXPORT_TIMEOUT",      "OTEL_SERVICE_NAME"};

// `lookup(name)`: the variable's value, "" when unset. INVALID_ARGUMENT
// names the variable that is wrong.
StatusOr<TracingConfig> ParseTracingConfig(const std::function<std::string(std::string_view)>& lookup);

}  // namespace protoserve
