// RecommendationEngine: the seed's GetRecommendations contract on top of the core.
//
// Shared by the gRPC Recommender service and the REST /v1/recommendations
// route so both validate and answer identically. A query becomes a request
// to a model with inputs `user_hash` (INT64 [1,1]) and `features` (FP32
// [1,N], N from the model config) and output `scores` (FP32 [1,items]) whose
// label file holds the item ids; the answer is the top-k items, highest
// score first.
//
// user_hash is FNV-1a 64 of the UTF-8 user_id, masked to 63 bits, so any
// client can reproduce it (see UserHash).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dynamic_batcher.h"
#include "core/model_repository.h"

namespace protoserve {

inline constexpr int32_t kDefaultTopK = 10;
inline constexpr int32_t kMaxTopK = 1000;
inline constexpr size_t kMaxUserIdBytes = 256;

// FNV-1a 64 (offset 0xcbf29ce484222325, prime 0x100000001b3) & 0x7fffffffffffffff.
uint64_t UserHash(std::string_view user_id);

struct RecommendationQuery {
  std::string_view user_id;
  std::span<const float> features;
  int32_t top_k = 0;  // 0: kDefaultTopK
  std::vector<std::string> exclude_item_ids;
  std::string model_name;     // empty: the server's default recommender model
  int64_t model_version = 0;  // 0: the model's default version
  Clock::time_point deadline = Clock::time_point::max();
  std::function<bool()> is_cancelled;
  Api api = Api::kGrpc;  // for metrics only
  RequestTrace* trace = nullptr;  // tracing only: told the route, passed to the request
};

struct Recommendation {
  std::vector<std::string> item_ids;
  std::vector<float> scores;
  std::string model_name;
  int64_t model_version = 0;
  std::string request_id;  // set by the facade (InferenceServer::Recommend)
  // The version that answered (for the facade's prediction log; may be null).
  std::shared_ptr<ModelVersion> answered_by;
};

// Checks the parts of a query that need no model: user_id, top_k, finite features.
Status ValidateQuery(const RecommendationQuery& query);

class RecommendationEngine {
 public:
  // `metrics` (may be null) receives shadow-agreement observations.
  RecommendationEngine(const ModelRepository* repository, std::string default_model, Metrics* metrics = nullptr);

  // Validates and queues `query`. On error `done` is not called.
  Status Recommend(RecommendationQuery query, std::function<void(Status, Recommendation)> done) const;

  const std::string& default_model() const { return default_model_; }

 private:
  // Runs `request` on `model` and calls `done` with its top-k.
  static Status Run(std::shared_ptr<ModelVersion> model, InferenceRequest request, int32_t k,
                    std::vector<bool> excluded, std::function<void(Status, Recommendation)> done);

  const ModelRepository* const repository_;
  const std::string default_model_;
  Metrics* const metrics_;
};

}  // namespace protoserve
