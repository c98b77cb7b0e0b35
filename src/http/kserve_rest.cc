#include "http/kserve_rest.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "core/classification.h"
#include "http/http_response.h"
#include "http/json.h"
#include "http/kserve_json.h"
#include "http/proto_json.h"
#include "kserve/kserve_metadata.h"

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

// Bounds of an infer body from the model's largest valid request: a JSON
// number takes at most 24 characters and a separator; the rest (names,
// shapes, parameters, output lists) fits in the overhead.
constexpr uint64_t kJsonBytesPerElement = 32;
constexpr uint64_t kJsonOverheadBytes = 64 * 1024;
// Whitespace and long names are valid JSON too: bodies up to this size are
// always parsed (their DOM stays in the tens of MiB).
constexpr uint64_t kJsonMinBodyLimit = 4 << 20;

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
  const bool ready = server_->Ready();
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
  return ProtoResponse(FillModelMetadata(server_->repository(), model, *v, &metadata), metadata);
}

HttpResponse KServeRest::ModelReady(const std::string& model, const std::string& version) const {
  auto ready = server_->ModelReady(model, version);
  if (!ready.ok()) return ErrorResponse(ready.status());
  return FlagResponse(*ready ? 200 : 503, "ready", *ready, model);
}

HttpResponse KServeRest::ModelConfig(const std::string& model, const std::string& version) const {
  auto config = server_->Config(model, version);
  if (!config.ok()) return ErrorResponse(config.status());
  return JsonResponse(200, ProtoToJson(*config));
}

HttpResponse KServeRest::ModelStatistics(const std::string& model, const std::string& version) const {
  auto v = ParseModelVersion(version);
  if (!v.ok()) return ErrorResponse(v.status());
  inference::ModelStatisticsResponse statistics;
  return ProtoResponse(FillModelStatistics(server_->repository(), model, *v, &statistics), statistics);
}

HttpResponse KServeRest::RepositoryIndex(const std::string& body) const {
  // Its only field is "ready": nothing larger needs parsing (it may be open
  // without a token under --auth-open-metadata).
  if (body.size() > 4096) return ErrorResponse(InvalidArgument("the index request body is limited to 4096 bytes"));
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
  FillRepositoryIndex(server_->repository(), ready_only, &index);
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
  MutexLock lock(control_mu_);
  for (std::future<void>& task : control_tasks_) task.wait();
}

void KServeRest::RepositoryModelControl(const std::string& model, bool load, const std::string& body,
                                        Responder responder) {
  // The gRPC RepositoryModelLoad/Unload rules, message for message; refusals
  // that need no model work are answered at once (not counted as tasks).
  if (Status s = server_->CheckModelControl(); !s.ok()) return responder.Send(ErrorResponse(s));
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
  MutexLock lock(control_mu_);
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
    const Status status = load ? server_->LoadModel(model, false) : server_->UnloadModel(model);
    responder->Send(status.ok() ? JsonResponse(200, "{}") : ErrorResponse(status));
    responder.reset();
  };
  control_tasks_.push_back(std::async(std::launch::async, std::move(task)));
}

void KServeRest::Infer(const std::string& model, const std::string& version, HttpRequest request,
                       Responder responder) const {
  RequestContext context = HttpRequestContext(request, Api::kHttp);
  context.is_cancelled = responder.CancellationProbe();  // a client that hung up: dropped while queued
  // The body moves into shared ownership: binary inputs are views into it.
  auto body = std::make_shared<const std::string>(std::move(request.body()));
  auto decoded = std::make_shared<RestInferRequest>();
  auto decode = [&request, body, decoded](const ModelVersion& target) -> StatusOr<DecodedRequest> {
    // No valid request to this model is larger: refuse before parsing (a
    // JSON DOM costs ~16 bytes per value, 8x a body of zeros).
    const uint64_t limit = std::max<uint64_t>(
        kJsonMinBodyLimit,
        kJsonBytesPerElement * static_cast<uint64_t>(target.max_request_elements()) + kJsonOverheadBytes);
    if (body->size() > limit) {
      return InvalidArgument("the body has " + std::to_string(body->size()) + " bytes, more than any valid request to '" +
                             target.name() + "' (at most " + std::to_string(limit) + ")");
    }
    ASSIGN_OR_RETURN(std::optional<size_t> json_size, JsonHeaderSize(request));
    ASSIGN_OR_RETURN(*decoded, DecodeRestInferRequest(body, json_size));
    DecodedRequest out{std::move(decoded->request), decoded->routing_key, decoded->id};
    if (decoded->timeout_us > 0) {
      // Triton's "timeout" parameter; capped at a day so the sum cannot overflow.
      const int64_t timeout_us = std::min<int64_t>(decoded->timeout_us, int64_t{86'400} * 1'000'000);
      out.deadline = Clock::now() + std::chrono::microseconds(timeout_us);
    }
    return out;  // inputs are views into `body`, which the shadow's copy shares
  };
  server_->Infer(std::move(context), model, version, decode, [responder, decoded](Status status, InferResult result) {
    if (!status.ok()) {
      HttpResponse response = ErrorResponse(status);
      response.set(kRequestIdHeader, result.id);
      AddTraceResponse(result.scope, response);
      result.scope.Release();
      return responder.Send(std::move(response));
    }
    // Encoding runs on the connection's I/O thread, keeping the model
    // instance thread free for the next batch.
    responder.Post([responder, decoded, result = std::move(result)]() mutable {
      HttpResponse response = InferResponse(EncodeResult(*decoded, *result.model, std::move(result.response)));
      response.set(kRequestIdHeader, result.id);
      AddTraceResponse(result.scope, response);
      result.scope.Release();
      responder.Send(std::move(response));
    });
  });
}

}  // namespace protoserve
