#include "grpc/typed_service.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include "grpc/grpc_status.h"
#include "grpc/trace_metadata.h"

namespace protoserve {

namespace {

class TypedReactor final : public grpc::ServerGenericBidiReactor {
 public:
  TypedReactor(grpc::GenericCallbackServerContext* context, const InferenceServer* server,
               const typed::TypedMethods* methods)
      : context_(context), server_(server), methods_(methods) {
    model_ = methods_->ModelFor(context_->method()).value_or("");
    if (model_.empty()) {
      Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method " + context_->method()));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"));
    RequestContext call{{}, Api::kGrpc, SteadyDeadline(*context_), [c = context_] { return c->IsCancelled(); },
                        {}, {}, -1};
    if (server_->tracing()) {
      ReadTraceMetadata(*context_, &call);
      call.request_bytes = static_cast<int64_t>(request_.Length());
    }
    auto parse = [this](google::protobuf::Message* message) -> Status {
      grpc::ProtoBufferReader reader(&request_);
      if (!message->ParseFromZeroCopyStream(&reader)) {
        return InvalidArgument("cannot parse the request as " + message->GetDescriptor()->full_name());
      }
      return Status::Ok();
    };
    typed::InferTyped(*server_, model_, context_->method(), std::move(call), parse,
                      [this](Status status, std::shared_ptr<typed::TypedCall> typed_call, InferResult result) {
                        if (status.ok()) {
                          bool own = false;
                          grpc::Status s = grpc::SerializationTraits<google::protobuf::Message>::Serialize(
                              *typed_call->response, &response_, &own);
                          if (!s.ok()) status = Internal("cannot serialize the response: " + s.error_message());
                        }
                        if (result.scope.traced()) {
                          if (status.ok()) result.scope.set_response_bytes(static_cast<int64_t>(response_.Length()));
                          AddTraceTrailers(context_, result.scope, result.id);
                        }
                        result.scope.Release();
                        if (status.code() == StatusCode::kUnimplemented || status.code() == StatusCode::kNotFound) {
                          methods_->Forget(context_->method());
                        }
                        typed_call.reset();  // the arena and the version's descriptors, before the reactor may go
                        if (status.ok()) {
                          StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
                        } else {
                          Finish(ToGrpcStatus(status));
                        }
                      });
  }

  void OnDone() override { delete this; }

 private:
  grpc::GenericCallbackServerContext* const context_;
  const InferenceServer* const server_;
  const typed::TypedMethods* const methods_;
  std::string model_;  // the model serving the method
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

}  // namespace

grpc::ServerGenericBidiReactor* TypedGrpcService::CreateReactor(grpc::GenericCallbackServerContext* context) {
  return new TypedReactor(context, server_, methods_);
}

}  // namespace protoserve
