// The typed APIs that models declare in their repository folders
// (docs/typed-apis.md) over gRPC. A call arrives as bytes, is parsed into a
// dynamic message of the answering version's contract, and runs through the
// shared typed call path (typed/typed_call.h, then InferenceServer::Infer).
// Unary methods only.
//
// Two ways in, one call path (ServeTypedCall):
//   - TypedUnaryService registers, before the server starts, the methods the
//     repository's configs declare (typed::DeclaredMethodPaths) as raw unary
//     callback methods: the same gRPC handler as a generated unary method, so
//     a typed call costs what ModelInfer costs (the generic API's reactor
//     runs its reactions on gRPC's executor thread: ~1.6 more context
//     switches per call, measured);
//   - TypedGrpcService, gRPC's generic callback service, answers every other
//     method: contracts of models added to the repository later. A method no
//     model serves is UNIMPLEMENTED.
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <vector>

#include "core/inference_server.h"
#include "typed/typed_call.h"

namespace protoserve {

// One typed unary call of `method` ("/package.Service/Method"): `request`
// parsed, run, the answer serialized into `response`; then `finish` (once).
void ServeTypedCall(const InferenceServer& server, const typed::TypedMethods& methods,
                    grpc::ServerContextBase* context, const std::string& method, grpc::ByteBuffer* request,
                    grpc::ByteBuffer* response, std::function<void(grpc::Status)> finish);

class TypedGrpcService final : public grpc::CallbackGenericService {
 public:
  // Both must outlive the service.
  TypedGrpcService(const InferenceServer* server, const typed::TypedMethods* methods)
      : server_(server), methods_(methods) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override;

 private:
  const InferenceServer* const server_;
  const typed::TypedMethods* const methods_;
};

class TypedUnaryService final : public grpc::Service {
 public:
  // `paths`: "/package.Service/Method"; those of services compiled into the
  // server (their generated service answers them) are left out.
  TypedUnaryService(const InferenceServer* server, const typed::TypedMethods* methods, std::vector<std::string> paths);

  // The methods registered, in registration order.
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  const InferenceServer* const server_;
  const typed::TypedMethods* const methods_;
  std::vector<std::string> paths_;  // gRPC keeps pointers to these names
};

}  // namespace protoserve
