// protoserve.feedback.v1.Feedback: ground truth for any model's logged
// predictions and the per-version online metrics — a thin translation to the
// core's FeedbackLoop (the REST twins are POST /v2/models/{m}/feedback and
// GET /v2/models/{m}/evaluation).
#pragma once

#include "core/inference_server.h"
#include "feedback.pb.h"
#include "grpc/grpc_server.h"

namespace protoserve {

class FeedbackService final : public GrpcService {
 public:
  // `server` must outlive the service; without its feedback loop every call is UNIMPLEMENTED.
  explicit FeedbackService(const InferenceServer* server) : server_(server) {}

  // SendFeedback and GetEvaluation.
  void Register(CqEngine* engine) override;

 private:
  const InferenceServer* const server_;
};

}  // namespace protoserve
