// The seed's Recommender gRPC service: a thin translation between
// RecommendationRequest/Response and the core RecommendationEngine.
#pragma once

#include "core/metrics.h"
#include "core/recommender.h"
#include "grpc/arena_allocator.h"
#include "recommender.grpc.pb.h"

namespace protoserve {

class RecommenderService final : public ::Recommender::CallbackService {
 public:
  RecommenderService(const RecommendationEngine* recommender, Metrics* metrics)
      : recommender_(recommender), metrics_(metrics) {
    SetMessageAllocatorFor_GetRecommendations(&allocator_);
  }

  grpc::ServerUnaryReactor* GetRecommendations(grpc::CallbackServerContext* context,
                                               const RecommendationRequest* request,
                                               RecommendationResponse* response) override;
  grpc::ServerBidiReactor<RecommendationRequest, RecommendationResponse>* StreamRecommendations(
      grpc::CallbackServerContext* context) override;

 private:
  const RecommendationEngine* const recommender_;
  Metrics* const metrics_;  // may be null
  ArenaMessageAllocator<RecommendationRequest, RecommendationResponse> allocator_;
};

}  // namespace protoserve
