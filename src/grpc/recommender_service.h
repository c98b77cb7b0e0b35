// The seed's Recommender gRPC service: the generated service on the callback
// API, serving the Recommender contract that the recommender models declare
// in their config.pbtxt (docs/typed-apis.md: a contract compiled into the
// server is served through its generated service). Every field is read and
// written by the model's TypedContract (typed::InferCompiled) on the
// generated messages; this file only adds the wire concerns (deadline,
// cancellation, request id, trace metadata, streaming order).
#pragma once

#include "core/inference_server.h"
#include "grpc/arena_allocator.h"
#include "recommender.grpc.pb.h"

namespace protoserve {

class RecommenderService final : public ::Recommender::CallbackService {
 public:
  // `server` must outlive the service; `default_model` answers requests that name none.
  RecommenderService(const InferenceServer* server, std::string default_model)
      : server_(server), default_model_(std::move(default_model)) {
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
  const std::string default_model_;
  ArenaMessageAllocator<RecommendationRequest, RecommendationResponse> allocator_;
};

}  // namespace protoserve
