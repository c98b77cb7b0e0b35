// W3C trace context over gRPC metadata, for a server that traces
// (InferenceServer::tracing()): `traceparent`/`tracestate` (and
// `x-request-id`) come in as metadata; the server span's traceparent goes
// back in the `traceresponse` trailer when the request is exported (see
// RequestScope::TraceResponse), beside `x-request-id`.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>
#include <string_view>

#include "core/inference_server.h"

namespace protoserve {

inline std::string MetadataValue(const grpc::ServerContextBase& context, std::string_view key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

// Fills the trace fields of `call` from the metadata (call.id only when the
// call has none of its own).
inline void ReadTraceMetadata(const grpc::ServerContextBase& context, RequestContext* call) {
  call->traceparent = MetadataValue(context, "traceparent");
  call->tracestate = MetadataValue(context, "tracestate");
  if (call->id.empty()) call->id = MetadataValue(context, "x-request-id");
}

// The trailers of a traced unary call: `traceresponse` (exported requests), and `x-request-id`
// when `request_id` is not empty (a front-end passes the client's own id, or
// its id when the answer's message has no field for it: the typed APIs).
inline void AddTraceTrailers(grpc::ServerContextBase* context, const RequestScope& scope,
                             const std::string& request_id) {
  if (!scope.traced()) return;
  if (std::string response = scope.TraceResponse(); !response.empty()) {
    context->AddTrailingMetadata("traceresponse", response);
  }
  if (IsValidRequestId(request_id)) context->AddTrailingMetadata("x-request-id", request_id);
}

}  // namespace protoserve
