#include "http/recommend_rest.h"

#include <limits>
#include <memory>
#include <utility>

#include "http/http_response.h"
#include "http/json.h"
#include "typed/typed_call.h"

namespace protoserve {

namespace {

using json::Field;
using json::ReadString;
using json::TypeError;
using rapidjson::Value;

const std::string kGetRecommendations = "/Recommender/GetRecommendations";

}  // namespace

StatusOr<RecommendationRequest> ParseRecommendationJson(std::string_view body) {
  rapidjson::Document document;
  RETURN_IF_ERROR(json::Parse(body, &document));
  if (!document.IsObject()) return TypeError("the request", "a JSON object", document);
  RecommendationRequest out;
  RETURN_IF_ERROR(ReadString(document, "user_id", out.mutable_user_id()));
  RETURN_IF_ERROR(ReadString(document, "model_name", out.mutable_model_name()));
  if (const Value* features = Field(document, "features")) {
    if (!features->IsArray()) return TypeError("features", "an array of numbers", *features);
    out.mutable_features()->Reserve(static_cast<int>(features->Size()));
    for (rapidjson::SizeType i = 0; i < features->Size(); ++i) {
      const Value& value = (*features)[i];
      if (!value.IsNumber()) return TypeError("features[" + std::to_string(i) + "]", "a number", value);
      // Out-of-range values become infinities, which the contract refuses
      // with the same message as over gRPC.
      out.add_features(json::NarrowToFloat(value.GetDouble()));
    }
  }
  if (const Value* top_k = Field(document, "top_k")) {
    if (!top_k->IsInt64()) return TypeError("top_k", "an integer", *top_k);
    const int64_t k = top_k->GetInt64();
    if (!std::in_range<int32_t>(k)) {
      // The contract's bound (typed.output.scores max_k) is checked after parsing.
      return InvalidArgument("top_k: " + std::to_string(k) + " is outside [0, 1000]");
    }
    out.set_top_k(static_cast<int32_t>(k));
  }
  if (const Value* version = Field(document, "model_version")) {
    if (!version->IsInt64()) return TypeError("model_version", "an integer", *version);
    out.set_model_version(version->GetInt64());
  }
  if (const Value* excluded = Field(document, "exclude_item_ids")) {
    if (!excluded->IsArray()) return TypeError("exclude_item_ids", "an array of strings", *excluded);
    for (rapidjson::SizeType i = 0; i < excluded->Size(); ++i) {
      const Value& id = (*excluded)[i];
      if (!id.IsString()) return TypeError("exclude_item_ids[" + std::to_string(i) + "]", "a string", id);
      out.add_exclude_item_ids()->assign(id.GetString(), id.GetStringLength());
    }
  }
  return out;
}

std::string RecommendationToJson(const RecommendationResponse& recommendation) {
  std::string out;
  json::StringSink sink(&out);
  json::Writer writer(sink);
  writer.StartObject();
  writer.Key("item_ids");
  writer.StartArray();
  for (const std::string& id : recommendation.item_ids()) json::WriteString(writer, json::ValidUtf8(id));
  writer.EndArray();
  writer.Key("scores");
  writer.StartArray();
  for (float score : recommendation.scores()) json::WriteFloat(writer, score);
  writer.EndArray();
  writer.Key("model_name");
  json::WriteString(writer, recommendation.model_name());
  writer.Key("model_version");
  writer.Int64(recommendation.model_version());
  if (!recommendation.request_id().empty()) {
    writer.Key("request_id");
    json::WriteString(writer, recommendation.request_id());
  }
  writer.EndObject();
  return out;
}

void RecommendRest::Recommend(const HttpRequest& request, Responder responder) const {
  RequestContext context = HttpRequestContext(request, Api::kHttp);
  context.operation = "GetRecommendations";
  auto parsed = ParseRecommendationJson(request.body());
  if (!parsed.ok()) {
    RequestScope scope = server_->Refused(&context, parsed.status());
    HttpResponse response = ErrorResponse(parsed.status());
    response.set(kRequestIdHeader, context.id);
    AddTraceResponse(scope, response);
    return responder.Send(std::move(response));
  }
  context.is_cancelled = responder.CancellationProbe();  // a client that hung up: dropped while queued
  server_->Prepare(&context);
  auto call = std::make_shared<std::pair<RecommendationRequest, RecommendationResponse>>();
  call->first = std::move(parsed).value();
  typed::InferCompiled(*server_, default_model_, kGetRecommendations, context, call->first, &call->second,
                       [responder, call, id = context.id](Status status, InferResult result) {
                         HttpResponse response = status.ok() ? JsonResponse(200, RecommendationToJson(call->second))
                                                             : ErrorResponse(status);
                         response.set(kRequestIdHeader, id);
                         AddTraceResponse(result.scope, response);
                         result.scope.Release();
                         responder.Send(std::move(response));
                       });
}

}  // namespace protoserve
