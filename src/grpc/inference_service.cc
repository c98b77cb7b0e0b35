#include "grpc/inference_service.h"

#include "core/classification.h"
#include "grpc/grpc_status.h"
#include "grpc/ordered_stream.h"
#include "grpc/trace_metadata.h"
#include "kserve/kserve_codec.h"
#include "kserve/kserve_metadata.h"


namespace protoserve {

namespace {

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, const Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* context,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Done(context, Status::Ok());
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* context,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* response) {
  response->set_ready(server_->Ready());
  return Done(context, Status::Ok());
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* context,
                                                       const inference::ModelReadyRequest* request,
                                                       inference::ModelReadyResponse* response) {
  auto ready = server_->ModelReady(request->name(), request->version());
  if (ready.ok()) response->set_ready(*ready);
  return Done(context, ready.status());
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(grpc::CallbackServerContext* context,
                                                           const inference::ServerMetadataRequest*,
                                                           inference::ServerMetadataResponse* response) {
  FillServerMetadata(response);
  return Done(context, Status::Ok());
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(grpc::CallbackServerContext* context,
                                                          const inference::ModelMetadataRequest* request,
                                                          inference::ModelMetadataResponse* response) {
  auto version = ParseModelVersion(request->version());
  if (!version.ok()) return Done(context, version.status());
  return Done(context, FillModelMetadata(server_->repository(), request->name(), *version, response));
}

void InferenceService::StartInfer(const inference::ModelInferRequest& request, grpc::CallbackServerContext* context,
                                  inference::ModelInferResponse* response, std::function<void(Status)> done,
                                  bool trailers) {
  RequestContext call{request.id(), Api::kGrpc, SteadyDeadline(*context), [context] { return context->IsCancelled(); }, {}, {}, -1};
  const bool traced = server_->tracing();
  // The trailers echo an x-request-id metadata the client sent; any other id
  // goes back in the answer's `id` only.
  bool echo_id = false;
  if (traced) {
    ReadTraceMetadata(*context, &call);
    echo_id = request.id().empty() && !call.id.empty();
    call.request_bytes = static_cast<int64_t>(request.ByteSizeLong());
  }
  auto decoded = std::make_shared<DecodedInferRequest>();
  // Inputs are views into the gRPC message, which dies with this call.
  auto decode = [&request, decoded](const ModelVersion&) { return DecodeForServer(request, decoded.get()); };
  server_->Infer(std::move(call), request.model_name(), request.model_version(), decode,
                 [response, decoded, context, trailers, echo_id, done = std::move(done)](Status status,
                                                                                       InferResult result) {
                   if (status.ok()) status = EncodeInferResult(*decoded, result, response);
                   if (result.scope.traced()) {
                     if (status.ok()) result.scope.set_response_bytes(static_cast<int64_t>(response->ByteSizeLong()));
                     if (trailers) {
                       AddTraceTrailers(context, result.scope, echo_id ? result.id : std::string());
                     } else if (std::string traceresponse = result.scope.TraceResponse(); !traceresponse.empty()) {
                       // A stream has one set of trailers for all its messages: each
                       // answer names its own span in-band, as a response parameter.
                       (*response->mutable_parameters())["traceresponse"].set_string_param(std::move(traceresponse));
                     }
                   }
                   result.scope.Release();
                   done(status);
                 });
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                       const inference::ModelInferRequest* request,
                                                       inference::ModelInferResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  StartInfer(
      *request, context, response, [reactor](Status status) { reactor->Finish(ToGrpcStatus(status)); }, true);
  return reactor;
}

namespace {

// ModelStreamInfer: errors come back in-stream as error_message (Triton's
// behaviour); the stream stays open. Responses keep request order.
class InferStream final
    : public OrderedStreamReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  using Start = std::function<void(const inference::ModelInferRequest&, inference::ModelInferResponse*,
                                   std::function<void(Status)>)>;
  explicit InferStream(Start start) : start_(std::move(start)) {}

 private:
  void Process(std::unique_ptr<inference::ModelInferRequest> request,
               std::function<void(inference::ModelStreamInferResponse)> done) override {
    auto response = std::make_shared<inference::ModelStreamInferResponse>();
    // The request must outlive the inference (inputs are views into it).
    std::shared_ptr<inference::ModelInferRequest> held(std::move(request));
    start_(*held, response->mutable_infer_response(), [response, held, done](Status status) {
      if (!status.ok()) {
        response->clear_infer_response();
        response->mutable_infer_response()->set_model_name(held->model_name());
        response->mutable_infer_response()->set_id(held->id());
        response->set_error_message(status.ToString());
      }
      done(std::move(*response));
    });
  }

  const Start start_;
};

}  // namespace

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
InferenceService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  auto* stream = new InferStream([this, context](const inference::ModelInferRequest& request,
                                                 inference::ModelInferResponse* response,
                                                 std::function<void(Status)> done) {
    StartInfer(request, context, response, std::move(done));
  });
  stream->Begin();
  return stream;
}

grpc::ServerUnaryReactor* InferenceService::ModelConfig(grpc::CallbackServerContext* context,
                                                        const inference::ModelConfigRequest* request,
                                                        inference::ModelConfigResponse* response) {
  auto config = server_->Config(request->name(), request->version());
  if (config.ok()) *response->mutable_config() = std::move(config).value();
  return Done(context, config.status());
}

grpc::ServerUnaryReactor* InferenceService::ModelStatistics(grpc::CallbackServerContext* context,
                                                            const inference::ModelStatisticsRequest* request,
                                                            inference::ModelStatisticsResponse* response) {
  auto version = ParseModelVersion(request->version());
  if (!version.ok()) return Done(context, version.status());
  return Done(context, FillModelStatistics(server_->repository(), request->name(), *version, response));
}

grpc::ServerUnaryReactor* InferenceService::RepositoryIndex(grpc::CallbackServerContext* context,
                                                            const inference::RepositoryIndexRequest* request,
                                                            inference::RepositoryIndexResponse* response) {
  if (!request->repository_name().empty()) {
    return Done(context, NotFound("unknown repository '" + request->repository_name() + "' (only the default)"));
  }
  FillRepositoryIndex(server_->repository(), request->ready(), response);
  return Done(context, Status::Ok());
}

// Loads synchronously (as Triton does): the call returns once the model is
// ready or failed. Runs on a gRPC callback thread; loads are rare.
grpc::ServerUnaryReactor* InferenceService::RepositoryModelLoad(grpc::CallbackServerContext* context,
                                                                const inference::RepositoryModelLoadRequest* request,
                                                                inference::RepositoryModelLoadResponse*) {
  return Done(context, server_->LoadModel(request->model_name(), !request->parameters().empty()));
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelUnload(grpc::CallbackServerContext* context,
                                                                  const inference::RepositoryModelUnloadRequest* request,
                                                                  inference::RepositoryModelUnloadResponse*) {
  return Done(context, server_->UnloadModel(request->model_name()));
}

}  // namespace protoserve
