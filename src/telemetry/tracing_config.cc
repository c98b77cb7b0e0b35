#include "telemetry/tracing_config.h"

#include <algorithm>
#include <charconv>

namespace protoserve {

namespace {

StatusOr<int64_t> NonNegative(std::string_view name, const std::string& text, int64_t fallback) {
  if (text.empty()) return fallback;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) {
    return InvalidArgument(std::string(name) + "='" + text + "': expected a non-negative integer");
  }
  return value;
}

}  // namespace

StatusOr<TracingConfig> ParseTracingConfig(const std::function<std::string(std::string_view)>& lookup) {
  TracingConfig config;
  const std::string exporter = lookup("OTEL_TRACES_EXPORTER");
  if (exporter == "otlp") {
    config.enabled = true;
  } else if (!exporter.empty() && exporter != "none") {
    return InvalidArgument("OTEL_TRACES_EXPORTER='" + exporter + "': otlp or none");
  }
  std::string protocol = lookup("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
  if (protocol.empty()) protocol = lookup("OTEL_EXPORTER_OTLP_PROTOCOL");
  if (protocol == "grpc") {
    config.protocol = OtlpProtocol::kGrpc;
    config.traces_endpoint = "http://localhost:4317";
  } else if (!protocol.empty() && protocol != "http/protobuf") {
    return InvalidArgument("OTEL_EXPORTER_OTLP_PROTOCOL='" + protocol + "': http/protobuf or grpc");
  }
  if (std::string url = lookup("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); !url.empty()) {
    config.traces_endpoint = url;  // used as is (the spec's rule for the signal-specific variable)
  } else if (std::string base = lookup("OTEL_EXPORTER_OTLP_ENDPOINT"); !base.empty()) {
    // OTLP/gRPC names a host, not a path: the base is the endpoint.
    if (config.protocol == OtlpProtocol::kGrpc) {
      config.traces_endpoint = base;
    } else {
      if (base.back() == '/') base.pop_back();
      config.traces_endpoint = base + "/v1/traces";
    }
  }
  ASSIGN_OR_RETURN(config.sampler, ParseSamplerConfig(lookup("OTEL_TRACES_SAMPLER"), lookup("OTEL_TRACES_SAMPLER_ARG")));
  ASSIGN_OR_RETURN(int64_t delay, NonNegative("OTEL_BSP_SCHEDULE_DELAY", lookup("OTEL_BSP_SCHEDULE_DELAY"), 5000));
  ASSIGN_OR_RETURN(int64_t queue, NonNegative("OTEL_BSP_MAX_QUEUE_SIZE", lookup("OTEL_BSP_MAX_QUEUE_SIZE"), 2048));
  ASSIGN_OR_RETURN(int64_t batch,
                   NonNegative("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", lookup("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"), 512));
  ASSIGN_OR_RETURN(int64_t timeout, NonNegative("OTEL_BSP_EXPORT_TIMEOUT", lookup("OTEL_BSP_EXPORT_TIMEOUT"), 30000));
  if (queue == 0 || batch == 0) return InvalidArgument("OTEL_BSP_MAX_QUEUE_SIZE and OTEL_BSP_MAX_EXPORT_BATCH_SIZE must be > 0");
  // The SDK spec: a batch larger than the queue is clamped to it.
  config.schedule_delay = std::chrono::milliseconds(delay);
  config.max_queue_size = static_cast<size_t>(queue);
  config.max_export_batch_size = static_cast<size_t>(std::min(batch, queue));
  config.export_timeout = std::chrono::milliseconds(timeout == 0 ? 30000 : timeout);
  if (std::string name = lookup("OTEL_SERVICE_NAME"); !name.empty()) config.service_name = name;
  return config;
}

}  // namespace protoserve
