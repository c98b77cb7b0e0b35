#include "grpc/grpc_server.h"

#include <grpcpp/health_check_service_interface.h>

#include "grpc/engine_tuning.h"
#include "grpc/grpc_status.h"

namespace protoserve {

GrpcServer::GrpcServer(GrpcServerOptions options, std::vector<grpc::Service*> services)
    : options_(std::move(options)), services_(std::move(services)) {}

GrpcServer::~GrpcServer() { Shutdown(std::chrono::milliseconds(0)); }

Status GrpcServer::Start() {
  TuneGrpcProcess();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const std::string address = options_.address.find(':') != std::string::npos && options_.address.front() != '['
                                  ? "[" + options_.address + "]"
                                  : options_.address;
  auto credentials = MakeGrpcServerCredentials(options_.security);
  if (!credentials.ok()) return credentials.status();
  builder.AddListeningPort(address + ":" + std::to_string(options_.port), *credentials, &port_);
  if (options_.max_concurrent_streams > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams);
  }
  if (options_.security.management_loopback_only) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
    interceptors.push_back(MakeManagementPeerGuard(options_.security.authorizer));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  // gRPC sets SO_REUSEPORT by default: a second server on the same port
  // would start and silently take part of the traffic (e.g. an old version
  // left running during a deploy). Off unless asked for (Triton's
  // --reuse-grpc-port); binding a port in use then fails Start().
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, options_.reuse_port ? 1 : 0);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
  if (options_.max_connection_age_secs > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, options_.max_connection_age_secs * 1000);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, options_.max_connection_age_grace_secs * 1000);
  }
  for (grpc::Service* service : services_) builder.RegisterService(service);
  if (generic_) builder.RegisterCallbackGenericService(generic_);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    return Unavailable("cannot listen for gRPC on " + address + ":" + std::to_string(options_.port) +
                       (options_.security.tls_cert_file.empty() ? "" : " (or the TLS certificate/key is invalid)"));
  }
  SetServing(false);
  return Status::Ok();
}

void GrpcServer::SetServing(bool serving) {
  if (!server_) return;
  auto* health = server_->GetHealthCheckService();
  health->SetServingStatus(serving);
  for (const char* name : {"Recommender", "inference.GRPCInferenceService"}) {
    health->SetServingStatus(name, serving);
  }
}

void GrpcServer::Shutdown(std::chrono::milliseconds grace) {
  if (!server_) return;
  SetServing(false);
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

}  // namespace protoserve
