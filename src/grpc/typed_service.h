// TypedGrpcService: serves the typed APIs that models declare in their
// repository folders (docs/typed-apis.md) through gRPC's generic callback
// API: every method the server has no compiled handler for arrives here as
// bytes, is parsed into a dynamic message of the answering version's
// contract, and runs through the shared typed call path (typed/typed_call.h,
// then InferenceServer::Infer). A method no model serves is UNIMPLEMENTED.
//
// Unary methods only: the first request message is answered, then the call
// finishes.
#pragma once

#include <grpcpp/generic/async_generic_service.h>

#include "core/inference_server.h"
#include "typed/typed_call.h"

namespace protoserve {

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

}  // namespace protoserve
