#include "http/kserve_rest.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "core/classification.h"
#include "core/shadow.h"
#include "grpc/inference_service.h"
#include "grpc/kserve_codec.h"
#include "http/http_response.h"
#include "http/json.h"
#include "http/kserve_json.h"
#include "http/proto_json.h"

namespace protoserve {

namespace {

HttpResponse ProtoResponse(const Status& status, const google::protobuf::Message& message) {
  if (!status.ok()) return ErrorResponse(status);
  return JsonResponse(200, ProtoToJson(message));
}

// {"<key>": value} plus an optional {"name": model}, with `status`.
HttpResponse FlagResponse(unsigned status, const char* key, bool value, const std::string& model = "") {
  std::string body;
  json::StringSink sink(&body);
  json::Writer writer(sink);
  writer.StartObject();
  if (!model.empty()) {
    writer.Key("name");
    json::WriteString(writer, model);
  }
  writer.Key(key);
  writer.Bool(value);
  writer.EndObject();
  return JsonResponse(status, std::move(body));
}

// The value of Inference-Header-Content-Length, if the request has one.
StatusOr<std::optional<size_t>> JsonHeaderSize(const HttpRequest& request) {
  auto field = request.find(kInferenceHeaderContentLength);
  if (field == request.end()) return std::optional<size_t>();
  const std::string_view text = field->value();
  size_t size = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), size);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return InvalidArgument(std::string(kInferenceHeaderContentLength) + ": '" + std::string(text) +
                           "' is not a byte count");
  }
  return std::optional<size_t>(size);
}

// The finished outputs as the client asked for them (classification applied).
StatusOr<RestInferResponse> EncodeResult(const RestInferRequest& request, const ModelVersion& model,
                                         InferenceResponse result) {
  const bool batched = model.config().max_batch_size() > 0;
  for (NamedTensor& output : result.outputs) {
    if (const int64_t k = request.Classification(output.name); k > 0) {
      const auto& labels = model.labels(model.OutputIndex(output.name));
      ASSIGN_OR_RETURN(output.tensor, Classify(output.tensor, k, labels, batched));
    }
  }
  return EncodeRestInferResponse(model.name(), model.version(), request, result.outputs);
}

HttpResponse InferResponse(StatusOr<RestInferResponse> encoded) {
  if (!encoded.ok()) return ErrorResponse(encoded.status());
  const bool binary = encoded->json_size.has_value();
  HttpResponse response =
      MakeResponse(200, std::move(encoded->body), binary ? "application/octet-stream" : "application/json");
  if (binary) response.set(kInferenceHeaderContentLength, std::to_string(*encoded->json_size));
  return response;
}

}  // namespace

HttpResponse KServeRest::ServerLive() const { return FlagResponse(200, "live", true); }

HttpResponse KServeRest::ServerReady() const {
  const bool ready = ready_.load() && repository_->AllReady();
  return FlagResponse(ready ? 200 : 503, "ready", ready);
}

HttpResponse KServeRest::ServerMetadata() const {
  std::string body;
  json::StringSink sink(&body);
  json::Writer writer(sink);
  inference::ServerMetadataResponse metadata;  // as the gRPC ServerMetadata reports it
  FillServerMetadata(&metadata);
  writer.StartObject();
  writer.Key("name");
  writer.String(metadata.name());
  writer.Key("version");
  writer.String(metadata.version());
  writer.Key("extensions");
  writer.StartArray();
  for (const std::string& extension : metadata.extensions()) writer.String(extension);
  writer.EndArray();
  writer.EndObject();
  return JsonResponse(200, std::move(body));
}

HttpResponse KServeRest::ModelMetadata(const std::string& model, const std::string& version) const {
  auto v = ParseModelVersion(version);
  if (!v.ok()) return ErrorResponse(v.status());
  inference::ModelMetadataResponse metadata;
  return ProtoResponse(FillModelMetadata(*repository_, model, *v, &metadata), metadata);
}

HttpResponse KServeRest::ModelReady(const std::string& model, const std::string& version) const {
  if (!IsValidModelName(model)) return ErrorResponse(InvalidArgument("invalid model name '" + model + "'"));
  auto v = ParseModelVersion(version);
  if (!v.ok()) return ErrorResponse(v.status());
  auto ready = repository_->Get(model, *v);
  const StatusCode code = ready.status().code();
  // Known but not ready (loading, failed, or no such version) is an answer,
  // not an error; an unknown model is NOT_FOUND, as over gRPC.
  if (!ready.ok() && code != StatusCode::kUnavailable && code != StatusCode::kNotFound) {
    return ErrorResponse(ready.status());
  }
  if (code == StatusCode::kNotFound && !repository_->Config(model).ok()) return ErrorResponse(ready.status());
  return FlagResponse(ready.ok() ? 200 : 503, "ready", ready.ok(), model);
}

HttpResponse KServeRest::ModelConfig(const std::string& model, const std::string& version) const {
  if (!IsValidModelName(model)) return ErrorResponse(InvalidArgument("invalid model name '" + model + "'"));
  auto v = ParseModelVersion(version);
  if (!v.ok()) return ErrorResponse(v.status());
  auto config = repository_->Config(model);
  if (!config.ok()) return ErrorResponse(config.status());
  if (*v != 0) {
    if (Status s = repository_->Get(model, *v).status(); !s.ok()) return ErrorResponse(s);
  }
  return JsonResponse(200, ProtoToJson(*config));
}

HttpResponse KServeRest::ModelStatistics(const std::string& model, const std::string& version) const {
  auto v = ParseModelVersion(version);
  if (!v.ok()) return ErrorResponse(v.status());
  inference::ModelStatisticsResponse statistics;
  return ProtoResponse(FillModelStatistics(*repository_, model, *v, &statistics), statistics);
}

