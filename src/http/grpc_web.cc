#include "http/grpc_web.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "core/classification.h"
#include "core/model_config.h"
#include "http/grpc_timeout.h"
#include "http/http_response.h"
#include "kserve/kserve_codec.h"
#include "kserve/kserve_metadata.h"
#include "inference.pb.h"
#include "recommender.pb.h"

namespace protoserve {

namespace {

namespace http = boost::beast::http;

constexpr std::string_view kRecommend = "/Recommender/GetRecommendations";
constexpr std::string_view kInferencePrefix = "/inference.GRPCInferenceService/";
constexpr std::string_view kModelInfer = "/inference.GRPCInferenceService/ModelInfer";
constexpr std::string_view kExposeHeaders = "grpc-status,grpc-message";
constexpr std::string_view kExposeTraceHeaders = "grpc-status,grpc-message,x-request-id,traceresponse";
constexpr std::string_view kAllowHeaders =
    "content-type,x-grpc-web,x-user-agent,grpc-timeout,authorization";

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsGrpcWebPath(std::string_view path) {
  return path == kRecommend || path == "/Recommender/StreamRecommendations" || StartsWith(path, kInferencePrefix);
}

const char* ContentTypeFor(const std::string& name) {
  auto ends = [&name](std::string_view suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".json")) return "application/json";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".txt") || ends(".md")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

template <typename Message>
StatusOr<Message> ParseMessage(const std::string& bytes) {
  Message message;
  if (!message.ParseFromString(bytes)) {
    return InvalidArgument("cannot parse the request message as " + std::string(Message::descriptor()->full_name()));
  }
  return message;
}

std::string Serialize(const google::protobuf::Message& message) {
  std::string out;
  message.SerializeToString(&out);
  return out;
}

}  // namespace

std::optional<std::string> CorsPolicy::AllowOrigin(std::string_view origin) const {
  if (origin.empty()) return std::nullopt;
  for (const std::string& allowed : origins_) {
    if (allowed == "*") return std::string("*");
    if (allowed == origin) return std::string(origin);
  }
  return std::nullopt;
}

StatusOr<StaticSite> StaticSite::Load(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  StaticSite site;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    const std::string name = entry.path().filename().string();
    site.files_[name] = File{content.str(), ContentTypeFor(name)};
  }
  if (ec) return InvalidArgument("web UI directory '" + dir + "': " + ec.message());
  if (!site.files_.contains("index.html")) return InvalidArgument("web UI directory '" + dir + "' has no index.html");
  return site;
}

std::optional<HttpResponse> StaticSite::Get(std::string_view target) const {
  std::string_view path = PathOf(target);
  if (path == "/") path = "/index.html";
  if (path.size() < 2 || path[0] != '/') return std::nullopt;
  auto it = files_.find(path.substr(1));  // names have no '/', so no traversal
  if (it == files_.end()) return std::nullopt;
  HttpResponse response = MakeResponse(200, it->second.content, it->second.content_type);
  response.set(http::field::cache_control, "no-cache");
  return response;
}

std::string GrpcWebFrame(uint8_t flags, std::string_view payload) {
  std::string frame(5, '\0');
  frame[0] = static_cast<char>(flags);
  const uint32_t size = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) frame[1 + i] = static_cast<char>((size >> (8 * (3 - i))) & 0xff);
  frame.append(payload);
  return frame;
}

std::string PercentEncodeGrpcMessage(std::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : message) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string GrpcWebTrailers(const Status& status) {
  std::string trailers = "grpc-status:" + std::to_string(static_cast<int>(status.code())) + "\r\n";
  trailers += "grpc-message:" + PercentEncodeGrpcMessage(status.message()) + "\r\n";
  return GrpcWebFrame(0x80, trailers);
}

