// The typed APIs' wiring (docs/typed-apis.md), kept out of main.cc: the
// contract loader of the repository, the method index, the typed gRPC
// methods and reflection, the REST twin and the gRPC-Web hook.
#pragma once

#include <string>
#include <vector>

#include "core/inference_server.h"
#include "core/model_repository.h"
#include "feedback.grpc.pb.h"
#include "grpc/grpc_server.h"
#include "grpc/reflection_service.h"
#include "grpc/typed_service.h"
#include "http/grpc_web.h"
#include "http/rest_router.h"
#include "http/typed_rest.h"
#include "inference.grpc.pb.h"
#include "recommender.grpc.pb.h"
#include "reflection.grpc.pb.h"
#include "rollout.grpc.pb.h"
#include "typed/typed_call.h"

namespace protoserve {

class TypedApis {
 public:
  // Call before the repository loads anything: every version then loads its
  // contract (if its config declares one).
  static void InstallLoader(ModelRepository* repository) {
    repository->set_contract_loader(typed::TypedContract::Loader());
  }

  // Both must outlive this object. The methods the repository's configs
  // declare now are registered as unary gRPC methods; those of models added
  // later arrive through the generic service (grpc/typed_service.h).
  TypedApis(const InferenceServer* server, const ModelRepository* repository)
      : methods_(repository),
        grpc_(server, &methods_, typed::DeclaredMethodPaths(repository->root())),
        reflection_({::Recommender::service_full_name(), inference::GRPCInferenceService::service_full_name(),
                     protoserve::feedback::v1::Feedback::service_full_name(),
                     protoserve::rollout::v1::Rollout::service_full_name(), "grpc.health.v1.Health",
                     grpc::reflection::v1alpha::ServerReflection::service_full_name()},
                    &methods_),
        rest_(server) {}

  // Reflection goes with the server's other services.
  GrpcService* reflection() { return &reflection_; }
  void AttachTo(GrpcServer* grpc, RestRouter* rest, GrpcWebHandler* web) {
    grpc->add_service(&grpc_);
    rest->set_typed(&rest_);
    web->set_typed(&methods_);
  }

 private:
  typed::TypedMethods methods_;
  TypedGrpcService grpc_;
  ReflectionService reflection_;
  TypedRest rest_;
};

}  // namespace protoserve
