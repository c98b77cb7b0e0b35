#include "grpc/inference_service.h"

#include "core/classification.h"
#include "core/shadow.h"
#include "grpc/grpc_status.h"
#include "grpc/kserve_codec.h"
#include "grpc/ordered_stream.h"


namespace protoserve {

namespace {

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, const Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Resolves name + version string to a READY version.
StatusOr<std::shared_ptr<ModelVersion>> Resolve(const ModelRepository& repository, const std::string& name,
                                                const std::string& version) {
  if (!IsValidModelName(name)) return InvalidArgument("invalid model name '" + name + "'");
  ASSIGN_OR_RETURN(int64_t v, ParseModelVersion(version));
  return repository.Get(name, v);
}

void FillTensorMetadata(const ModelConfig& config, const auto& specs, auto* out) {
  for (const auto& spec : specs) {
    auto* t = out->Add();
    t->set_name(spec.name());
    t->set_datatype(std::string(DataTypeName(FromConfigDataType(spec.data_type()))));
    if (config.max_batch_size() > 0) t->add_shape(-1);
    t->mutable_shape()->Add(spec.dims().begin(), spec.dims().end());
  }
}

void FillDuration(uint64_t count, uint64_t ns, inference::StatisticDuration* d) {
  d->set_count(count);
  d->set_ns(ns);
}

}  // namespace

void FillServerMetadata(inference::ServerMetadataResponse* response) {
  response->set_name("protoserve");
  response->set_version(PROTOSERVE_VERSION);
  for (const char* extension : {"classification", "model_repository", "model_configuration", "statistics",
                                "binary_tensor_data"}) {
    response->add_extensions(extension);
  }
}

Status FillModelMetadata(const ModelRepository& repository, const std::string& name, int64_t version,
                         inference::ModelMetadataResponse* response) {
  if (!IsValidModelName(name)) return InvalidArgument("invalid model name '" + name + "'");
  ASSIGN_OR_RETURN(ModelConfig config, repository.Config(name));
  if (version != 0) RETURN_IF_ERROR(repository.Get(name, version).status());
  response->set_name(name);
  response->set_platform(config.platform().empty() ? config.backend() : config.platform());
  for (const auto& entry : repository.Index()) {
    if (entry.name != name) continue;
    for (const auto& v : entry.versions) {
      if (v.state == ModelState::kReady) response->add_versions(std::to_string(v.version));
    }
  }
  FillTensorMetadata(config, config.input(), response->mutable_inputs());
  FillTensorMetadata(config, config.output(), response->mutable_outputs());
  return Status::Ok();
}

Status FillModelStatistics(const ModelRepository& repository, const std::string& name, int64_t version,
                           inference::ModelStatisticsResponse* response) {
  if (!name.empty()) {
    if (!IsValidModelName(name)) return InvalidArgument("invalid model name '" + name + "'");
    RETURN_IF_ERROR(repository.Config(name).status());
  }
  for (const auto& model : repository.ReadyVersions()) {
    if (!name.empty() && (model->name() != name || (version != 0 && model->version() != version))) continue;
    const InferStats& s = model->stats();
    auto* out = response->add_model_stats();
    out->set_name(model->name());
    out->set_version(std::to_string(model->version()));
    out->set_last_inference(s.last_inference_ms.load());
    out->set_inference_count(s.inference_count.load());
    out->set_execution_count(s.execution_count.load());
    auto* infer = out->mutable_inference_stats();
    const uint64_t ok = s.success_count.load();
    FillDuration(ok, s.success_ns.load(), infer->mutable_success());
    FillDuration(s.fail_count.load(), s.fail_ns.load(), infer->mutable_fail());
    FillDuration(ok, s.queue_ns.load(), infer->mutable_queue());
    FillDuration(ok, s.compute_input_ns.load(), infer->mutable_compute_input());
    FillDuration(ok, s.compute_ns.load(), infer->mutable_compute_infer());
    FillDuration(ok, s.compute_output_ns.load(), infer->mutable_compute_output());
    std::lock_guard lock(s.batch_mu);
    for (const auto& [size, bucket] : s.by_batch_size) {
      auto* b = out->add_batch_stats();
      b->set_batch_size(size);
      FillDuration(bucket.count, bucket.compute_ns, b->mutable_compute_infer());
    }
  }
  if (!name.empty() && response->model_stats_size() == 0) {
    return version != 0 ? repository.Get(name, version).status()
                        : Unavailable("model '" + name + "' has no ready version");
  }
  return Status::Ok();
}

void FillRepositoryIndex(const ModelRepository& repository, bool ready_only,
                         inference::RepositoryIndexResponse* response) {
  for (const auto& entry : repository.Index()) {
    if (entry.versions.empty() && !ready_only) {
      auto* m = response->add_models();
      m->set_name(entry.name);
      m->set_state("UNAVAILABLE");
      m->set_reason(entry.reason);
    }
    for (const auto& v : entry.versions) {
      if (ready_only && v.state != ModelState::kReady) continue;
      auto* m = response->add_models();
      m->set_name(entry.name);
      m->set_version(std::to_string(v.version));
      m->set_state(ModelStateName(v.state));
      m->set_reason(v.reason);
    }
  }
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* context,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Done(context, Status::Ok());
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* context,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* response) {
  response->set_ready(ready_.load() && repository_->AllReady());
  return Done(context, Status::Ok());
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* context,
                                                       const inference::ModelReadyRequest* request,
                                                       inference::ModelReadyResponse* response) {
  auto model = Resolve(*repository_, request->name(), request->version());
  const auto code = model.status().code();
  if (!model.ok() && code != StatusCode::kUnavailable && code != StatusCode::kNotFound) {
    return Done(context, model.status());
  }
  if (code == StatusCode::kNotFound && !repository_->Config(request->name()).ok()) {
    return Done(context, model.status());  // unknown model: NOT_FOUND
  }
  response->set_ready(model.ok());
  return Done(context, Status::Ok());
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
  return Done(context, FillModelMetadata(*repository_, request->name(), *version, response));
}

void InferenceService::StartInfer(const inference::ModelInferRequest& request, grpc::CallbackServerContext* context,
                                  inference::ModelInferResponse* response, std::function<void(Status)> done) {
  auto decoded = DecodeInferRequest(request);
  if (!decoded.ok()) return done(decoded.status());
  if (!IsValidModelName(decoded->model_name)) {
    return done(InvalidArgument("invalid model name '" + decoded->model_name + "'"));
  }
  auto route = repository_->Route(decoded->model_name, decoded->model_version, decoded->routing_key);
  if (!route.ok()) return done(route.status());

  auto inflight = std::make_shared<InFlightGuard>(metrics_, Api::kGrpc);
  auto shared = std::make_shared<DecodedInferRequest>(std::move(decoded).value());
  InferenceRequest core = std::move(shared->request);
  core.deadline = SteadyDeadline(*context);
  core.is_cancelled = [context] { return context->IsCancelled(); };
  std::shared_ptr<ModelVersion> version = route->primary;
  // Inputs are views into the gRPC message, which dies with this call: the shadow gets copies.
  std::function<void(const InferenceResponse&)> compare;
  if (route->shadow) compare = MirrorToShadow(core, *version, route->shadow, metrics_, /*copy_inputs=*/true);
  Status queued = version->Infer(std::move(core), [response, shared, version, inflight, compare, done](
                                                      Status status, InferenceResponse result) {
    if (status.ok() && compare) compare(result);
    if (status.ok()) status = EncodeInferResponse(*shared, *version, result, response);
    done(status);
  });
  if (!queued.ok()) done(queued);
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                       const inference::ModelInferRequest* request,
                                                       inference::ModelInferResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  StartInfer(*request, context, response, [reactor](Status status) { reactor->Finish(ToGrpcStatus(status)); });
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
  if (!IsValidModelName(request->name())) return Done(context, InvalidArgument("invalid model name"));
  auto version = ParseModelVersion(request->version());
  if (!version.ok()) return Done(context, version.status());
  auto config = repository_->Config(request->name());
  if (!config.ok()) return Done(context, config.status());
  if (*version != 0) {
    auto model = repository_->Get(request->name(), *version);
    if (!model.ok()) return Done(context, model.status());
  }
  *response->mutable_config() = *config;
  return Done(context, Status::Ok());
}

grpc::ServerUnaryReactor* InferenceService::ModelStatistics(grpc::CallbackServerContext* context,
                                                            const inference::ModelStatisticsRequest* request,
                                                            inference::ModelStatisticsResponse* response) {
  auto version = ParseModelVersion(request->version());
  if (!version.ok()) return Done(context, version.status());
  return Done(context, FillModelStatistics(*repository_, request->name(), *version, response));
}

grpc::ServerUnaryReactor* InferenceService::RepositoryIndex(grpc::CallbackServerContext* context,
                                                            const inference::RepositoryIndexRequest* request,
                                                            inference::RepositoryIndexResponse* response) {
  if (!request->repository_name().empty()) {
    return Done(context, NotFound("unknown repository '" + request->repository_name() + "' (only the default)"));
  }
  FillRepositoryIndex(*repository_, request->ready(), response);
  return Done(context, Status::Ok());
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelLoad(grpc::CallbackServerContext* context,
                                                                const inference::RepositoryModelLoadRequest* request,
                                                                inference::RepositoryModelLoadResponse*) {
  if (!explicit_control_) {
    return Done(context, Unavailable("explicit model load/unload is not allowed: the server does not run with "
                                     "--model-control-mode=explicit"));
  }
  if (!IsValidModelName(request->model_name())) return Done(context, InvalidArgument("invalid model name"));
  if (!request->parameters().empty()) {
    return Done(context, InvalidArgument("load parameters (config/file overrides) are not supported"));
  }
  // Loads synchronously (as Triton does): the call returns once the model is
  // ready or failed. Runs on a gRPC callback thread; loads are rare.
  Status status = repository_->Sync(request->model_name());
  return Done(context, status);
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelUnload(grpc::CallbackServerContext* context,
                                                                  const inference::RepositoryModelUnloadRequest* request,
                                                                  inference::RepositoryModelUnloadResponse*) {
  if (!explicit_control_) {
    return Done(context, Unavailable("explicit model load/unload is not allowed: the server does not run with "
                                     "--model-control-mode=explicit"));
  }
  if (!IsValidModelName(request->model_name())) return Done(context, InvalidArgument("invalid model name"));
  return Done(context, repository_->Unload(request->model_name()));
}

}  // namespace protoserve