HttpResponse KServeRest::RepositoryIndex(const std::string& body) const {
  bool ready_only = false;
  if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
    rapidjson::Document request;
    if (Status s = json::Parse(body, &request); !s.ok()) return ErrorResponse(s);
    if (!request.IsObject()) return ErrorResponse(InvalidArgument("the request must be a JSON object"));
    if (auto it = request.FindMember("ready"); it != request.MemberEnd()) {
      if (!it->value.IsBool()) return ErrorResponse(InvalidArgument("ready must be true or false"));
      ready_only = it->value.GetBool();
    }
  }
  inference::RepositoryIndexResponse index;
  FillRepositoryIndex(*repository_, ready_only, &index);
  // Triton's REST index is the bare array of models.
  std::string out;
  json::StringSink sink(&out);
  json::Writer writer(sink);
  writer.StartArray();
  for (const auto& entry : index.models()) WriteProtoJson(entry, writer);
  writer.EndArray();
  return JsonResponse(200, std::move(out));
}

KServeRest::~KServeRest() {
  std::lock_guard lock(control_mu_);
  for (std::future<void>& task : control_tasks_) task.wait();
}

void KServeRest::RepositoryModelControl(const std::string& model, bool load, const std::string& body,
                                        Responder responder) {
  // The gRPC RepositoryModelLoad/Unload rules, message for message.
  if (!explicit_control_) {
    return responder.Send(ErrorResponse(Unavailable(
        "explicit model load/unload is not allowed: the server does not run with --model-control-mode=explicit")));
  }
  if (!IsValidModelName(model)) return responder.Send(ErrorResponse(InvalidArgument("invalid model name")));
  if (load && body.find_first_not_of(" \t\r\n") != std::string::npos) {
    rapidjson::Document request;
    if (Status s = json::Parse(body, &request); !s.ok()) return responder.Send(ErrorResponse(s));
    if (!request.IsObject()) return responder.Send(ErrorResponse(InvalidArgument("the request must be a JSON object")));
    auto parameters = request.FindMember("parameters");
    if (parameters != request.MemberEnd() && !(parameters->value.IsObject() && parameters->value.ObjectEmpty())) {
      return responder.Send(
          ErrorResponse(InvalidArgument("load parameters (config/file overrides) are not supported")));
    }
  }
  std::lock_guard lock(control_mu_);
  std::erase_if(control_tasks_, [](std::future<void>& task) {
    return task.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  });
  if (control_tasks_.size() >= kMaxModelControlTasks) {
    return responder.Send(ErrorResponse(ResourceExhausted("too many model loads/unloads in progress")));
  }
  // The task owns the responder and drops it once it has answered: the
  // future, hence this lambda, lives on until the next control call or
  // ~KServeRest, and a responder kept that long held the HTTP connection
  // (shutdown waited its whole grace period for it) and was destroyed after
  // the HTTP server's io_context (UBSan, test-asan).
  auto task = [this, model, load, responder = std::optional<Responder>(std::move(responder))]() mutable {
    const Status status = load ? repository_->Sync(model) : repository_->Unload(model);
    responder->Send(status.ok() ? JsonResponse(200, "{}") : ErrorResponse(status));
    responder.reset();
  };
  control_tasks_.push_back(std::async(std::launch::async, std::move(task)));
}

void KServeRest::Infer(const std::string& model, const std::string& version, HttpRequest request,
                       Responder responder) const {
  auto fail = [&responder](const Status& status) { responder.Send(ErrorResponse(status)); };
  auto json_size = JsonHeaderSize(request);
  if (!json_size.ok()) return fail(json_size.status());
  // The body moves into shared ownership: binary inputs are views into it.
  auto body = std::make_shared<const std::string>(std::move(request.body()));
  auto decoded = DecodeRestInferRequest(body, *json_size);
  if (!decoded.ok()) return fail(decoded.status());
  if (!IsValidModelName(model)) return fail(InvalidArgument("invalid model name '" + model + "'"));
  auto v = ParseModelVersion(version);
  if (!v.ok()) return fail(v.status());
  auto route = repository_->Route(model, *v, decoded->routing_key);
  if (!route.ok()) return fail(route.status());

  auto inflight = std::make_shared<InFlightGuard>(metrics_, Api::kHttp);
  auto shared = std::make_shared<RestInferRequest>(std::move(decoded).value());
  InferenceRequest core = std::move(shared->request);
  if (shared->timeout_us > 0) {
    // Triton's "timeout" parameter; capped at a day so the sum cannot overflow.
    const int64_t timeout_us = std::min<int64_t>(shared->timeout_us, int64_t{86'400} * 1'000'000);
    core.deadline = Clock::now() + std::chrono::microseconds(timeout_us);
  }
  std::shared_ptr<ModelVersion> target = route->primary;
  std::function<void(const InferenceResponse&)> compare;
  if (route->shadow) compare = MirrorToShadow(core, *target, route->shadow, metrics_, /*copy_inputs=*/false);
  Status queued = target->Infer(std::move(core), [responder, shared, target, inflight, compare](
                                                     Status status, InferenceResponse result) {
    if (status.ok() && compare) compare(result);
    // Encoding runs on the connection's I/O thread, keeping the model
    // instance thread free for the next batch.
    responder.Post([responder, shared, target, inflight, status = std::move(status),
                    result = std::move(result)]() mutable {
      if (!status.ok()) return responder.Send(ErrorResponse(status));
      responder.Send(InferResponse(EncodeResult(*shared, *target, std::move(result))));
    });
  });
  if (!queued.ok()) fail(queued);
}

}  // namespace protoserve
