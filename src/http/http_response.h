// Building REST responses: the core Status -> HTTP status mapping and the
// JSON error body {"error": "message"} of the KServe v2 REST protocol.
#pragma once

#include <string>
#include <string_view>

#include "core/inference_server.h"
#include "core/status.h"
#include "http/http_handler.h"

namespace protoserve {

// nginx's "client closed request"; what a CANCELLED status becomes.
inline constexpr unsigned kHttpClientClosedRequest = 499;

// INVALID_ARGUMENT/FAILED_PRECONDITION/OUT_OF_RANGE 400, NOT_FOUND 404,
// RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, DEADLINE_EXCEEDED 504,
// UNIMPLEMENTED 501, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
// CANCELLED 499, OK 200, anything else 500.
unsigned HttpStatusFor(StatusCode code);

// A response with `body` of `content_type`.
HttpResponse MakeResponse(unsigned status, std::string body, std::string_view content_type);
HttpResponse JsonResponse(unsigned status, std::string json);
// {"error": message} with `status`.
HttpResponse ErrorResponse(unsigned status, std::string_view message);
// {"error": status.message()} with the mapped HTTP status; `status` must not be ok.
HttpResponse ErrorResponse(const Status& status);

// The core context of `request`: its x-request-id (if valid) and W3C
// traceparent; the deadline is left to the route (and the server default).
RequestContext HttpRequestContext(const HttpRequest& request, Api api);

// A traced request (InferenceServer::tracing()): tells `scope` the size of
// `response` and adds the `traceresponse` header (the server span's
// traceparent). Call just before scope.Release(); nothing when not traced.
void AddTraceResponse(RequestScope& scope, HttpResponse& response);

inline constexpr const char* kTraceResponseHeader = "traceresponse";

}  // namespace protoserve
