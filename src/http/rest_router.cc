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

namespace {

// /v2/models/{m}[/versions/{v}][/action]: `s` are the segments after "models".
RestRouteMatch ClassifyModelRoute(const std::vector<std::string>& s) {
  RestRouteMatch match;
  match.model = s[0];
  if (s.size() == 2 && s[1] == "rollout") {
    match.route = RestRoute::kRolloutStatus;
    match.method = http::verb::get;
    return match;
  }
  if (s.size() == 3 && s[1] == "rollout" && (s[2] == "start" || s[2] == "abort")) {
    match.route = s[2] == "start" ? RestRoute::kRolloutStart : RestRoute::kRolloutAbort;
    match.method = http::verb::post;
    return match;
  }
  size_t action = 1;  // index of the segment after the model (and version)
  if (s.size() >= 3 && s[1] == "versions") {
    match.version = s[2];
    action = 3;
  }
  match.method = http::verb::get;
  if (s.size() == action) {
    match.route = RestRoute::kModelMetadata;
  } else if (s.size() != action + 1) {
    match.route = RestRoute::kNotFound;
  } else if (s[action] == "infer") {
    match.route = RestRoute::kModelInfer;
    match.method = http::verb::post;
  } else if (s[action] == "ready") {
    match.route = RestRoute::kModelReady;
  } else if (s[action] == "config") {
    match.route = RestRoute::kModelConfig;
  } else if (s[action] == "stats") {
    match.route = RestRoute::kModelStatistics;
  } else if (s[action] == "feedback") {
    match.route = RestRoute::kModelFeedback;
    match.method = http::verb::post;
  } else if (s[action] == "evaluation") {
    match.route = RestRoute::kModelEvaluation;
  }
  if (match.route == RestRoute::kNotFound) return RestRouteMatch{};
  return match;
}

RestRouteMatch Route(RestRoute route, http::verb method) {
  RestRouteMatch match;
  match.route = route;
  match.method = method;
  return match;
}

}  // namespace

RestRouteMatch ClassifyRestRoute(std::string_view target) {
  const std::vector<std::string> s = PathSegments(target);
  const auto get = http::verb::get;
  const auto post = http::verb::post;
  if (PathIs(s, {"v2", "health", "live"})) return Route(RestRoute::kHealthLive, get);
  if (PathIs(s, {"v2", "health", "ready"})) return Route(RestRoute::kHealthReady, get);
  if (PathIs(s, {"v2"})) return Route(RestRoute::kServerMetadata, get);
  if (PathIs(s, {"metrics"})) return Route(RestRoute::kMetrics, get);
  if (PathIs(s, {"v1", "recommendations"})) return Route(RestRoute::kRecommend, post);
  if (PathIs(s, {"v1", "feedback"})) return Route(RestRoute::kRecommendationFeedback, post);
  if (PathIs(s, {"v2", "repository", "index"})) return Route(RestRoute::kRepositoryIndex, post);
  if (s.size() == 5 && s[0] == "v2" && s[1] == "repository" && s[2] == "models" &&
      (s[4] == "load" || s[4] == "unload")) {
    RestRouteMatch match = Route(RestRoute::kModelControl, post);
    match.model = s[3];
    match.load = s[4] == "load";
    return match;
  }
  if (s.size() == 4 && s[0] == "v1" && s[1] == "models") {
    RestRouteMatch match = Route(RestRoute::kTypedCall, post);
    match.model = s[2];
    match.typed_method = s[3];
    return match;
  }
  if (PathIs(s, {"v2", "models", "stats"})) return Route(RestRoute::kAllModelStatistics, get);
  if (s.size() >= 3 && s[0] == "v2" && s[1] == "models") {
    return ClassifyModelRoute(std::vector<std::string>(s.begin() + 2, s.end()));
  }
  return RestRouteMatch{};
}

void RestRouter::Handle(HttpRequest request, Responder responder) {
  if (grpc_web_ && grpc_web_->Handles(request)) return grpc_web_->Handle(std::move(request), std::move(responder));
  RestRouteMatch match = ClassifyRestRoute(request.target());
  if (match.route == RestRoute::kMetrics && !metrics_) match.route = RestRoute::kNotFound;
  const bool feedback_route = match.route == RestRoute::kRecommendationFeedback ||
                              match.route == RestRoute::kModelFeedback || match.route == RestRoute::kModelEvaluation;
  if (feedback_route && !feedback_) match.route = RestRoute::kNotFound;
  if (match.route == RestRoute::kTypedCall && !typed_) match.route = RestRoute::kNotFound;
  const bool rollout_route = match.route == RestRoute::kRolloutStatus || match.route == RestRoute::kRolloutStart ||
                             match.route == RestRoute::kRolloutAbort;
  if (rollout_route && !rollout_) match.route = RestRoute::kNotFound;
  if (match.route == RestRoute::kNotFound) return responder.Send(NotFound(request));
  if (!MethodIs(match.method, request, responder)) return;
  switch (match.route) {
    case RestRoute::kHealthLive: return responder.Send(kserve_->ServerLive());
    case RestRoute::kHealthReady: return responder.Send(kserve_->ServerReady());
    case RestRoute::kServerMetadata: return responder.Send(kserve_->ServerMetadata());
    case RestRoute::kMetrics: return responder.Send(MetricsResponse());
    case RestRoute::kRecommend: return recommend_->Recommend(request, std::move(responder));
    case RestRoute::kRepositoryIndex: return responder.Send(kserve_->RepositoryIndex(request.body()));
    case RestRoute::kModelControl:
      return kserve_->RepositoryModelControl(match.model, match.load, request.body(), std::move(responder));
    case RestRoute::kAllModelStatistics: return responder.Send(kserve_->ModelStatistics("", ""));
    case RestRoute::kModelMetadata: return responder.Send(kserve_->ModelMetadata(match.model, match.version));
    case RestRoute::kModelInfer:
      return kserve_->Infer(match.model, match.version, std::move(request), std::move(responder));
    case RestRoute::kModelReady: return responder.Send(kserve_->ModelReady(match.model, match.version));
    case RestRoute::kModelConfig: return responder.Send(kserve_->ModelConfig(match.model, match.version));
    case RestRoute::kModelStatistics: return responder.Send(kserve_->ModelStatistics(match.model, match.version));
    case RestRoute::kRecommendationFeedback: return responder.Send(feedback_->RecommendationFeedback(request));
    case RestRoute::kModelFeedback: return responder.Send(feedback_->ModelFeedback(match.model, request));
    case RestRoute::kModelEvaluation: return responder.Send(feedback_->Evaluation(match.model));
    case RestRoute::kTypedCall:
      return typed_->Call(match.model, match.typed_method, request, std::move(responder));
    case RestRoute::kRolloutStatus: return responder.Send(rollout_->Get(match.model));
    case RestRoute::kRolloutStart: return responder.Send(rollout_->Start(match.model, request));
    case RestRoute::kRolloutAbort: return responder.Send(rollout_->Abort(match.model, request));
    case RestRoute::kNotFound: break;
  }
  responder.Send(NotFound(request));
}

HttpResponse RestRouter::MetricsResponse() const {
  repository_->RefreshMetrics();
  return MakeResponse(200, metrics_->Serialize(), "text/plain; version=0.0.4");
}

}  // namespace protoserve
