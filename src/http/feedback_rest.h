// REST feedback routes, a thin translation to the core's FeedbackLoop:
//   POST /v1/feedback                 {"request_id" | "user_id", "clicked_item_ids", "bought_item_ids", "time_unix_ms"}
//   POST /v2/models/{m}/feedback      {"request_id" (or "id"), "label" | "value", "time_unix_ms"}
//   GET  /v2/models/{m}/evaluation    the per-version online metrics (JSON)
// Errors as everywhere: 400 malformed, 404 unknown or expired id, 409
// duplicate feedback, 501 when the server runs without a feedback loop.
#pragma once

#include <string>
#include <string_view>

#include "core/feedback_loop.h"
#include "core/inference_server.h"
#include "http/http_handler.h"

namespace protoserve {

StatusOr<RecommendationFeedbackQuery> ParseRecommendationFeedbackJson(std::string_view body);
StatusOr<ModelFeedbackQuery> ParseModelFeedbackJson(std::string model, std::string_view body);
std::string EvaluationToJson(const std::string& model, const std::vector<VersionEvaluation>& versions);

class FeedbackRest {
 public:
  // `server` must outlive this object.
  explicit FeedbackRest(const InferenceServer* server) : server_(server) {}

  HttpResponse RecommendationFeedback(const HttpRequest& request) const;
  HttpResponse ModelFeedback(const std::string& model, const HttpRequest& request) const;
  HttpResponse Evaluation(const std::string& model) const;

 private:
  const InferenceServer* const server_;
};

}  // namespace protoserve
