// protoserve.feedback.v1.Feedback: ground truth for any model's logged
// predictions and the per-version online metrics — a thin translation to the
// core's FeedbackLoop (the REST twins are POST /v2/models/{m}/feedback and
// GET /v2/models/{m}/evaluation).
#pragma once

#include "core/inference_server.h"
#include "feedback.grpc.pb.h"

namespace protoserve {

class FeedbackService final : public protoserve::feedback::v1::Feedback::CallbackService {
 public:
  // `server` must outlive the service; without its feedback loop every call is UNIMPLEMENTED.
  explicit FeedbackService(const InferenceServer* server) : server_(server) {}

  grpc::ServerUnaryReactor* SendFeedback(grpc::CallbackServerContext* context,
                                         const protoserve::feedback::v1::FeedbackRequest* request,
                                         protoserve::feedback::v1::FeedbackResponse* response) override;
  grpc::ServerUnaryReactor* GetEvaluation(grpc::CallbackServerContext* context,
                                          const protoserve::feedback::v1::EvaluationRequest* request,
                                          protoserve::feedback::v1::EvaluationResponse* response) override;

 private:
  const InferenceServer* const server_;
};

}  // namespace protoserve
