// POST /v1/recommendations: the JSON twin of Recommender.GetRecommendations.
//
//   {"user_id": "u1", "features": [0.1, ...], "top_k": 10,
//    "model_name": "recommender", "model_version": 1, "exclude_item_ids": ["i9"]}
//   -> {"item_ids": [...], "scores": [...], "model_name": "recommender", "model_version": 1}
//
// Only user_id and features are needed; a missing or null field means the
// same as an unset protobuf field. Parsing checks JSON types only (400
// naming the field) into the generated RecommendationRequest; everything
// else is the Recommender contract's (typed::InferCompiled), shared with
// gRPC, so both answer and refuse identically.
// Thread-safety: Recommend may be called concurrently.
#pragma once

#include <string>
#include <string_view>

#include "core/inference_server.h"
#include "http/http_handler.h"
#include "recommender.pb.h"

namespace protoserve {

StatusOr<RecommendationRequest> ParseRecommendationJson(std::string_view body);
std::string RecommendationToJson(const RecommendationResponse& response);

class RecommendRest {
 public:
  // `server` must outlive this object; `default_model` answers requests that name none.
  RecommendRest(const InferenceServer* server, std::string default_model)
      : server_(server), default_model_(std::move(default_model)) {}

  void Recommend(const HttpRequest& request, Responder responder) const;

 private:
  const InferenceServer* const server_;
  const std::string default_model_;
};

}  // namespace protoserve
