#include "core/access_policy.h"

#include <optional>

namespace protoserve {

namespace {
constexpr std::string_view kInferenceService = "/inference.GRPCInferenceService/";
}  // namespace

GrpcMethodAccess ClassifyGrpcMethod(std::string_view path) {
  if (path.starts_with("/grpc.health.v1.Health/")) return GrpcMethodAccess::kOpen;
  if (path.starts_with("/grpc.reflection.")) return GrpcMethodAccess::kMetadata;
  if (path == "/protoserve.rollout.v1.Rollout/StartRollout" || path == "/protoserve.rollout.v1.Rollout/AbortRollout") {
    return GrpcMethodAccess::kManage;
  }
  if (!path.starts_with(kInferenceService)) return GrpcMethodAccess::kInfer;
  const std::string_view method = path.substr(kInferenceService.size());
  if (method == "ServerLive" || method == "ServerReady") return GrpcMethodAccess::kOpen;
  if (method == "ServerMetadata" || method == "ModelMetadata" || method == "ModelReady" || method == "ModelConfig" ||
      method == "RepositoryIndex") {
    return GrpcMethodAccess::kMetadata;
  }
  if (method == "RepositoryModelLoad" || method == "RepositoryModelUnload") return GrpcMethodAccess::kManage;
  return GrpcMethodAccess::kInfer;
}

bool IsLoopbackPeer(std::string_view peer) {
  return peer.starts_with("ipv4:127.") || peer.starts_with("ipv6:[::1]:") ||
         peer.starts_with("ipv6:[::ffff:127.") || peer.starts_with("unix:");
}

Status AuthorizeGrpcCall(const TokenAuthorizer& authorizer, bool open_metadata, std::string_view path,
                         std::string_view authorization) {
  return AuthorizeAccess(authorizer, open_metadata, ClassifyGrpcMethod(path), authorization);
}

Status AuthorizeAccess(const TokenAuthorizer& authorizer, bool open_metadata, GrpcMethodAccess access,
                       std::string_view authorization) {
  switch (access) {
    case GrpcMethodAccess::kOpen:
      return Status::Ok();
    case GrpcMethodAccess::kMetadata:
      return open_metadata ? Status::Ok() : authorizer.Check(authorization, AuthScope::kInfer);
    case GrpcMethodAccess::kInfer:
      return authorizer.Check(authorization, AuthScope::kInfer);
    case GrpcMethodAccess::kManage:
      // Without any manage token, management is for local operators: any
      // valid token here, and the loopback rule (ManagementPeerGuard).
      return authorizer.Check(authorization, authorizer.AnyTokenHas(AuthScope::kManage)
                                                 ? std::optional<AuthScope>(AuthScope::kManage)
                                                 : std::nullopt);
  }
  return Status(StatusCode::kPermissionDenied, "unclassified method");
}

}  // namespace protoserve
