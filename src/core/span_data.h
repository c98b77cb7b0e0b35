// SpanData: one finished span, in the words of the OpenTelemetry trace
// model (ids, parent, name, kind, times, attributes, links, status), ready
// for an exporter to encode (src/telemetry encodes it as OTLP protobuf).
// Plain values: built once by the tracer, then moved, never shared.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/trace_context.h"

namespace protoserve {

using AttributeValue = std::variant<std::string, int64_t, double, bool>;

struct SpanAttribute {
  std::string_view key;  // a string literal: attribute names are static (no allocation per span)
  AttributeValue value;
};

enum class SpanKind { kInternal, kServer };

struct SpanLink {
  TraceId trace_id{};
  SpanId span_id{};
  std::vector<SpanAttribute> attributes;
};

struct SpanData {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  // all zero: a root span
  std::string trace_state;
  uint8_t flags = kTraceFlagSampled;  // W3C trace flags
  bool remote_parent = false;  // the parent came in a traceparent
  std::string_view name;  // a string literal: span names are static
  SpanKind kind = SpanKind::kInternal;
  int64_t start_unix_nano = 0;
  int64_t end_unix_nano = 0;
  std::vector<SpanAttribute> attributes;
  std::vector<SpanLink> links;
  bool error = false;  // OTLP status ERROR (else UNSET)
  std::string status_message;

  void Set(std::string_view key, AttributeValue value) { attributes.push_back({key, std::move(value)}); }
};

}  // namespace protoserve
