// Access policy of both ports: which class of call a method is, who may
// make it, and which peers count as local. Shared by the gRPC port
// (src/grpc/auth) and the HTTP port (src/http/http_auth), which only map
// their wire's credentials and paths onto it.
//
// Who may call what (docs/security.md):
//   open      grpc.health.v1.Health/*, inference ServerLive, ServerReady
//   metadata  ServerMetadata, ModelMetadata, ModelReady, ModelConfig,
//             RepositoryIndex, reflection: scope `infer`, or open with
//             `open_metadata`
//   infer     everything else (ModelInfer, Recommender, statistics, ...)
//   manage    RepositoryModelLoad/Unload, protoserve.rollout.v1.Rollout/
//             StartRollout and AbortRollout: scope `manage`; when no token has
//             `manage`, any valid token, and only from a loopback peer
#pragma once

#include <string_view>

#include "core/auth_tokens.h"
#include "core/status.h"

namespace protoserve {

enum class GrpcMethodAccess { kOpen, kMetadata, kInfer, kManage };

// Classifies a full method path ("/package.Service/Method"), as gRPC and
// gRPC-Web name it.
GrpcMethodAccess ClassifyGrpcMethod(std::string_view path);

// True for peers on the loopback interface or a Unix socket
// ("ipv4:127.x.x.x:p", "ipv6:[::1]:p", "ipv6:[::ffff:127.x.x.x]:p", "unix:...").
bool IsLoopbackPeer(std::string_view peer);

// The access decision for one call of class `access` or of the method at `path`.
Status AuthorizeAccess(const TokenAuthorizer& authorizer, bool open_metadata, GrpcMethodAccess access,
                       std::string_view authorization);
Status AuthorizeGrpcCall(const TokenAuthorizer& authorizer, bool open_metadata, std::string_view path,
                         std::string_view authorization);

}  // namespace protoserve
