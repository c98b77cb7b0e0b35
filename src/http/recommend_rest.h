// POST /v1/recommendations: the JSON twin of Recommender.GetRecommendations.
//
//   {"user_id": "u1", "features": [0.1, ...], "top_k": 10,
//    "model_name": "recommender", "model_version": 1, "exclude_item_ids": ["i9"]}
//   -> {"item_ids": [...], "scores": [...], "model_name": "recommender", "model_version": 1}
//
// Only user_id and features are needed; a missing or null field means the
// same as an unset protobuf field. Parsing checks JSON types only (400
// naming the field); everything else is InferenceServer::Recommend's,
// shared with gRPC, so both answer and refuse identically.
// Thread-safety: Recommend may be called concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/inference_server.h"
#include "http/http_handler.h"

namespace protoserve {

// The owned fields of a parsed request; query() views them.
struct RecommendationJson {
  std::string user_id;
  std::vector<float> features;
  int32_t top_k = 0;
  std::vector<std::string> exclude_item_ids;
  std::string model_name;
  int64_t model_version = 0;

  // Valid while this object is alive and unchanged.
  RecommendationQuery query() const;
};

StatusOr<RecommendationJson> ParseRecommendationJson(std::string_view body);
std::string RecommendationToJson(const Recommendation& recommendation);

class RecommendRest {
 public:
  // `server` must outlive this object.
  explicit RecommendRest(const InferenceServer* server) : server_(server) {}

  void Recommend(const HttpRequest& request, Responder responder) const;

 private:
  const InferenceServer* const server_;
};

}  // namespace protoserve
