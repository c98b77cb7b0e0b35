// Transport security and access control of the gRPC port: TLS / mutual TLS,
// bearer tokens with scopes (core/auth_tokens.h), and the loopback-only rule
// for model management.
//
// Who may call what (docs/security.md):
//   open      grpc.health.v1.Health/*, inference ServerLive, ServerReady
//   metadata  ServerMetadata, ModelMetadata, ModelReady, ModelConfig,
//             RepositoryIndex, reflection: scope `infer`, or open with
//             `open_metadata`
//   infer     everything else (ModelInfer, Recommender, statistics, ...)
//   manage    RepositoryModelLoad/Unload: scope `manage`; when no token has
//             `manage`, any valid token, and only from a loopback peer
//
// Why this shape: tokens are checked by an AuthMetadataProcessor, which gRPC
// runs in the transport before any handler, for every method (reflection and
// health included), and which can answer UNAUTHENTICATED or
// PERMISSION_DENIED without the handler ever running. (A server interceptor
// cannot reject a call in gRPC C++ 1.51: the handler always runs.) gRPC's C++
// API refuses a processor on insecure credentials, so for plaintext ports
// the listening credentials are built through the C API, which supports it.
// The processor does not see the peer address, so the loopback rule for
// management is an interceptor on the two management methods only: for a
// refused peer it empties the request (the handler then refuses an empty
// model name without touching the repository, which itself validates names)
// and replaces the final status with PERMISSION_DENIED.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/access_policy.h"
#include "core/auth_tokens.h"

namespace protoserve {

struct GrpcSecurityOptions {
  // PEM files. TLS when cert and key are set; with client_ca, clients must
  // present a certificate signed by it (mutual TLS).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Bearer tokens; null: no token checks.
  std::shared_ptr<const TokenAuthorizer> authorizer;
  bool open_metadata = false;
  // Model management only from loopback peers unless a `manage` token exists.
  bool management_loopback_only = false;
  // Which peers count as local for that rule (tests pass their own).
  std::function<bool(std::string_view peer)> trusted_peer = IsLoopbackPeer;
};

// Credentials for the listening port. Reads the PEM files; INVALID_ARGUMENT
// when one is missing, unreadable or empty, or only one of cert/key is set.
StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeGrpcServerCredentials(const GrpcSecurityOptions& options);

// The interceptor enforcing `management_loopback_only`; `trusted_peer`
// decides which peers count as local (tests pass their own).
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeManagementPeerGuard(
    std::shared_ptr<const TokenAuthorizer> authorizer,
    std::function<bool(std::string_view peer)> trusted_peer = IsLoopbackPeer);

}  // namespace protoserve