StatusOr<std::string> ParseUnaryGrpcWebBody(std::string_view body) {
  if (body.size() < 5) return InvalidArgument("gRPC-Web: the body is not a length-prefixed message");
  const auto flags = static_cast<uint8_t>(body[0]);
  uint32_t size = 0;
  for (int i = 1; i <= 4; ++i) size = (size << 8) | static_cast<uint8_t>(body[i]);
  if (flags & 0x80) return InvalidArgument("gRPC-Web: a request cannot start with a trailers frame");
  if (flags & 0x01) return Status(StatusCode::kUnimplemented, "gRPC-Web: compressed messages are not supported");
  if (flags != 0) return InvalidArgument("gRPC-Web: unknown frame flags");
  if (body.size() - 5 < size) return InvalidArgument("gRPC-Web: the message is truncated");
  if (body.size() - 5 > size) return InvalidArgument("gRPC-Web: a unary call takes exactly one message");
  return std::string(body.substr(5, size));
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(n >> s) & 63]);
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    uint32_t n = uint8_t(bytes[i]) << 16;
    if (rest == 2) n |= uint8_t(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

StatusOr<std::string> Base64Decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t bits = 0;
  int count = 0;  // sextets in the current quantum
  for (char c : text) {
    if (c == ' ' || c == '\r' || c == '\n' || c == '\t') continue;
    if (c == '=') {
      // Padding ends a quantum; a next chunk may follow.
      if (count == 2) out.push_back(static_cast<char>(bits >> 4));
      else if (count == 3) {
        out.push_back(static_cast<char>(bits >> 10));
        out.push_back(static_cast<char>((bits >> 2) & 0xff));
      } else if (count != 0) {
        return InvalidArgument("gRPC-Web-Text: invalid base64 padding");
      }
      bits = 0;
      count = 0;
      continue;
    }
    const int v = value(c);
    if (v < 0) return InvalidArgument("gRPC-Web-Text: the body is not base64");
    bits = (bits << 6) | static_cast<uint32_t>(v);
    if (++count == 4) {
      out.push_back(static_cast<char>((bits >> 16) & 0xff));
      out.push_back(static_cast<char>((bits >> 8) & 0xff));
      out.push_back(static_cast<char>(bits & 0xff));
      bits = 0;
      count = 0;
    }
  }
  if (count == 2) out.push_back(static_cast<char>(bits >> 4));
  else if (count == 3) {
    out.push_back(static_cast<char>(bits >> 10));
    out.push_back(static_cast<char>((bits >> 2) & 0xff));
  } else if (count == 1) {
    return InvalidArgument("gRPC-Web-Text: truncated base64");
  }
  return out;
}

bool GrpcWebHandler::IsGrpcWebContentType(std::string_view content_type) {
  return StartsWith(Lower(content_type), "application/grpc-web");
}

bool GrpcWebHandler::Handles(const HttpRequest& request) const {
  const std::string_view path = PathOf(request.target());
  switch (request.method()) {
    case http::verb::post:
      return IsGrpcWebContentType(request[http::field::content_type]);
    case http::verb::options:
      return cors_.enabled() && (IsGrpcWebPath(path) || (typed_ && typed_->ModelFor(path)));
    case http::verb::get:
    case http::verb::head:
      return site_ && (path == "/" || site_->Get(path).has_value());
    default:
      return false;
  }
}

