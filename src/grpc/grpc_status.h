// Conversions between the core's Status/clock and gRPC's.
#pragma once

#include <grpcpp/grpcpp.h>

#include "core/dynamic_batcher.h"
#include "core/status.h"

namespace protoserve {

inline grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message());
}

// The call's deadline on the steady clock; max when the client set none
// (the core then applies the server's default, --request-timeout-secs).
inline Clock::time_point SteadyDeadline(const grpc::ServerContextBase& context) {
  const auto deadline = context.deadline();
  const auto remaining = deadline - std::chrono::system_clock::now();
  if (deadline == std::chrono::system_clock::time_point::max() || remaining > std::chrono::hours(24 * 365)) {
    return Clock::time_point::max();
  }
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(remaining);
}

}  // namespace protoserve
