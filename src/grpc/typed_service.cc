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

class TypedReactor final : public grpc::ServerGenericBidiReactor {
 public:
  TypedReactor(grpc::GenericCallbackServerContext* context, const InferenceServer* server,
               const typed::TypedMethods* methods)
      : context_(context), server_(server), methods_(methods) {
    if (!methods_->ModelFor(context_->method())) {
      Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method " + context_->method()));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"));
    ServeTypedCall(*server_, *methods_, context_, context_->method(), &request_, &response_,
                   [this](grpc::Status status) {
                     if (status.ok()) {
                       StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
                     } else {
                       Finish(status);
                     }
                   });
  }

  void OnDone() override { delete this; }

 private:
  grpc::GenericCallbackServerContext* const context_;
  const InferenceServer* const server_;
  const typed::TypedMethods* const methods_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

bool IsCompiledIn(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return false;
  return google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(path.substr(1, slash - 1)) != nullptr;
}

}  // namespace

grpc::ServerGenericBidiReactor* TypedGrpcService::CreateReactor(grpc::GenericCallbackServerContext* context) {
  return new TypedReactor(context, server_, methods_);
}

TypedUnaryService::TypedUnaryService(const InferenceServer* server, const typed::TypedMethods* methods,
                                     std::vector<std::string> paths)
    : server_(server), methods_(methods) {
  for (std::string& path : paths) {
    if (!IsCompiledIn(path)) paths_.push_back(std::move(path));
  }
  for (size_t i = 0; i < paths_.size(); ++i) {
    AddMethod(new grpc::internal::RpcServiceMethod(paths_[i].c_str(), grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
    MarkMethodRawCallback(
        static_cast<int>(i),
        new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
            [this, i](grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                      grpc::ByteBuffer* response) -> grpc::ServerUnaryReactor* {
              grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
              // The request outlives the call's answer: a copy shares its slices.
              auto held = std::make_shared<grpc::ByteBuffer>(*request);
              ServeTypedCall(*server_, *methods_, context, paths_[i], held.get(), response,
                             [reactor, held](grpc::Status status) { reactor->Finish(status); });
              return reactor;
            }));
  }
}

}  // namespace protoserve
