#include "http/http_response.h"

#include "http/json.h"

namespace protoserve {

namespace http = boost::beast::http;

unsigned HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kOutOfRange: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kCancelled: return kHttpClientClosedRequest;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

HttpResponse MakeResponse(unsigned status, std::string body, std::string_view content_type) {
  HttpResponse response;
  response.result(status);
  // Beast has no reason phrase for 499.
  if (status == kHttpClientClosedRequest) response.reason("Client Closed Request");
  response.set(http::field::content_type, content_type);
  response.body() = std::move(body);
  return response;
}

HttpResponse JsonResponse(unsigned status, std::string json) {
  return MakeResponse(status, std::move(json), "application/json");
}

HttpResponse ErrorResponse(unsigned status, std::string_view message) {
  std::string body;
  json::StringSink sink(&body);
  json::Writer writer(sink);
  writer.StartObject();
  writer.Key("error");
  json::WriteString(writer, json::ValidUtf8(message));
  writer.EndObject();
  return JsonResponse(status, std::move(body));
}

HttpResponse ErrorResponse(const Status& status) {
  return ErrorResponse(HttpStatusFor(status.code()), status.message());
}

RequestContext HttpRequestContext(const HttpRequest& request, Api api) {
  RequestContext context;
  context.api = api;
  if (auto id = request.find(kRequestIdHeader); id != request.end()) context.id = std::string(id->value());
  if (auto parent = request.find("traceparent"); parent != request.end()) {
    context.traceparent = std::string(parent->value());
    if (auto state = request.find("tracestate"); state != request.end()) context.tracestate = std::string(state->value());
  }
  context.request_bytes = static_cast<int64_t>(request.body().size());
  return context;
}

void AddTraceResponse(RequestScope& scope, HttpResponse& response) {
  if (!scope.traced()) return;
  scope.set_response_bytes(static_cast<int64_t>(response.body().size()));
  if (std::string traceresponse = scope.TraceResponse(); !traceresponse.empty()) {
    response.set(kTraceResponseHeader, traceresponse);
  }
}

}  // namespace protoserve
