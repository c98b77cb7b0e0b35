// protoserve.rollout.v1.Rollout: start, abort and read a model's progressive
// rollout — a thin translation to the core's RolloutController through the
// calls of kserve/rollout_codec.h (the REST twins are
// POST /v2/models/{m}/rollout/start|abort and GET /v2/models/{m}/rollout).
// StartRollout/AbortRollout are management calls (auth.h, access_policy.h).
#pragma once

#include "core/inference_server.h"
#include "rollout.grpc.pb.h"

namespace protoserve {

class RolloutService final : public protoserve::rollout::v1::Rollout::CallbackService {
 public:
  // `server` must outlive the service; without its controller every call is UNIMPLEMENTED.
  explicit RolloutService(const InferenceServer* server) : server_(server) {}

  grpc::ServerUnaryReactor* StartRollout(grpc::CallbackServerContext* context,
                                         const protoserve::rollout::v1::StartRolloutRequest* request,
                                         protoserve::rollout::v1::RolloutStatus* response) override;
  grpc::ServerUnaryReactor* AbortRollout(grpc::CallbackServerContext* context,
                                         const protoserve::rollout::v1::AbortRolloutRequest* request,
                                         protoserve::rollout::v1::RolloutStatus* response) override;
  grpc::ServerUnaryReactor* GetRollout(grpc::CallbackServerContext* context,
                                       const protoserve::rollout::v1::GetRolloutRequest* request,
                                       protoserve::rollout::v1::RolloutStatus* response) override;

 private:
  const InferenceServer* const server_;
};

}  // namespace protoserve
