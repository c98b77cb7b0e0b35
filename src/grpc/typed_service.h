// The typed APIs that models declare in their repository folders
// (docs/typed-apis.md) over gRPC. A call arrives as bytes, is parsed into a
// dynamic message of the answering version's contract, and runs through the
// shared typed call path (typed/typed_call.h, then InferenceServer::Infer).
// Unary methods only.
//
// Two ways in, one call path (ServeTypedCall), both on the completion-queue
// engine (grpc/cq_engine.h):
//   - the methods the repository's configs declare when the server starts
//     (typed::DeclaredMethodPaths) are registered as unary methods of byte
//     buffers: a typed call costs what ModelInfer costs;
//   - the engine's fallback answers every other method: contracts of models
//     added to the repository later. A method no model serves is
//     UNIMPLEMENTED.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <vector>

#include "core/inference_server.h"
#include "grpc/grpc_server.h"
#include "typed/typed_call.h"

namespace protoserve {

// One typed unary call of `method` ("/package.Service/Method"): `request`
// parsed, run, the answer serialized into `response`; then `finish` (once).
void ServeTypedCall(const InferenceServer& server, const typed::TypedMethods& methods,
                    grpc::ServerContextBase* context, const std::string& method, grpc::ByteBuffer* request,
                    grpc::ByteBuffer* response, std::function<void(grpc::Status)> finish);

class TypedGrpcService final : public GrpcService {
 public:
  // `paths`: "/package.Service/Method"; those of services compiled into the
  // server (their own service answers them) are left out. `server` and
  // `methods` must outlive the service.
  TypedGrpcService(const InferenceServer* server, const typed::TypedMethods* methods, std::vector<std::string> paths);

  void Register(CqEngine* engine) override;
  // The methods registered as unary methods, in registration order.
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  const InferenceServer* const server_;
  const typed::TypedMethods* const methods_;
  std::vector<std::string> paths_;
};

}  // namespace protoserve
