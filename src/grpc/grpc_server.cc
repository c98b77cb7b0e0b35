#include "grpc/grpc_server.h"

#include "grpc/engine_tuning.h"
#include "grpc/grpc_status.h"

namespace protoserve {

namespace {

// The services with a health status of their own, besides the overall "".
std::vector<std::string> HealthNames() { return {"Recommender", "inference.GRPCInferenceService"}; }

}  // namespace

GrpcServer::GrpcServer(GrpcServerOptions options, std::vector<GrpcService*> services)
    : options_(std::move(options)),
      services_(std::move(services)),
      health_(HealthNames()),
      engine_(options_.threads) {}

GrpcServer::~GrpcServer() { Shutdown(std::chrono::milliseconds(0)); }

Status GrpcServer::Start() {
  TuneGrpcProcess();
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
    interceptors.push_back(MakeManagementPeerGuard(options_.security.authorizer, options_.security.trusted_peer));
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
  health_.Register(&engine_);
  for (GrpcService* service : services_) service->Register(&engine_);
  engine_.AddTo(&builder);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    server_.reset();
    return Unavailable("cannot listen for gRPC on " + address + ":" + std::to_string(options_.port) +
                       (options_.security.tls_cert_file.empty() ? "" : " (or the TLS certificate/key is invalid)"));
  }
  engine_.Start();
  SetServing(false);
  return Status::Ok();
}

void GrpcServer::SetServing(bool serving) {
  health_.SetServing(serving);
}

void GrpcServer::Shutdown(std::chrono::milliseconds grace) {
  if (!server_) return;
  health_.Shutdown();  // NOT_SERVING, and the watchers' calls end
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  engine_.Stop();
  server_->Wait();
  server_.reset();
}

}  // namespace protoserve
