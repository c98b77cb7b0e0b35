#include "http/http_auth.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "http/http_response.h"
#include "http/rest_router.h"

namespace protoserve {

namespace http = boost::beast::http;

namespace {

bool IsGrpcWeb(const HttpRequest& request) {
  const std::string_view type = request[http::field::content_type];
  constexpr std::string_view kPrefix = "application/grpc-web";
  if (type.size() < kPrefix.size()) return false;
  for (size_t i = 0; i < kPrefix.size(); ++i) {
    const char c = type[i];
    if ((c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c) != kPrefix[i]) return false;
  }
  return true;
}

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

GrpcMethodAccess ClassifyModelRoute(const std::vector<std::string>& s) {
  // As RestRouter::HandleModel: s = segments after /v2/models.
  // POST /v2/models/{m}/rollout/start|abort: management, like load/unload.
  if (s.size() == 3 && s[1] == "rollout" && (s[2] == "start" || s[2] == "abort")) return GrpcMethodAccess::kManage;
  size_t action = 1;
  if (s.size() >= 3 && s[1] == "versions") action = 3;
  if (s.size() == action) return GrpcMethodAccess::kMetadata;
  if (s.size() != action + 1) return GrpcMethodAccess::kInfer;
  const std::string& what = s[action];
  if (what == "ready" || what == "config") return GrpcMethodAccess::kMetadata;
  return GrpcMethodAccess::kInfer;  // infer, stats, unknown
}

HttpResponse Refusal(const HttpRequest& request, const Status& status) {
  if (request.method() == http::verb::post && IsGrpcWeb(request)) {
    // Trailers-only gRPC-Web answer, as the gRPC port would give.
    HttpResponse response = MakeResponse(200, "", request[http::field::content_type]);
    response.set("grpc-status", std::to_string(static_cast<int>(status.code())));
    response.set("grpc-message", status.message());
    return response;
  }
  HttpResponse response = ErrorResponse(status);
  if (status.code() == StatusCode::kUnauthenticated) {
    response.set(http::field::www_authenticate, "Bearer realm=\"protoserve\"");
  }
  return response;
}

}  // namespace

GrpcMethodAccess ClassifyHttpRequest(const HttpRequest& request) {
  const auto method = request.method();
  if (method == http::verb::options) return GrpcMethodAccess::kOpen;
  if (method == http::verb::post && IsGrpcWeb(request)) return ClassifyGrpcMethod(PathOf(request.target()));
  const std::vector<std::string> s = PathSegments(request.target());
  const bool read = method == http::verb::get || method == http::verb::head;
  if (s.empty()) return read ? GrpcMethodAccess::kOpen : GrpcMethodAccess::kInfer;
  if (s[0] == "metrics" && s.size() == 1) return GrpcMethodAccess::kMetadata;
  if (s[0] == "v1") return GrpcMethodAccess::kInfer;
  if (s[0] != "v2") return read && s[0] != "metrics" ? GrpcMethodAccess::kOpen : GrpcMethodAccess::kInfer;
  if (s.size() == 1) return GrpcMethodAccess::kMetadata;
  if (s.size() == 3 && s[1] == "health" && (s[2] == "live" || s[2] == "ready")) return GrpcMethodAccess::kOpen;
  if (s.size() == 3 && s[1] == "repository" && s[2] == "index") return GrpcMethodAccess::kMetadata;
  if (s.size() == 5 && s[1] == "repository" && s[2] == "models" && (s[4] == "load" || s[4] == "unload")) {
    return GrpcMethodAccess::kManage;
  }
  if (s.size() == 3 && s[1] == "models" && s[2] == "stats") return GrpcMethodAccess::kInfer;
  if (s.size() >= 3 && s[1] == "models") return ClassifyModelRoute({s.begin() + 2, s.end()});
  return GrpcMethodAccess::kInfer;
}

bool IsLoopbackAddress(std::string_view address) {
  return address.starts_with("127.") || address == "::1" || address.starts_with("::ffff:127.");
}

void HttpAuthHandler::Handle(HttpRequest request, Responder responder) {
  const GrpcMethodAccess access = ClassifyHttpRequest(request);
  if (options_.authorizer) {
    const auto values = request.equal_range(http::field::authorization);
    const bool several = values.first != values.second && std::next(values.first) != values.second;
    Status status = several ? Status(StatusCode::kUnauthenticated, "more than one authorization header")
                            : AuthorizeAccess(*options_.authorizer, options_.open_metadata, access,
                                              request[http::field::authorization]);
    if (!status.ok()) return responder.Send(Refusal(request, status));
    request.erase(http::field::authorization);
  }
  if (access == GrpcMethodAccess::kManage && options_.management_loopback_only &&
      !(options_.authorizer && options_.authorizer->AnyTokenHas(AuthScope::kManage)) &&
      !IsLoopbackAddress(responder.peer_address())) {
    return responder.Send(Refusal(
        request, Status(StatusCode::kPermissionDenied,
                        "model management (load/unload, rollout start/abort) is accepted only from loopback clients "
                        "unless an auth token with scope 'manage' is configured (--auth-tokens)")));
  }
  next_->Handle(std::move(request), std::move(responder));
}

}  // namespace protoserve
