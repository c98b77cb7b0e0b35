// ReflectionService: gRPC server reflection (grpc.reflection.v1alpha) that
// answers for the services compiled into the server (protobuf's generated
// pool) and for the typed APIs loaded at run time from model repositories
// (each version's own descriptor pool: typed/typed_contract.h), so grpcurl,
// Postman or a Node reflection client call a model's typed API with no
// .proto in hand. gRPC's ProtoServerReflection plugin reads only the
// generated pool, hence this implementation.
//
// Each file_by_filename / file_containing_symbol answer carries the file and
// every file it imports, transitively (a superset of what gRPC's own
// implementation sends; clients keep what they need).
//
// Thread-safety: shared state is immutable.
#pragma once

#include <string>
#include <vector>

#include "grpc/grpc_server.h"
#include "reflection.pb.h"
#include "typed/typed_call.h"

namespace protoserve {

class ReflectionService final : public GrpcService {
 public:
  // `compiled_services`: full names of the compiled services the server
  // registers. `typed` (may be null) lists the loaded typed APIs; it must
  // outlive the service.
  ReflectionService(std::vector<std::string> compiled_services, const typed::TypedMethods* typed)
      : compiled_services_(std::move(compiled_services)), typed_(typed) {}

  // ServerReflectionInfo.
  void Register(CqEngine* engine) override;

  // One answer (also used by tests).
  grpc::reflection::v1alpha::ServerReflectionResponse Answer(
      const grpc::reflection::v1alpha::ServerReflectionRequest& request) const;

 private:
  const std::vector<std::string> compiled_services_;
  const typed::TypedMethods* const typed_;
};

}  // namespace protoserve
