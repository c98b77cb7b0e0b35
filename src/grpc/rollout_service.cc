#include "grpc/rollout_service.h"

#include "grpc/grpc_status.h"
#include "kserve/rollout_codec.h"

namespace protoserve {

namespace v1 = protoserve::rollout::v1;

namespace {

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, const Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* RolloutService::StartRollout(grpc::CallbackServerContext* context,
                                                       const v1::StartRolloutRequest* request,
                                                       v1::RolloutStatus* response) {
  return Finish(context, StartRolloutCall(*server_, *request, response));
}

grpc::ServerUnaryReactor* RolloutService::AbortRollout(grpc::CallbackServerContext* context,
                                                       const v1::AbortRolloutRequest* request,
                                                       v1::RolloutStatus* response) {
  return Finish(context, AbortRolloutCall(*server_, *request, response));
}

grpc::ServerUnaryReactor* RolloutService::GetRollout(grpc::CallbackServerContext* context,
                                                     const v1::GetRolloutRequest* request,
                                                     v1::RolloutStatus* response) {
  return Finish(context, GetRolloutCall(*server_, *request, response));
}

}  // namespace protoserve
