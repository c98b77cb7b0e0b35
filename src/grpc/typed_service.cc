#include "grpc/typed_service.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include "grpc/grpc_status.h"
#include "grpc/trace_metadata.h"

namespace protoserve {

void ServeTypedCall(const InferenceServer& server, const typed::TypedMethods& methods,
                    grpc::ServerContextBase* context, const std::string& method, grpc::ByteBuffer* request,
                    grpc::ByteBuffer* response, std::function<void(grpc::Status)> finish) {
  const std::string model = methods.ModelFor(method).value_or("");
  if (model.empty()) return finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method " + method));
  RequestContext call{{}, Api::kGrpc, SteadyDeadline(*context), [context] { return context->IsCancelled(); },
                      {}, {}, -1};
  if (server.tracing()) {
    ReadTraceMetadata(*context, &call);
    call.request_bytes = static_cast<int64_t>(request->Length());
  }
  auto parse = [request](google::protobuf::Message* message) -> Status {
    grpc::ProtoBufferReader reader(request);
    if (!message->ParseFromZeroCopyStream(&reader)) {
      return InvalidArgument("cannot parse the request as " + message->GetDescriptor()->full_name());
    }
    return Status::Ok();
  };
  typed::InferTyped(server, model, method, std::move(call), parse,
                    [&methods, context, method, response, finish = std::move(finish)](
                        Status status, std::shared_ptr<typed::TypedCall> typed_call, InferResult result) {
                      if (status.ok()) {
                        bool own = false;
                        grpc::Status s = grpc::SerializationTraits<google::protobuf::Message>::Serialize(
                            *typed_call->response, response, &own);
                        if (!s.ok()) status = Internal("cannot serialize the response: " + s.error_message());
                      }
                      if (result.scope.traced()) {
                        if (status.ok()) result.scope.set_response_bytes(static_cast<int64_t>(response->Length()));
                        AddTraceTrailers(context, result.scope, result.id);
                      }
                      result.scope.Release();
                      if (status.code() == StatusCode::kUnimplemented || status.code() == StatusCode::kNotFound) {
                        methods.Forget(method);
                      }
                      typed_call.reset();  // the arena and the version's descriptors, before the call may end
                      finish(ToGrpcStatus(status));
                    });
}

namespace {

bool IsCompiledIn(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return false;
  return google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(path.substr(1, slash - 1)) != nullptr;
}

}  // namespace

TypedGrpcService::TypedGrpcService(const InferenceServer* server, const typed::TypedMethods* methods,
                                   std::vector<std::string> paths)
    : server_(server), methods_(methods) {
  for (std::string& path : paths) {
    if (!IsCompiledIn(path)) paths_.push_back(std::move(path));
  }
}

void TypedGrpcService::Register(CqEngine* engine) {
  for (const std::string& path : paths_) {
    engine->AddUnary<grpc::ByteBuffer, grpc::ByteBuffer>(
        path,
        [this, path = &path](UnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>* call) {
          // The request buffer lives in the call until its answer is sent.
          ServeTypedCall(*server_, *methods_, call->context(), *path, call->mutable_request(), call->response(),
                         [call](grpc::Status status) { call->Finish(status); });
        },
        {.slots = 8});
  }
  engine->SetFallback([this](FallbackCall* call) {
    ServeTypedCall(*server_, *methods_, call->context(), call->method(), call->request(), call->response(),
                   [call](grpc::Status status) { call->Finish(status); });
  });
}

}  // namespace protoserve
