#include "grpc/health_service.h"

namespace protoserve {

namespace health = grpc::health::v1;

namespace {

health::HealthCheckResponse Response(HealthService::ServingStatus status) {
  health::HealthCheckResponse response;
  response.set_status(status);
  return response;
}

}  // namespace

HealthService::HealthService(std::vector<std::string> services) {
  statuses_[""] = health::HealthCheckResponse::NOT_SERVING;
  for (std::string& name : services) statuses_[std::move(name)] = health::HealthCheckResponse::NOT_SERVING;
}

void HealthService::Register(CqEngine* engine) {
  engine->AddUnary<health::HealthCheckRequest, health::HealthCheckResponse>(
      "/grpc.health.v1.Health/Check",
      [this](UnaryCall<health::HealthCheckRequest, health::HealthCheckResponse>* call) {
        std::unique_lock lock(mu_);
        auto it = statuses_.find(call->request().service());
        if (it == statuses_.end()) {
          lock.unlock();
          call->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
          return;
        }
        call->response()->set_status(it->second);
        lock.unlock();
        call->Finish(grpc::Status::OK);
      });
  engine->AddServerStream<health::HealthCheckRequest, health::HealthCheckResponse>(
      "/grpc.health.v1.Health/Watch", [this](WatchCall* call) { Watch(call); });
}

void HealthService::Watch(WatchCall* call) {
  const std::string service = call->request().service();
  std::lock_guard lock(mu_);
  auto it = statuses_.find(service);
  if (shut_down_) {
    call->set_on_done([] {});
    call->Write(Response(health::HealthCheckResponse::NOT_SERVING));
    call->Finish(grpc::Status::OK);
    return;
  }
  auto watcher = watchers_.emplace(service, call);
  call->set_on_done([this, watcher] {
    std::lock_guard guard(mu_);
    watchers_.erase(watcher);
  });
  call->Write(Response(it == statuses_.end() ? health::HealthCheckResponse::SERVICE_UNKNOWN : it->second));
}

void HealthService::SetServing(bool serving) {
  const ServingStatus status = serving ? health::HealthCheckResponse::SERVING : health::HealthCheckResponse::NOT_SERVING;
  std::lock_guard lock(mu_);
  if (shut_down_) return;
  for (auto& [service, current] : statuses_) {
    if (current == status) continue;
    current = status;
    Notify(service, status);
  }
}

void HealthService::Notify(const std::string& service, ServingStatus status) {
  auto [first, last] = watchers_.equal_range(service);
  for (auto it = first; it != last; ++it) it->second->Write(Response(status));
}

void HealthService::Shutdown() {
  std::lock_guard lock(mu_);
  if (shut_down_) return;
  for (auto& [service, current] : statuses_) {
    if (current == health::HealthCheckResponse::NOT_SERVING) continue;
    current = health::HealthCheckResponse::NOT_SERVING;
    Notify(service, current);
  }
  shut_down_ = true;
  for (auto& [service, call] : watchers_) call->Finish(grpc::Status::OK);
}

}  // namespace protoserve
