// HttpAuthHandler: the HTTP port's access control, in front of the
// RestRouter. Same tokens, scopes and loopback rule as the gRPC port
// (grpc/auth.h), so neither port is a way around the other:
//
//   open      GET /v2/health/live, /v2/health/ready; CORS preflights
//             (OPTIONS); GET of non-API paths (the --web-ui files, or 404)
//   metadata  GET /v2, /v2/models/{m}[/versions/{v}][/ready|/config],
//             POST /v2/repository/index, GET /metrics: scope `infer`, or
//             open with `open_metadata`
//   infer     POST .../infer, POST /v1/recommendations, statistics, and
//             everything not listed (deny by default)
//   manage    POST /v2/repository/models/{m}/load|unload
//   gRPC-Web  (POST, content-type application/grpc-web*) as the gRPC method
//             of its path
//
// Credentials: `Authorization: Bearer <token>`; 401 (with
// `WWW-Authenticate: Bearer`) for a missing or unknown token, 403 for a
// wrong scope or a management call from a non-loopback client while no
// token has `manage`. gRPC-Web calls get their error as gRPC-Web
// (trailers-only, grpc-status 16 or 7). The header is removed before the
// request is passed on, so no handler or log below sees the token.
// Thread-safety: Handle may be called concurrently.
#pragma once

#include <memory>
#include <string_view>

#include "core/auth_tokens.h"
#include "core/access_policy.h"
#include "http/http_handler.h"

namespace protoserve {

struct HttpAuthOptions {
  std::shared_ptr<const TokenAuthorizer> authorizer;  // null: no token checks
  bool open_metadata = false;
  // Model management only from loopback clients unless a `manage` token exists.
  bool management_loopback_only = false;
};

class HttpAuthHandler : public HttpHandler {
 public:
  // `next` must outlive this handler.
  HttpAuthHandler(HttpAuthOptions options, HttpHandler* next) : options_(std::move(options)), next_(next) {}

  void Handle(HttpRequest request, Responder responder) override;

 private:
  const HttpAuthOptions options_;
  HttpHandler* const next_;
};

// Which class of access `request` needs (mirrors RestRouter's routes).
GrpcMethodAccess ClassifyHttpRequest(const HttpRequest& request);

// "127.x.x.x", "::1", "::ffff:127.x.x.x".
bool IsLoopbackAddress(std::string_view address);

}  // namespace protoserve
