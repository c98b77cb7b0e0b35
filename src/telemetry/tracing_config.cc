#include "telemetry/tracing_config.h"

#include <algorithm>
#include <cctype>
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

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The SDKs' format: comma-separated key=value pairs, values percent-encoded.
StatusOr<OtlpHeaders> ParseHeaders(std::string_view name, std::string_view text) {
  OtlpHeaders headers;
  const auto bad = [&](const std::string& why) {
    return InvalidArgument(std::string(name) + "='" + std::string(text) + "': " + why);
  };
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view pair = Trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return bad("expected key=value pairs separated by commas");
    std::string key(Trim(pair.substr(0, eq)));
    if (key.empty() || key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                           std::string::npos) {
      return bad("'" + key + "' is not a header name");
    }
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string_view encoded = Trim(pair.substr(eq + 1));
    std::string value;
    for (size_t i = 0; i < encoded.size(); ++i) {
      if (encoded[i] != '%') {
        value += encoded[i];
        continue;
      }
      const int hi = i + 2 < encoded.size() ? HexDigit(encoded[i + 1]) : -1;
      const int lo = i + 2 < encoded.size() ? HexDigit(encoded[i + 2]) : -1;
      if (hi < 0 || lo < 0) return bad("a bad percent-encoding in the value of '" + key + "'");
      value += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (value.find_first_of("\r\n") != std::string::npos || value.find('\0') != std::string::npos) {
      return bad("the value of '" + key + "' holds a line break or NUL");
    }
    headers.emplace_back(std::move(key), std::move(value));
  }
  return headers;
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
  if (std::string headers = lookup("OTEL_EXPORTER_OTLP_TRACES_HEADERS"); !headers.empty()) {
    ASSIGN_OR_RETURN(config.headers, ParseHeaders("OTEL_EXPORTER_OTLP_TRACES_HEADERS", headers));
  } else if (std::string base_headers = lookup("OTEL_EXPORTER_OTLP_HEADERS"); !base_headers.empty()) {
    ASSIGN_OR_RETURN(config.headers, ParseHeaders("OTEL_EXPORTER_OTLP_HEADERS", base_headers));
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
