// Conversions between the core's Status/clock and gRPC's.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>

#include "core/dynamic_batcher.h"
#include "core/status.h"

namespace protoserve {

inline grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message());
}

// The deadline given to calls whose client set none (--request-timeout-secs);
// zero (the default) means none. Set once by GrpcServer::Start, before calls.
inline std::atomic<Clock::duration::rep>& DefaultRequestTimeoutTicks() {
  static std::atomic<Clock::duration::rep> ticks{0};
  return ticks;
}
inline Clock::duration DefaultRequestTimeout() { return Clock::duration(DefaultRequestTimeoutTicks().load()); }

// The call's deadline on the steady clock. When the client set none:
// now + `fallback` (the server's default request timeout), or max when that is zero.
inline Clock::time_point SteadyDeadline(const grpc::ServerContextBase& context,
                                        Clock::duration fallback = DefaultRequestTimeout()) {
  const auto deadline = context.deadline();
  const auto remaining = deadline - std::chrono::system_clock::now();
  if (deadline == std::chrono::system_clock::time_point::max() || remaining > std::chrono::hours(24 * 365)) {
    return fallback > Clock::duration::zero() ? Clock::now() + fallback : Clock::time_point::max();
  }
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(remaining);
}

}  // namespace protoserve
