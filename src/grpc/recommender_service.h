// The seed's Recommender gRPC service: a thin translation between
// RecommendationRequest/Response and the core facade (InferenceServer::Recommend).
#pragma once

#include "core/inference_server.h"
#include "grpc/arena_allocator.h"
#include "recommender.grpc.pb.h"

namespace protoserve {

class RecommenderService final : public ::Recommender::CallbackService {
 public:
  // `server` must outlive the service.
  explicit RecommenderService(const InferenceServer* server) : server_(server) {
    SetMessageAllocatorFor_GetRecommendations(&allocator_);
  }

  grpc::ServerUnaryReactor* GetRecommendations(grpc::CallbackServerContext* context,
                                               const RecommendationRequest* request,
                                               RecommendationResponse* response) override;
  grpc::ServerBidiReactor<RecommendationRequest, RecommendationResponse>* StreamRecommendations(
      grpc::CallbackServerContext* context) override;
  // Joins the feedback to its prediction (FeedbackLoop); UNIMPLEMENTED without one.
  grpc::ServerUnaryReactor* SendFeedback(grpc::CallbackServerContext* context, const RecommendationFeedback* request,
                                         RecommendationFeedbackResponse* response) override;

 private:
  const InferenceServer* const server_;
  ArenaMessageAllocator<RecommendationRequest, RecommendationResponse> allocator_;
};

}  // namespace protoserve
