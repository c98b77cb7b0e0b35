// The rollout management API's messages (proto/rollout.proto) <-> the core
// rollout controller, shared by the gRPC service and the REST twin (which
// speaks the same messages as JSON), so both validate and answer alike.
// Also the requests themselves: each front-end only decodes and encodes.
#pragma once

#include "core/inference_server.h"
#include "core/rollout_controller.h"
#include "rollout.pb.h"

namespace protoserve {

// The policy's fields as `rollout_*` parameters, validated by ParseRolloutPolicy.
StatusOr<RolloutPolicy> PolicyFromProto(const protoserve::rollout::v1::RolloutPolicy& policy);
void FillRolloutStatus(const RolloutStatus& status, protoserve::rollout::v1::RolloutStatus* out);

// The three calls, with the server's checks: UNIMPLEMENTED without a
// controller, PERMISSION_DENIED when management is refused, INVALID_ARGUMENT
// for a bad model name or policy.
Status StartRolloutCall(const InferenceServer& server, const protoserve::rollout::v1::StartRolloutRequest& request,
                        protoserve::rollout::v1::RolloutStatus* response);
Status AbortRolloutCall(const InferenceServer& server, const protoserve::rollout::v1::AbortRolloutRequest& request,
                        protoserve::rollout::v1::RolloutStatus* response);
Status GetRolloutCall(const InferenceServer& server, const protoserve::rollout::v1::GetRolloutRequest& request,
                      protoserve::rollout::v1::RolloutStatus* response);

}  // namespace protoserve