void GrpcWebHandler::Handle(HttpRequest request, Responder responder) const {
  const std::optional<std::string> allow_origin = cors_.AllowOrigin(request[http::field::origin]);
  const std::string_view path = PathOf(request.target());

  if (request.method() == http::verb::get || request.method() == http::verb::head) {
    std::optional<HttpResponse> file = site_ ? site_->Get(path) : std::nullopt;
    if (!file) return responder.Send(ErrorResponse(404, "no file " + std::string(path)));
    if (request.method() == http::verb::head) file->body().clear();
    return responder.Send(std::move(*file));
  }

  if (request.method() == http::verb::options) {
    // CORS preflight; an origin not allowed gets no Allow-* headers (the
    // browser then refuses the call).
    HttpResponse response = MakeResponse(204, "", "text/plain");
    if (allow_origin) {
      response.set(http::field::access_control_allow_origin, *allow_origin);
      response.set(http::field::access_control_allow_methods, "POST, OPTIONS");
      const std::string_view asked = request[http::field::access_control_request_headers];
      response.set(http::field::access_control_allow_headers, asked.empty() ? kAllowHeaders : asked);
      response.set(http::field::access_control_max_age, "86400");
      response.set(http::field::vary, "Origin");
    }
    return responder.Send(std::move(response));
  }

  const std::string content_type(request[http::field::content_type]);
  const bool text = StartsWith(Lower(content_type), "application/grpc-web-text");
  // A traced call returns its request id and trace in headers.
  auto trace = server_->tracing() ? std::make_shared<TraceReply>() : nullptr;
  auto reply = [responder, content_type, text, allow_origin, trace](Status status, std::string message) {
    std::string body;
    if (status.ok()) body = GrpcWebFrame(0x00, message);
    body += GrpcWebTrailers(status);
    HttpResponse response = MakeResponse(200, text ? Base64Encode(body) : std::move(body), content_type);
    if (!status.ok()) {  // trailers-only: the status also in the headers
      response.set("grpc-status", std::to_string(static_cast<int>(status.code())));
      response.set("grpc-message", PercentEncodeGrpcMessage(status.message()));
    }
    if (allow_origin) {
      response.set(http::field::access_control_allow_origin, *allow_origin);
      response.set(http::field::access_control_expose_headers, trace ? kExposeTraceHeaders : kExposeHeaders);
      response.set(http::field::vary, "Origin");
    }
    if (trace && !trace->traceresponse.empty()) {
      response.set(kRequestIdHeader, trace->request_id);
      response.set(kTraceResponseHeader, trace->traceresponse);
    }
    responder.Send(std::move(response));
  };

  RequestContext context = HttpRequestContext(request, Api::kHttp);
  context.is_cancelled = responder.CancellationProbe();
  // The span name of a traced method refused here (framing, base64, timeout); null: not traced.
  const char* operation = path == kRecommend                  ? "GetRecommendations"
                          : !StartsWith(path, kInferencePrefix) || path == kModelInfer ? "ModelInfer"
                                                                                        : nullptr;
  auto refuse = [&](Status status) {
    if (operation == nullptr) return reply(std::move(status), "");
    Refuse(std::move(context), operation, std::move(status), reply, trace);
  };
  std::string_view body = request.body();
  std::string decoded_text;
  if (text) {
    auto decoded = Base64Decode(body);
    if (!decoded.ok()) return refuse(decoded.status());
    decoded_text = std::move(decoded).value();
    body = decoded_text;
  }
  auto message = ParseUnaryGrpcWebBody(body);
  if (!message.ok()) return refuse(message.status());
  if (const std::string_view timeout = request["grpc-timeout"]; !timeout.empty()) {
    auto parsed = ParseGrpcTimeout(timeout);  // saturates: no overflow (grpc_timeout.h)
    if (!parsed) return refuse(InvalidArgument("invalid grpc-timeout '" + std::string(timeout) + "'"));
    context.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(*parsed);
  }
  Call(path, std::move(message).value(), std::move(context), reply, trace);
}

void GrpcWebHandler::Call(std::string_view method, std::string bytes, RequestContext context,
                          std::function<void(Status, std::string)> done, std::shared_ptr<TraceReply> trace) const {
  if (method == kRecommend) {
    auto request = ParseMessage<RecommendationRequest>(bytes);
    if (!request.ok()) return Refuse(std::move(context), "GetRecommendations", request.status(), done, trace);
    if (trace) {
      server_->Prepare(&context);
      trace->request_id = context.id;
    }
    context.operation = "GetRecommendations";
    auto call = std::make_shared<std::pair<RecommendationRequest, RecommendationResponse>>();
    call->first = std::move(request).value();
    static const std::string kMethod(kRecommend);
    typed::InferCompiled(*server_, recommender_model_, kMethod, std::move(context), call->first, &call->second,
                         [done, trace, call](Status status, InferResult result) {
                           std::string encoded;
                           if (status.ok()) encoded = Serialize(call->second);
                           if (trace && result.scope.traced()) {
                             result.scope.set_response_bytes(static_cast<int64_t>(encoded.size()));
                             trace->traceresponse = result.scope.TraceResponse();
                           }
                           result.scope.Release();
                           done(status, std::move(encoded));
                         });
    return;
  }
  if (!StartsWith(method, kInferencePrefix)) {
    if (auto model = typed_ ? typed_->ModelFor(method) : std::nullopt) {
      return CallTyped(*model, method, std::move(bytes), std::move(context), std::move(done), std::move(trace));
    }
    return done(Status(StatusCode::kUnimplemented, "gRPC-Web: unknown method " + std::string(method)), "");
  }
  const std::string_view rpc = method.substr(kInferencePrefix.size());
  if (rpc == "ServerLive") {
    if (auto r = ParseMessage<inference::ServerLiveRequest>(bytes); !r.ok()) return done(r.status(), "");
    inference::ServerLiveResponse response;
    response.set_live(server_->Live());
    return done(Status::Ok(), Serialize(response));
  }
  if (rpc == "ServerReady") {
    if (auto r = ParseMessage<inference::ServerReadyRequest>(bytes); !r.ok()) return done(r.status(), "");
    inference::ServerReadyResponse response;
    response.set_ready(server_->Ready());
    return done(Status::Ok(), Serialize(response));
  }
  if (rpc == "ModelMetadata") {
    auto request = ParseMessage<inference::ModelMetadataRequest>(bytes);
    if (!request.ok()) return done(request.status(), "");
    auto version = ParseModelVersion(request->version());
    if (!version.ok()) return done(version.status(), "");
    inference::ModelMetadataResponse response;
    Status status = FillModelMetadata(server_->repository(), request->name(), *version, &response);
    return done(status, status.ok() ? Serialize(response) : "");
  }
  if (rpc == "ModelInfer") return Infer(std::move(bytes), std::move(context), std::move(done), std::move(trace));
  done(Status(StatusCode::kUnimplemented,
              "gRPC-Web: method " + std::string(method) +
                  " is not served over gRPC-Web (unary ModelInfer, ServerLive, ServerReady, ModelMetadata only)"),
       "");
}

