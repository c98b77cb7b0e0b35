// protoserve.rollout.v1.Rollout: start, abort and read a model's progressive
// rollout — a thin translation to the core's RolloutController through the
// calls of kserve/rollout_codec.h (the REST twins are
// POST /v2/models/{m}/rollout/start|abort and GET /v2/models/{m}/rollout).
// StartRollout/AbortRollout are management calls (auth.h, access_policy.h).
#pragma once

#include "core/inference_server.h"
#include "grpc/grpc_server.h"
#include "rollout.pb.h"

namespace protoserve {

class RolloutService final : public GrpcService {
 public:
  // `server` must outlive the service; without its controller every call is UNIMPLEMENTED.
  explicit RolloutService(const InferenceServer* server) : server_(server) {}

  // StartRollout and AbortRollout (on a thread of their own: they may load a
  // version), GetRollout.
  void Register(CqEngine* engine) override;

 private:
  const InferenceServer* const server_;
};

}  // namespace protoserve
