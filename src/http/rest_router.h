// RestRouter: the HttpHandler of the server's REST port. Maps method and
// path to the route that answers it:
//
//   GET  /v2/health/live, /v2/health/ready, /v2                (KServe v2)
//   GET  /v2/models/{m}[/versions/{v}][/ready|/config|/stats]
//   POST /v2/models/{m}[/versions/{v}]/infer
//   GET  /v2/models/stats
//   POST /v2/repository/index, /v2/repository/models/{m}/load|unload
//   POST /v1/recommendations, /v1/feedback, /v2/models/{m}/feedback
//   GET  /v2/models/{m}/evaluation, /v2/models/{m}/rollout
//   POST /v2/models/{m}/rollout/start|abort
//   POST /v1/models/{m}/{method}                                (typed APIs: http/typed_rest.h)
//   GET  /metrics                                               (Prometheus)
//
// Unknown paths are 404 and known paths with another method 405 (with an
// Allow header), both with a JSON error body. The query string is ignored.
// Probes and /metrics need no model.
// Thread-safety: Handle may be called concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.h"
#include "core/model_repository.h"
#include "http/feedback_rest.h"
#include "http/grpc_web.h"
#include "http/http_handler.h"
#include "http/kserve_rest.h"
#include "http/recommend_rest.h"
#include "http/typed_rest.h"
#include "http/rollout_rest.h"

namespace protoserve {

// The routes of RestRouter (see above).
enum class RestRoute {
  kNotFound,
  kHealthLive,
  kHealthReady,
  kServerMetadata,
  kMetrics,
  kRecommend,
  kRepositoryIndex,
  kModelControl,        // load or unload
  kAllModelStatistics,  // GET /v2/models/stats
  kModelMetadata,
  kModelInfer,
  kModelReady,
  kModelConfig,
  kModelStatistics,
  kRecommendationFeedback,  // POST /v1/feedback
  kModelFeedback,           // POST /v2/models/{m}/feedback
  kModelEvaluation,         // GET /v2/models/{m}/evaluation
  kTypedCall,               // POST /v1/models/{m}/{method}
  kRolloutStatus,           // GET /v2/models/{m}/rollout
  kRolloutStart,            // POST /v2/models/{m}/rollout/start
  kRolloutAbort,            // POST /v2/models/{m}/rollout/abort
};

struct RestRouteMatch {
  RestRoute route = RestRoute::kNotFound;
  // The one method the route answers; others get 405.
  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  std::string model;    // model routes and kModelControl, as in the path (not validated here)
  std::string version;  // model routes; empty: none in the path
  bool load = false;    // kModelControl: load, else unload
  std::string typed_method;  // kTypedCall
};

// The route of a request target (its query ignored): a pure function, the
// routing table of RestRouter::Handle, exposed for tests and the fuzzer.
RestRouteMatch ClassifyRestRoute(std::string_view target);

class RestRouter : public HttpHandler {
 public:
  // Everything must outlive the router; `metrics` may be null (then
  // /metrics is 404).
  RestRouter(KServeRest* kserve, const RecommendRest* recommend, const ModelRepository* repository,
             Metrics* metrics)
      : kserve_(kserve), recommend_(recommend), repository_(repository), metrics_(metrics) {}

  void Handle(HttpRequest request, Responder responder) override;

  // gRPC-Web calls (POST, content-type application/grpc-web*), their CORS
  // preflights and the --web-ui files go to `web` (may be null: none).
  void set_grpc_web(const GrpcWebHandler* web) { grpc_web_ = web; }
  // The feedback and evaluation routes (may be null: they are 404).
  void set_feedback(const FeedbackRest* feedback) { feedback_ = feedback; }
  // The typed APIs' JSON twin (may be null: the route is 404).
  void set_typed(const TypedRest* typed) { typed_ = typed; }
  // The rollout routes (may be null: they are 404).
  void set_rollout(const RolloutRest* rollout) { rollout_ = rollout; }

 private:
  HttpResponse MetricsResponse() const;

  KServeRest* const kserve_;
  const RecommendRest* const recommend_;
  const ModelRepository* const repository_;
  Metrics* const metrics_;
  const GrpcWebHandler* grpc_web_ = nullptr;
  const FeedbackRest* feedback_ = nullptr;
  const TypedRest* typed_ = nullptr;
  const RolloutRest* rollout_ = nullptr;
};

// The non-empty segments of `target`'s path ("/v2//models/" -> v2, models).
std::vector<std::string> PathSegments(std::string_view target);

}  // namespace protoserve
