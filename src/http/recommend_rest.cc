#include "http/recommend_rest.h"

#include <limits>
#include <memory>
#include <utility>

#include "http/http_response.h"
#include "http/json.h"

namespace protoserve {

namespace {

using json::Field;
using json::ReadString;
using json::TypeError;
using rapidjson::Value;

}  // namespace

RecommendationQuery RecommendationJson::query() const {
  RecommendationQuery query;
  query.user_id = user_id;
  query.features = features;
  query.top_k = top_k;
  query.exclude_item_ids = exclude_item_ids;
  query.model_name = model_name;
  query.model_version = model_version;
  query.api = Api::kHttp;
  return query;
}

StatusOr<RecommendationJson> ParseRecommendationJson(std::string_view body) {
  rapidjson::Document document;
  RETURN_IF_ERROR(json::Parse(body, &document));
  if (!document.IsObject()) return TypeError("the request", "a JSON object", document);
  RecommendationJson out;
  RETURN_IF_ERROR(ReadString(document, "user_id", &out.user_id));
  RETURN_IF_ERROR(ReadString(document, "model_name", &out.model_name));
  if (const Value* features = Field(document, "features")) {
    if (!features->IsArray()) return TypeError("features", "an array of numbers", *features);
    out.features.reserve(features->Size());
    for (rapidjson::SizeType i = 0; i < features->Size(); ++i) {
      const Value& value = (*features)[i];
      if (!value.IsNumber()) return TypeError("features[" + std::to_string(i) + "]", "a number", value);
      // Out-of-range values become infinities, which the core refuses with
      // the same message as over gRPC.
      out.features.push_back(json::NarrowToFloat(value.GetDouble()));
    }
  }
  if (const Value* top_k = Field(document, "top_k")) {
    if (!top_k->IsInt64()) return TypeError("top_k", "an integer", *top_k);
    const int64_t k = top_k->GetInt64();
    if (!std::in_range<int32_t>(k)) {
      return InvalidArgument("top_k: " + std::to_string(k) + " is outside [0, " + std::to_string(kMaxTopK) + "]");
    }
    out.top_k = static_cast<int32_t>(k);
  }
  if (const Value* version = Field(document, "model_version")) {
    if (!version->IsInt64()) return TypeError("model_version", "an integer", *version);
    out.model_version = version->GetInt64();
  }
  if (const Value* excluded = Field(document, "exclude_item_ids")) {
    if (!excluded->IsArray()) return TypeError("exclude_item_ids", "an array of strings", *excluded);
    for (rapidjson::SizeType i = 0; i < excluded->Size(); ++i) {
      const Value& id = (*excluded)[i];
      if (!id.IsString()) return TypeError("exclude_item_ids[" + std::to_string(i) + "]", "a string", id);
      out.exclude_item_ids.emplace_back(id.GetString(), id.GetStringLength());
    }
  }
  return out;
}

std::string RecommendationToJson(const Recommendation& recommendation) {
  std::string out;
  json::StringSink sink(&out);
  json::Writer writer(sink);
  writer.StartObject();
  writer.Key("item_ids");
  writer.StartArray();
  for (const std::string& id : recommendation.item_ids) json::WriteString(writer, json::ValidUtf8(id));
  writer.EndArray();
  writer.Key("scores");
  writer.StartArray();
  for (float score : recommendation.scores) json::WriteFloat(writer, score);
  writer.EndArray();
  writer.Key("model_name");
  json::WriteString(writer, recommendation.model_name);
  writer.Key("model_version");
  writer.Int64(recommendation.model_version);
  if (!recommendation.request_id.empty()) {
    writer.Key("request_id");
    json::WriteString(writer, recommendation.request_id);
  }
  writer.EndObject();
  return out;
}

void RecommendRest::Recommend(const HttpRequest& request, Responder responder) const {
  RequestContext context = HttpRequestContext(request, Api::kHttp);
  auto parsed = ParseRecommendationJson(request.body());
  if (!parsed.ok()) {
    RequestScope scope = server_->Refused(&context, "GetRecommendations", parsed.status());
    HttpResponse response = ErrorResponse(parsed.status());
    response.set(kRequestIdHeader, context.id);
    AddTraceResponse(scope, response);
    return responder.Send(std::move(response));
  }
  context.is_cancelled = responder.CancellationProbe();  // a client that hung up: dropped while queued
  server_->Prepare(&context);
  // Recommend copies what it needs from the query before returning.
  server_->Recommend(context, parsed->query(),
                     [responder, id = context.id](Status status, Recommendation result, RequestScope scope) {
                       HttpResponse response =
                           status.ok() ? JsonResponse(200, RecommendationToJson(result)) : ErrorResponse(status);
                       response.set(kRequestIdHeader, id);
                       AddTraceResponse(scope, response);
                       scope.Release();
                       responder.Send(std::move(response));
                     });
}

}  // namespace protoserve
