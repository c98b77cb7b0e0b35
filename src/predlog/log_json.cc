#include "predlog/log_json.h"

#include <nlohmann/json.hpp>

#include <ctime>

namespace protoserve {

namespace {

using Json = nlohmann::json;

// Item ids and labels come from clients and label files: never let invalid
// UTF-8 throw out of the writer thread.
std::string Dump(const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json Output(const OutputSummary& output) {
  Json json = Json::object();
  switch (output.kind) {
    case OutputSummary::Kind::kItems: json["item_ids"] = output.items; break;
    case OutputSummary::Kind::kClass:
      json["class"] = output.label;
      json["index"] = output.class_index;
      json["score"] = output.score;
      break;
    case OutputSummary::Kind::kValue: json["value"] = output.score; break;
    case OutputSummary::Kind::kDigest: json["digest"] = output.digest; break;
    case OutputSummary::Kind::kNone: break;
  }
  if (output.kind != OutputSummary::Kind::kItems) json["rows"] = output.rows;
  return json;
}

Json Truth(const FeedbackRecord& feedback) {
  Json json = Json::object();
  if (!feedback.label.empty()) {
    json["label"] = feedback.label;
    json["correct"] = feedback.matched != 0;
  } else if (feedback.has_value) {
    json["value"] = feedback.value;
  } else {
    if (!feedback.user_id.empty()) json["user_id"] = feedback.user_id;
    json["clicked_item_ids"] = feedback.clicked;
    json["bought_item_ids"] = feedback.bought;
    json["matched"] = feedback.matched;
  }
  return json;
}

}  // namespace

std::string OutputJson(const OutputSummary& output) { return Dump(Output(output)); }

std::string TruthJson(const FeedbackRecord& feedback) { return Dump(Truth(feedback)); }

std::string EventJson(const LogEntry& entry) {
  Json json;
  if (const auto* p = std::get_if<PredictionRecord>(&entry)) {
    json = {{"id", p->request_id},         {"time", Rfc3339(p->time)}, {"model_name", p->model},
            {"model_version", p->version}, {"api", ApiName(p->api)},   {"routing_key", p->routing_key},
            {"output", Output(p->output)}, {"latency_us", p->latency.count()}};
  } else {
    const auto& f = std::get<FeedbackRecord>(entry);
    json = {{"id", f.request_id},
            {"time", Rfc3339(f.time)},
            {"model_name", f.model},
            {"model_version", f.version},
            {"feedback", Truth(f)}};
  }
  return Dump(json);
}

int64_t UnixMillis(WallTime time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

}  // namespace protoserve
