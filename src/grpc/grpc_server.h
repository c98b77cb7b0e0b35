// GrpcServer: owns the grpc::Server, its completion-queue engine
// (grpc/cq_engine.h) with protoserve's services (reflection among them:
// grpc/reflection_service.h; the typed APIs: grpc/typed_service.h), and the
// standard health service (grpc.health.v1, overall and per service:
// grpc/health_service.h).
//
// Health starts NOT_SERVING and is switched by SetServing() (the server
// becomes SERVING once its models are loaded, and NOT_SERVING again when
// shutdown begins, so load balancers stop sending new calls first).
// Start() fails with INVALID_ARGUMENT for unusable TLS files.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "grpc/auth.h"
#include "grpc/cq_engine.h"
#include "grpc/health_service.h"

namespace protoserve {

struct GrpcServerOptions {
  std::string address = "0.0.0.0";
  int port = 8001;  // 0: pick a free port
  // Connections are closed (with GOAWAY) after this age so clients behind a
  // Kubernetes Service reconnect and spread over new replicas. 0 disables.
  int max_connection_age_secs = 300;
  int max_connection_age_grace_secs = 30;
  int max_message_bytes = 64 << 20;
  // Concurrent calls (HTTP/2 streams) per connection; 0: gRPC's default.
  int max_concurrent_streams = 0;
  // Share the port with other processes (SO_REUSEPORT); off: a port in use fails Start().
  bool reuse_port = false;
  // TLS / mTLS, bearer tokens, loopback-only management (grpc/auth.h).
  GrpcSecurityOptions security;
  // Completion queues, each polled by one thread that also runs the quick
  // handlers (and quick models inline: core/dynamic_batcher.h).
  int threads = 1;
};

// A gRPC service of the server: registers its methods with the engine.
class GrpcService {
 public:
  virtual ~GrpcService() = default;
  virtual void Register(CqEngine* engine) = 0;
};

class GrpcServer {
 public:
  // The services must outlive the server.
  GrpcServer(GrpcServerOptions options, std::vector<GrpcService*> services);
  ~GrpcServer();

  // One more service, known only after construction (before Start).
  void add_service(GrpcService* service) { services_.push_back(service); }
  Status Start();
  int port() const { return port_; }
  void SetServing(bool serving);
  // Stops accepting calls and waits up to `grace` for in-flight calls.
  void Shutdown(std::chrono::milliseconds grace);

 private:
  const GrpcServerOptions options_;
  std::vector<GrpcService*> services_;
  HealthService health_;
  CqEngine engine_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace protoserve
