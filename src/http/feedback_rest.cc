#include "http/feedback_rest.h"

#include "http/http_response.h"
#include "http/json.h"

namespace protoserve {

namespace {

using json::Field;
using json::ReadString;
using json::TypeError;
using rapidjson::Value;

Status ReadTime(const Value& object, int64_t* out) {
  const Value* value = Field(object, "time_unix_ms");
  if (!value) return Status::Ok();
  if (!value->IsInt64()) return TypeError("time_unix_ms", "an integer (Unix milliseconds)", *value);
  *out = value->GetInt64();
  return Status::Ok();
}

Status ReadItems(const Value& object, const char* key, size_t* budget, std::vector<std::string>* out) {
  const Value* items = Field(object, key);
  if (!items) return Status::Ok();
  if (!items->IsArray()) return TypeError(key, "an array of strings", *items);
  // Refused before copying: a huge list costs no allocation.
  if (items->Size() > *budget) {
    return InvalidArgument("clicked_item_ids + bought_item_ids: more than " + std::to_string(kMaxFeedbackItems) +
                           " items");
  }
  *budget -= items->Size();
  for (rapidjson::SizeType i = 0; i < items->Size(); ++i) {
    const Value& id = (*items)[i];
    if (!id.IsString()) return TypeError(std::string(key) + "[" + std::to_string(i) + "]", "a string", id);
    out->emplace_back(id.GetString(), id.GetStringLength());
  }
  return Status::Ok();
}

Status ParseObject(std::string_view body, rapidjson::Document* document) {
  RETURN_IF_ERROR(json::Parse(body, document));
  if (!document->IsObject()) return TypeError("the request", "a JSON object", *document);
  return Status::Ok();
}

// {"request_id", "model_name", "model_version"} and "matched_items" (recommendation) or "correct".
std::string FeedbackResultJson(const FeedbackResult& result, bool recommendation) {
  std::string out;
  json::StringSink sink(&out);
  json::Writer writer(sink);
  writer.StartObject();
  writer.Key("request_id");
  json::WriteString(writer, result.request_id);
  writer.Key("model_name");
  json::WriteString(writer, result.model);
  writer.Key("model_version");
  writer.Int64(result.version);
  if (recommendation) {
    writer.Key("matched_items");
    writer.Int64(result.matched_items);
  } else {
    writer.Key("correct");
    writer.Bool(result.correct);
  }
  writer.EndObject();
  return out;
}

HttpResponse NoFeedbackLoop() {
  return ErrorResponse(Status(StatusCode::kUnimplemented, "feedback is not enabled on this server"));
}

}  // namespace

StatusOr<RecommendationFeedbackQuery> ParseRecommendationFeedbackJson(std::string_view body) {
  rapidjson::Document document;
  RETURN_IF_ERROR(ParseObject(body, &document));
  RecommendationFeedbackQuery query;
  RETURN_IF_ERROR(ReadString(document, "request_id", &query.request_id));
  RETURN_IF_ERROR(ReadString(document, "user_id", &query.user_id));
  size_t budget = kMaxFeedbackItems;
  RETURN_IF_ERROR(ReadItems(document, "clicked_item_ids", &budget, &query.clicked));
  RETURN_IF_ERROR(ReadItems(document, "bought_item_ids", &budget, &query.bought));
  RETURN_IF_ERROR(ReadTime(document, &query.time_unix_ms));
  return query;
}

StatusOr<ModelFeedbackQuery> ParseModelFeedbackJson(std::string model, std::string_view body) {
  rapidjson::Document document;
  RETURN_IF_ERROR(ParseObject(body, &document));
  ModelFeedbackQuery query;
  query.model = std::move(model);
  RETURN_IF_ERROR(ReadString(document, "request_id", &query.request_id));
  if (query.request_id.empty()) RETURN_IF_ERROR(ReadString(document, "id", &query.request_id));
  if (const Value* label = Field(document, "label")) {
    // A class index may come as a number.
    if (label->IsString()) {
      query.label.assign(label->GetString(), label->GetStringLength());
    } else if (label->IsInt64() && label->GetInt64() >= 0) {
      query.label = std::to_string(label->GetInt64());
    } else {
      return TypeError("label", "a string (a class label) or a class index", *label);
    }
    query.has_label = true;
  }
  if (const Value* value = Field(document, "value")) {
    if (!value->IsNumber()) return TypeError("value", "a number", *value);
    query.value = value->GetDouble();
    query.has_value = true;
  }
  RETURN_IF_ERROR(ReadTime(document, &query.time_unix_ms));
  return query;
}

std::string EvaluationToJson(const std::string& model, const std::vector<VersionEvaluation>& versions) {
  std::string out;
  json::StringSink sink(&out);
  json::Writer writer(sink);
  writer.StartObject();
  writer.Key("model_name");
  json::WriteString(writer, model);
  writer.Key("versions");
  writer.StartArray();
  for (const VersionEvaluation& v : versions) {
    const EvaluationCounts& c = v.counts;
    writer.StartObject();
    auto integer = [&](const char* key, int64_t value) {
      writer.Key(key);
      writer.Int64(value);
    };
    auto real = [&](const char* key, double value) {
      writer.Key(key);
      json::WriteDouble(writer, value);
    };
    integer("model_version", v.version);
    integer("predictions", c.predictions);
    integer("feedback", c.feedback);
    integer("impressions", c.impressions);
    integer("clicks", c.clicks);
    integer("hits", c.hits);
    real("ctr", c.ctr());
    real("hit_rate", c.hit_rate());
    integer("labelled", c.labelled);
    integer("correct", c.correct);
    real("accuracy", c.accuracy());
    real("log_loss", c.log_loss());
    integer("valued", c.valued);
    real("mae", c.mae());
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return out;
}

HttpResponse FeedbackRest::RecommendationFeedback(const HttpRequest& request) const {
  FeedbackLoop* loop = server_->feedback_loop();
  if (!loop) return NoFeedbackLoop();
  auto query = ParseRecommendationFeedbackJson(request.body());
  if (!query.ok()) return ErrorResponse(query.status());
  auto result = loop->RecommendationFeedback(*query);
  if (!result.ok()) return ErrorResponse(result.status());
  return JsonResponse(200, FeedbackResultJson(*result, /*recommendation=*/true));
}

HttpResponse FeedbackRest::ModelFeedback(const std::string& model, const HttpRequest& request) const {
  FeedbackLoop* loop = server_->feedback_loop();
  if (!loop) return NoFeedbackLoop();
  auto query = ParseModelFeedbackJson(model, request.body());
  if (!query.ok()) return ErrorResponse(query.status());
  auto result = loop->ModelFeedback(*query);
  if (!result.ok()) return ErrorResponse(result.status());
  return JsonResponse(200, FeedbackResultJson(*result, /*recommendation=*/false));
}

HttpResponse FeedbackRest::Evaluation(const std::string& model) const {
  FeedbackLoop* loop = server_->feedback_loop();
  if (!loop) return NoFeedbackLoop();
  auto versions = loop->Evaluation(model);
  if (!versions.ok()) return ErrorResponse(versions.status());
  return JsonResponse(200, EvaluationToJson(model, *versions));
}

}  // namespace protoserve
