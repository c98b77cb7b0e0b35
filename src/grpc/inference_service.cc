#include "grpc/inference_service.h"

#include "core/classification.h"
#include "grpc/grpc_status.h"
#include "grpc/trace_metadata.h"
#include "kserve/kserve_codec.h"
#include "kserve/kserve_metadata.h"

namespace protoserve {

namespace {

const std::string kService = "/inference.GRPCInferenceService/";

// A unary method whose answer is ready when `fill` returns.
template <typename Request, typename Response>
void AddQuick(CqEngine* engine, const char* method, std::function<Status(const Request&, Response*)> fill,
              CqEngine::MethodOptions options = {}) {
  engine->AddUnary<Request, Response>(
      kService + method,
      [fill = std::move(fill)](UnaryCall<Request, Response>* call) {
        call->Finish(ToGrpcStatus(fill(call->request(), call->response())));
      },
      options);
}

}  // namespace

void InferenceService::Register(CqEngine* engine) {
  using namespace inference;  // NOLINT: the protocol's message names
  const InferenceServer* server = server_;
  AddQuick<ServerLiveRequest, ServerLiveResponse>(engine, "ServerLive", [](const auto&, auto* response) {
    response->set_live(true);
    return Status::Ok();
  });
  AddQuick<ServerReadyRequest, ServerReadyResponse>(engine, "ServerReady", [server](const auto&, auto* response) {
    response->set_ready(server->Ready());
    return Status::Ok();
  });
  AddQuick<ModelReadyRequest, ModelReadyResponse>(engine, "ModelReady", [server](const auto& request, auto* response) {
    auto ready = server->ModelReady(request.name(), request.version());
    if (ready.ok()) response->set_ready(*ready);
    return ready.status();
  });
  AddQuick<ServerMetadataRequest, ServerMetadataResponse>(engine, "ServerMetadata", [](const auto&, auto* response) {
    FillServerMetadata(response);
    return Status::Ok();
  });
  AddQuick<ModelMetadataRequest, ModelMetadataResponse>(
      engine, "ModelMetadata", [server](const auto& request, auto* response) {
        auto version = ParseModelVersion(request.version());
        if (!version.ok()) return version.status();
        return FillModelMetadata(server->repository(), request.name(), *version, response);
      });
  engine->AddUnary<ModelInferRequest, ModelInferResponse>(
      kService + "ModelInfer",
      [this](UnaryCall<ModelInferRequest, ModelInferResponse>* call) {
        StartInfer(
            call->request(), call->context(), call->response(),
            [call](Status status) { call->Finish(ToGrpcStatus(status)); }, true);
      },
      {.slots = 16});
  engine->AddBidiStream<ModelInferRequest, ModelStreamInferResponse>(
      kService + "ModelStreamInfer",
      [this](grpc::ServerContext* context, std::unique_ptr<ModelInferRequest> request,
             std::function<void(ModelStreamInferResponse)> done) {
        ModelStreamInfer(context, std::move(request), std::move(done));
      });
  AddQuick<ModelConfigRequest, ModelConfigResponse>(engine, "ModelConfig", [server](const auto& request, auto* response) {
    auto config = server->Config(request.name(), request.version());
    if (config.ok()) *response->mutable_config() = std::move(config).value();
    return config.status();
  });
  AddQuick<ModelStatisticsRequest, ModelStatisticsResponse>(
      engine, "ModelStatistics", [server](const auto& request, auto* response) {
        auto version = ParseModelVersion(request.version());
        if (!version.ok()) return version.status();
        return FillModelStatistics(server->repository(), request.name(), *version, response);
      });
  AddQuick<RepositoryIndexRequest, RepositoryIndexResponse>(
      engine, "RepositoryIndex", [server](const auto& request, auto* response) {
        if (!request.repository_name().empty()) {
          return NotFound("unknown repository '" + request.repository_name() + "' (only the default)");
        }
        FillRepositoryIndex(server->repository(), request.ready(), response);
        return Status::Ok();
      });
  // Loads synchronously (as Triton does): the call returns once the model is
  // ready or failed, on a thread of its own.
  AddQuick<RepositoryModelLoadRequest, RepositoryModelLoadResponse>(
      engine, "RepositoryModelLoad",
      [server](const auto& request, auto*) {
        return server->LoadModel(request.model_name(), !request.parameters().empty());
      },
      {.slots = 1, .blocking = true});
  AddQuick<RepositoryModelUnloadRequest, RepositoryModelUnloadResponse>(
      engine, "RepositoryModelUnload",
      [server](const auto& request, auto*) { return server->UnloadModel(request.model_name()); },
      {.slots = 1, .blocking = true});
}

void InferenceService::StartInfer(const inference::ModelInferRequest& request, grpc::ServerContext* context,
                                  inference::ModelInferResponse* response, std::function<void(Status)> done,
                                  bool trailers) const {
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

// ModelStreamInfer: errors come back in-stream as error_message (Triton's
// behaviour); the stream stays open. Responses keep request order.
void InferenceService::ModelStreamInfer(grpc::ServerContext* context,
                                        std::unique_ptr<inference::ModelInferRequest> request,
                                        std::function<void(inference::ModelStreamInferResponse)> done) const {
  auto response = std::make_shared<inference::ModelStreamInferResponse>();
  // The request must outlive the inference (inputs are views into it).
  std::shared_ptr<inference::ModelInferRequest> held(std::move(request));
  StartInfer(*held, context, response->mutable_infer_response(),
             [response, held, done = std::move(done)](Status status) {
               if (!status.ok()) {
                 response->clear_infer_response();
                 response->mutable_infer_response()->set_model_name(held->model_name());
                 response->mutable_infer_response()->set_id(held->id());
                 response->set_error_message(status.ToString());
               }
               done(std::move(*response));
             });
}

}  // namespace protoserve
