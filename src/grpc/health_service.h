// grpc.health.v1.Health on the completion-queue engine (grpc/cq_engine.h):
// gRPC's own health service runs on the callback API, whose threads the
// engine exists to avoid.
//
// Check answers a known service's status, NOT_FOUND for any other (gRPC's
// behaviour). Watch sends the current status (SERVICE_UNKNOWN for a service
// not known yet), then every change, until the client leaves or Shutdown().
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "grpc/cq_engine.h"
#include "health.pb.h"

namespace protoserve {

class HealthService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  using WatchCall = ServerStreamCall<grpc::health::v1::HealthCheckRequest, grpc::health::v1::HealthCheckResponse>;

  // `services`: the names besides the overall "" that have a status.
  explicit HealthService(std::vector<std::string> services);

  void Register(CqEngine* engine);
  // Every service's status: SERVING or NOT_SERVING.
  void SetServing(bool serving);
  // Sends NOT_SERVING to the watchers and ends their calls; later changes are ignored.
  void Shutdown();

 private:
  void Watch(WatchCall* call);
  void Notify(const std::string& service, ServingStatus status);  // with mu_ held

  std::mutex mu_;
  std::map<std::string, ServingStatus> statuses_;
  std::multimap<std::string, WatchCall*> watchers_;
  bool shut_down_ = false;
};

}  // namespace protoserve
