// gRPC-Web on the HTTP port, served in-process (no Envoy in between), plus
// the CORS policy it needs and the static web demo (--web-ui).
//
// Protocol (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md):
//   POST /<service>/<method>, content-type application/grpc-web[+proto] (binary
//   body) or application/grpc-web-text[+proto] (base64 body and response).
//   The body is one length-prefixed message: flag byte 0x00, 4-byte
//   big-endian length, protobuf bytes. The answer is HTTP 200 with the
//   request's content-type, a data frame with the response message and a
//   trailers frame (flag 0x80) `grpc-status:N\r\ngrpc-message:...\r\n`.
//   An error is a trailers-only response: no data frame, and grpc-status /
//   grpc-message also as HTTP headers. grpc-timeout (e.g. "500m") sets the
//   call's deadline. Compressed frames (flag 0x01) are refused (UNIMPLEMENTED).
//
// Methods (unary only; gRPC-Web cannot carry client or bidi streams, and
// our only streaming RPCs, StreamRecommendations and ModelStreamInfer, are
// bidi, so they answer UNIMPLEMENTED):
//   /Recommender/GetRecommendations
//   /inference.GRPCInferenceService/ModelInfer, /ServerLive, /ServerReady,
//   /ModelMetadata
//   every typed API a loaded model declares (/package.Service/Method:
//   typed/typed_call.h, docs/typed-apis.md), when set_typed() was called
// They call the same core facade as native gRPC (InferenceServer, with
// api = kHttp; the KServe codec of src/kserve), so answers, errors, shadow
// mirroring and the default deadline match it.
//
// CORS: with allowed origins (--cors-allowed-origins, "*" for any), a
// request whose Origin is allowed gets Access-Control-Allow-Origin and
// -Expose-Headers: grpc-status,grpc-message; OPTIONS preflights of the
// gRPC-Web paths are answered 204. Without any, nothing is added (same
// origin only, e.g. the --web-ui page).
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/inference_server.h"
#include "http/http_handler.h"
#include "typed/typed_call.h"

namespace protoserve {

// Which origins may call from a browser on another origin.
class CorsPolicy {
 public:
  CorsPolicy() = default;
  // Origins such as "https://app.example.com"; "*" allows any.
  explicit CorsPolicy(std::vector<std::string> origins) : origins_(std::move(origins)) {}

  bool enabled() const { return !origins_.empty(); }
  // The Access-Control-Allow-Origin value for `origin`, if it is allowed.
  std::optional<std::string> AllowOrigin(std::string_view origin) const;

 private:
  std::vector<std::string> origins_;
};

// The files of a directory (not recursive), read once at start and served
// from memory: "/" is index.html.
class StaticSite {
 public:
  // Fails if `dir` is unreadable or has no index.html.
  static StatusOr<StaticSite> Load(const std::string& dir);
  // The response for GET `path` (query ignored), or nullopt if no such file.
  std::optional<HttpResponse> Get(std::string_view target) const;
  size_t size() const { return files_.size(); }

 private:
  struct File {
    std::string content;
    std::string content_type;
  };
  std::map<std::string, File, std::less<>> files_;  // by name, e.g. "app.js"
};

// Length-prefixed message framing (exposed for tests and the fuzzer).
std::string GrpcWebFrame(uint8_t flags, std::string_view payload);
// The trailers frame of `status`.
std::string GrpcWebTrailers(const Status& status);
// Percent-encodes grpc-message as the gRPC spec asks.
std::string PercentEncodeGrpcMessage(std::string_view message);
// The one message of a unary request body (binary frames).
StatusOr<std::string> ParseUnaryGrpcWebBody(std::string_view body);
std::string Base64Encode(std::string_view bytes);
// Decodes base64, also concatenated padded chunks (as grpc-web-text
// clients may send); whitespace is ignored.
StatusOr<std::string> Base64Decode(std::string_view text);

class GrpcWebHandler {
 public:
  // `server` must outlive this object.
  explicit GrpcWebHandler(const InferenceServer* server, CorsPolicy cors = {})
      : server_(server), cors_(std::move(cors)) {}
  // Serve `site` for GET requests of its files (the --web-ui demo).
  void set_site(StaticSite site) { site_ = std::move(site); }
  // Serve the typed APIs of the loaded models too (`methods` must outlive this).
  void set_typed(const typed::TypedMethods* methods) { typed_ = methods; }
  // The model answering Recommender calls that name none (--recommender-model).
  void set_recommender_model(std::string model) { recommender_model_ = std::move(model); }

  // True if this handler answers `request`: a gRPC-Web POST, an OPTIONS
  // preflight of a gRPC-Web path (CORS on), or a GET of a site file.
  bool Handles(const HttpRequest& request) const;
  void Handle(HttpRequest request, Responder responder) const;

  static bool IsGrpcWebContentType(std::string_view content_type);

 private:
  // What a traced call hands back in its response headers (tracing only).
  struct TraceReply {
    std::string request_id;
    std::string traceresponse;
  };
  // `trace`: filled before `done` when the call is traced (may be null).
  void Call(std::string_view method, std::string message, RequestContext context,
            std::function<void(Status, std::string)> done, std::shared_ptr<TraceReply> trace = nullptr) const;
  void Infer(std::string bytes, RequestContext context, std::function<void(Status, std::string)> done,
             std::shared_ptr<TraceReply> trace) const;
  void CallTyped(const std::string& model, std::string_view method, std::string bytes, RequestContext context,
                 std::function<void(Status, std::string)> done, std::shared_ptr<TraceReply> trace) const;
  // A call of a traced method (`operation`: its span's name) refused before
  // it reached the core: traced as the failure it is
  // (InferenceServer::Refused), then answered with `status`.
  void Refuse(RequestContext context, const char* operation, Status status,
              const std::function<void(Status, std::string)>& done, const std::shared_ptr<TraceReply>& trace) const;

  const InferenceServer* const server_;
  const CorsPolicy cors_;
  std::optional<StaticSite> site_;
  const typed::TypedMethods* typed_ = nullptr;
  std::string recommender_model_ = "recommender";
};

}  // namespace protoserve
