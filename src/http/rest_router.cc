#include "http/rest_router.h"

#include <initializer_list>

#include "http/http_response.h"

namespace protoserve {

namespace {

namespace http = boost::beast::http;

bool PathIs(const std::vector<std::string>& segments, std::initializer_list<std::string_view> expected) {
  return segments.size() == expected.size() && std::equal(segments.begin(), segments.end(), expected.begin());
}

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

HttpResponse NotFound(const HttpRequest& request) {
  return ErrorResponse(404, "no route for " + std::string(request.method_string()) + " " +
                                std::string(PathOf(request.target())));
}

// Answers 405 unless `request` uses `allowed`.
bool MethodIs(http::verb allowed, const HttpRequest& request, const Responder& responder) {
  if (request.method() == allowed) return true;
  HttpResponse response = ErrorResponse(405, std::string(request.method_string()) + " is not allowed on " +
                                                 std::string(PathOf(request.target())) + "; use " +
                                                 std::string(http::to_string(allowed)));
  response.set(http::field::allow, http::to_string(allowed));
  responder.Send(std::move(response));
  return false;
}

}  // namespace

std::vector<std::string> PathSegments(std::string_view target) {
  std::vector<std::string> segments;
  const std::string_view path = PathOf(target);
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) segments.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

void RestRouter::Handle(HttpRequest request, Responder responder) {
  if (grpc_web_ && grpc_web_->Handles(request)) return grpc_web_->Handle(std::move(request), std::move(responder));
  const std::vector<std::string> s = PathSegments(request.target());
  const auto get = http::verb::get;
  const auto post = http::verb::post;
  if (PathIs(s, {"v2", "health", "live"})) {
    if (MethodIs(get, request, responder)) responder.Send(kserve_->ServerLive());
  } else if (PathIs(s, {"v2", "health", "ready"})) {
    if (MethodIs(get, request, responder)) responder.Send(kserve_->ServerReady());
  } else if (PathIs(s, {"v2"})) {
    if (MethodIs(get, request, responder)) responder.Send(kserve_->ServerMetadata());
  } else if (PathIs(s, {"metrics"}) && metrics_) {
    if (MethodIs(get, request, responder)) responder.Send(MetricsResponse());
  } else if (PathIs(s, {"v1", "recommendations"})) {
    if (MethodIs(post, request, responder)) recommend_->Recommend(request, std::move(responder));
  } else if (PathIs(s, {"v2", "repository", "index"})) {
    if (MethodIs(post, request, responder)) responder.Send(kserve_->RepositoryIndex(request.body()));
  } else if (s.size() == 5 && s[0] == "v2" && s[1] == "repository" && s[2] == "models" &&
             (s[4] == "load" || s[4] == "unload")) {
    if (MethodIs(post, request, responder)) {
      kserve_->RepositoryModelControl(s[3], s[4] == "load", request.body(), std::move(responder));
    }
  } else if (PathIs(s, {"v2", "models", "stats"})) {
    if (MethodIs(get, request, responder)) responder.Send(kserve_->ModelStatistics("", ""));
  } else if (s.size() >= 3 && s[0] == "v2" && s[1] == "models") {
    HandleModel(std::vector<std::string>(s.begin() + 2, s.end()), std::move(request), std::move(responder));
  } else {
    responder.Send(NotFound(request));
  }
}

void RestRouter::HandleModel(const std::vector<std::string>& s, HttpRequest request, Responder responder) {
  const std::string& model = s[0];
  std::string version;
  size_t action = 1;  // index of the segment after the model (and version)
  if (s.size() >= 3 && s[1] == "versions") {
    version = s[2];
    action = 3;
  }
  const auto get = http::verb::get;
  if (s.size() == action) {
    if (MethodIs(get, request, responder)) responder.Send(kserve_->ModelMetadata(model, version));
  } else if (s.size() != action + 1) {
    responder.Send(NotFound(request));
  } else if (s[action] == "infer") {
    if (MethodIs(http::verb::post, request, responder)) {
      kserve_->Infer(model, version, std::move(request), std::move(responder));
    }
  } else if (s[action] == "ready") {
    if (MethodIs(get, request, responder)) responder.Send(kserve_->ModelReady(model, version));
  } else if (s[action] == "config") {
    if (MethodIs(get, request, responder)) responder.Send(kserve_->ModelConfig(model, version));
  } else if (s[action] == "stats") {
    if (MethodIs(get, request, responder)) responder.Send(kserve_->ModelStatistics(model, version));
  } else {
    responder.Send(NotFound(request));
  }
}

HttpResponse RestRouter::MetricsResponse() const {
  repository_->RefreshMetrics();
  return MakeResponse(200, metrics_->Serialize(), "text/plain; version=0.0.4");
}

}  // namespace protoserve
