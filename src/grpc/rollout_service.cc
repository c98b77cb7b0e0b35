#include "grpc/rollout_service.h"

#include "grpc/grpc_status.h"
#include "kserve/rollout_codec.h"

namespace protoserve {

namespace v1 = protoserve::rollout::v1;

namespace {

// `call(server, request, response)`: one of kserve/rollout_codec.h's calls.
template <typename Request, typename Call>
void AddRolloutMethod(CqEngine* engine, const InferenceServer* server, const char* method, Call call,
                      bool blocking) {
  engine->AddUnary<Request, v1::RolloutStatus>(
      std::string("/protoserve.rollout.v1.Rollout/") + method,
      [server, call](UnaryCall<Request, v1::RolloutStatus>* unary) {
        unary->Finish(ToGrpcStatus(call(*server, unary->request(), unary->response())));
      },
      {.slots = 1, .blocking = blocking});
}

}  // namespace

void RolloutService::Register(CqEngine* engine) {
  AddRolloutMethod<v1::StartRolloutRequest>(engine, server_, "StartRollout", StartRolloutCall, true);
  AddRolloutMethod<v1::AbortRolloutRequest>(engine, server_, "AbortRollout", AbortRolloutCall, true);
  AddRolloutMethod<v1::GetRolloutRequest>(engine, server_, "GetRollout", GetRolloutCall, false);
}

}  // namespace protoserve