void GrpcWebHandler::Refuse(RequestContext context, const char* operation, Status status,
                            const std::function<void(Status, std::string)>& done,
                            const std::shared_ptr<TraceReply>& trace) const {
  context.operation = operation;
  RequestScope scope = server_->Refused(&context, status);
  if (trace) {
    trace->request_id = context.id;
    trace->traceresponse = scope.TraceResponse();
  }
  done(std::move(status), "");
}

void GrpcWebHandler::Infer(std::string bytes, RequestContext context,
                           std::function<void(Status, std::string)> done, std::shared_ptr<TraceReply> trace) const {
  auto parsed = ParseMessage<inference::ModelInferRequest>(bytes);
  if (!parsed.ok()) return Refuse(std::move(context), "ModelInfer", parsed.status(), done, trace);
  // The decoded inputs are views into the message: it lives until encoded.
  auto message = std::make_shared<const inference::ModelInferRequest>(std::move(parsed).value());
  if (context.id.empty()) context.id = message->id();
  auto decoded = std::make_shared<DecodedInferRequest>();
  auto decode = [message, decoded](const ModelVersion&) { return DecodeForServer(*message, decoded.get()); };
  server_->Infer(std::move(context), message->model_name(), message->model_version(), decode,
                 [message, decoded, done, trace](Status status, InferResult result) {
                   inference::ModelInferResponse response;
                   if (status.ok()) status = EncodeInferResult(*decoded, result, &response);
                   std::string encoded = status.ok() ? Serialize(response) : "";
                   if (trace && result.scope.traced()) {
                     result.scope.set_response_bytes(static_cast<int64_t>(encoded.size()));
                     trace->request_id = result.id;
                     trace->traceresponse = result.scope.TraceResponse();
                   }
                   result.scope.Release();
                   done(status, std::move(encoded));
                 });
}

void GrpcWebHandler::CallTyped(const std::string& model, std::string_view method, std::string bytes,
                               RequestContext context, std::function<void(Status, std::string)> done,
                               std::shared_ptr<TraceReply> trace) const {
  auto parse = [&bytes](google::protobuf::Message* message) -> Status {
    if (!message->ParseFromString(bytes)) {
      return InvalidArgument("cannot parse the request as " + message->GetDescriptor()->full_name());
    }
    return Status::Ok();
  };
  typed::InferTyped(*server_, model, std::string(method), std::move(context), parse,
                    [done, trace](Status status, std::shared_ptr<typed::TypedCall> call, InferResult result) {
                      std::string encoded;
                      if (status.ok() && !call->response->SerializeToString(&encoded)) {
                        status = Internal("cannot serialize the response");
                      }
                      if (trace && result.scope.traced()) {
                        result.scope.set_response_bytes(static_cast<int64_t>(encoded.size()));
                        trace->request_id = result.id;
                        trace->traceresponse = result.scope.TraceResponse();
                      }
                      result.scope.Release();
                      call.reset();
                      done(status, std::move(encoded));
                    });
}

}  // namespace protoserve
