// The core's SpanData as an OTLP ExportTraceServiceRequest (the protobuf
// body of POST /v1/traces): one ResourceSpans with the server's resource
// (service.name, ...), one ScopeSpans ("protoserve"), the spans in order.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/span_data.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace protoserve {

// Resource attributes (OpenTelemetry semantic conventions: service.name ...).
using ResourceAttributes = std::vector<std::pair<std::string, std::string>>;

ResourceAttributes ServerResource(const std::string& service_name, const std::string& service_version);

void EncodeSpans(const std::vector<SpanData>& spans, const ResourceAttributes& resource,
                 opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest* request);

}  // namespace protoserve
