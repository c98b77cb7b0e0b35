// The seed's Recommender gRPC service on the completion-queue engine
// (grpc/cq_engine.h), serving the Recommender contract that the recommender models declare
// in their config.pbtxt (docs/typed-apis.md: a contract compiled into the
// server is served through its generated service). Every field is read and
// written by the model's TypedContract (typed::InferCompiled) on the
// generated messages; this file only adds the wire concerns (deadline,
// cancellation, request id, trace metadata, streaming order).
#pragma once

#include "core/inference_server.h"
#include "grpc/grpc_server.h"
#include "recommender.pb.h"

namespace protoserve {

class RecommenderService final : public GrpcService {
 public:
  // `server` must outlive the service; `default_model` answers requests that name none.
  RecommenderService(const InferenceServer* server, std::string default_model)
      : server_(server), default_model_(std::move(default_model)) {}

  // GetRecommendations, StreamRecommendations, and SendFeedback (joins the
  // feedback to its prediction: FeedbackLoop; UNIMPLEMENTED without one).
  void Register(CqEngine* engine) override;

 private:
  using RecommendCall = UnaryCall<RecommendationRequest, RecommendationResponse>;
  using FeedbackCall = UnaryCall<RecommendationFeedback, RecommendationFeedbackResponse>;
  void GetRecommendations(RecommendCall* call) const;
  void StreamRecommendation(grpc::ServerContext* context, std::unique_ptr<RecommendationRequest> request,
                            std::function<void(RecommendationResponse)> done) const;
  void SendFeedback(FeedbackCall* call) const;

  const InferenceServer* const server_;
  const std::string default_model_;
};

}  // namespace protoserve
