#include "core/feedback_loop.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <unordered_set>

#include "core/inference_server.h"

namespace protoserve {

namespace {

uint64_t Fnv1a(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

WallTime EventTime(int64_t unix_ms) {
  if (unix_ms <= 0) return std::chrono::system_clock::now();
  return WallTime(std::chrono::milliseconds(unix_ms));
}

Status CheckItems(const std::vector<std::string>& items, const char* field) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty() || items[i].size() > kMaxFeedbackItemBytes) {
      return InvalidArgument(std::string(field) + "[" + std::to_string(i) + "]: an item id of 1.." +
                             std::to_string(kMaxFeedbackItemBytes) + " bytes, got " + std::to_string(items[i].size()));
    }
  }
  return Status::Ok();
}

Status CheckRequestId(const std::string& id) {
  if (!id.empty() && !IsValidRequestId(id)) {
    return InvalidArgument("request_id: 1..128 printable ASCII characters expected");
  }
  return Status::Ok();
}

Status CheckTime(int64_t unix_ms) {
  if (unix_ms < 0) return InvalidArgument("time: must be Unix milliseconds >= 0 (0: now)");
  return Status::Ok();
}

// Probabilities of a row: as they are when they already are (each in [0,1],
// summing to 1), else the softmax of the values (logits).
std::vector<double> Probabilities(const std::vector<float>& values) {
  double sum = 0;
  bool in_range = true;
  for (float v : values) {
    in_range = in_range && v >= 0 && v <= 1;
    sum += v;
  }
  std::vector<double> p(values.begin(), values.end());
  if (in_range && std::abs(sum - 1.0) <= 1e-3) return p;
  const double top = *std::max_element(p.begin(), p.end());
  double total = 0;
  for (double& x : p) total += (x = std::exp(x - top));
  for (double& x : p) x /= total;
  return p;
}

double LogLoss(double p) { return -std::log(std::clamp(p, 1e-15, 1.0)); }

// The log row of feedback joined to `found`; the caller adds the truth.
FeedbackRecord JoinedRecord(const IndexedPrediction& found, int64_t time_unix_ms, int64_t matched) {
  FeedbackRecord record;
  record.request_id = found.request_id;
  record.time = EventTime(time_unix_ms);
  record.model = found.model;
  record.version = found.version;
  record.matched = matched;
  return record;
}

}  // namespace

double SampleRate(const ModelConfig& config, bool recommender_api) {
  static const std::string key(kSampleRateParameter);  // no key string per request
  auto it = config.parameters().find(key);
  if (it == config.parameters().end()) return recommender_api ? 1.0 : 0.0;
  char* end = nullptr;
  const std::string& text = it->second.string_value();
  const double rate = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(rate)) return recommender_api ? 1.0 : 0.0;
  return std::clamp(rate, 0.0, 1.0);
}

bool Sampled(std::string_view request_id, double rate) {
  if (rate >= 1.0) return true;
  if (rate <= 0.0) return false;
  // The top 53 bits of the hash as a fraction in [0, 1).
  const double u = static_cast<double>(Fnv1a(request_id) >> 11) * 0x1.0p-53;
  return u < rate;
}

OutputSummary SummarizeOutputs(const ModelVersion& model, const InferenceResponse& response,
                               std::vector<float>* scores) {
  OutputSummary summary;
  if (response.outputs.empty()) return summary;
  const NamedTensor& output = response.outputs.front();
  const Tensor& tensor = output.tensor;
  const bool batched = model.config().max_batch_size() > 0 && !tensor.shape().empty();
  summary.rows = batched ? std::max<int64_t>(tensor.shape()[0], 1) : 1;
  const int64_t per_row = tensor.element_count() / summary.rows;
  const bool floats = tensor.dtype() == DataType::kFp32 || tensor.dtype() == DataType::kFp64;
  if (!floats || per_row < 1) {
    summary.kind = OutputSummary::Kind::kDigest;
    char hash[17];
    std::snprintf(hash, sizeof(hash), "%016llx",
                  static_cast<unsigned long long>(Fnv1a(std::string_view(tensor.data(), tensor.byte_size()))));
    summary.digest = std::string(DataTypeName(tensor.dtype())) + ShapeToString(tensor.shape()) + " fnv1a64:" + hash;
    return summary;
  }
  auto value = [&](int64_t i) -> float {
    return tensor.dtype() == DataType::kFp32 ? tensor.data_as<float>()[i]
                                              : static_cast<float>(tensor.data_as<double>()[i]);
  };
  if (per_row == 1) {
    summary.kind = OutputSummary::Kind::kValue;
    summary.score = value(0);
    return summary;
  }
  summary.kind = OutputSummary::Kind::kClass;
  int64_t best = 0;
  for (int64_t i = 1; i < per_row; ++i) {
    if (value(i) > value(best)) best = i;
  }
  summary.class_index = best;
  summary.score = value(best);
  const int index = model.OutputIndex(output.name);
  const std::vector<std::string>* labels = index >= 0 ? &model.labels(index) : nullptr;
  summary.label = labels && best < static_cast<int64_t>(labels->size()) ? (*labels)[best] : std::to_string(best);
  if (scores && per_row <= static_cast<int64_t>(PredictionIndex::kMaxIndexedScores)) {
    scores->resize(per_row);
    for (int64_t i = 0; i < per_row; ++i) (*scores)[i] = value(i);
  }
  return summary;
}

FeedbackLoop::FeedbackLoop(const ModelRepository* repository, Metrics* metrics, FeedbackLoopOptions options)
    : repository_(repository),
      index_(options.window_entries, options.window_age, options.clock),
      evaluation_(metrics) {
  if (metrics) {
    rejected_ = &prometheus::BuildCounter()
                     .Name("protoserve_feedback_rejected_total")
                     .Help("Feedback refused, by reason: unknown, expired, duplicate, invalid")
                     .Register(*metrics->registry());
  }
}

FeedbackLoop::~FeedbackLoop() = default;

void FeedbackLoop::AddWriter(std::unique_ptr<PredictionLogWriter> writer) { writers_.push_back(std::move(writer)); }

void FeedbackLoop::FlushLog() {
  for (auto& writer : writers_) writer->Flush();
}

void FeedbackLoop::Log(LogEntry entry) {
  if (writers_.empty()) return;
  for (size_t i = 0; i + 1 < writers_.size(); ++i) writers_[i]->Push(entry);
  writers_.back()->Push(std::move(entry));
}

void FeedbackLoop::OnRecommendation(const std::string& request_id, Api api, const std::string& user_id,
                                    const ModelVersion& model, const std::vector<std::string>& item_ids,
                                    Clock::duration latency) {
  if (!Sampled(request_id, SampleRate(model.config(), true))) return;
  IndexedPrediction indexed;
  indexed.request_id = request_id;
  indexed.model = model.name();
  indexed.version = model.version();
  indexed.output.kind = OutputSummary::Kind::kItems;
  indexed.output.items = item_ids;
  evaluation_.RecordPrediction(indexed.model, indexed.version, static_cast<int64_t>(item_ids.size()));
  if (!writers_.empty()) {
    PredictionRecord record{request_id, std::chrono::system_clock::now(), indexed.model, indexed.version, api,
                            user_id, indexed.output,
                            std::chrono::duration_cast<std::chrono::microseconds>(latency)};
    Log(LogEntry(std::move(record)));
  }
  index_.Add(std::move(indexed), user_id);
}

void FeedbackLoop::OnInference(const std::string& request_id, Api api, const std::string& routing_key,
                               const ModelVersion& model, const InferenceResponse& response, Clock::duration latency) {
  if (!Sampled(request_id, SampleRate(model.config(), false))) return;
  IndexedPrediction indexed;
  indexed.request_id = request_id;
  indexed.model = model.name();
  indexed.version = model.version();
  indexed.output = SummarizeOutputs(model, response, &indexed.scores);
  evaluation_.RecordPrediction(indexed.model, indexed.version, 0);
  if (!writers_.empty()) {
    PredictionRecord record{request_id, std::chrono::system_clock::now(), indexed.model, indexed.version, api,
                            routing_key, indexed.output,
                            std::chrono::duration_cast<std::chrono::microseconds>(latency)};
    Log(LogEntry(std::move(record)));
  }
  index_.Add(std::move(indexed), "");
}

void FeedbackLoop::CountRejected(const Status& status) {
  if (!rejected_) return;
  const char* reason = "invalid";
  if (status.code() == StatusCode::kAlreadyExists) {
    reason = "duplicate";
  } else if (status.code() == StatusCode::kNotFound) {
    reason = status.message().find("expired") != std::string::npos ? "expired" : "unknown";
  }
  rejected_->Add({{"reason", reason}}).Increment();
}

StatusOr<FeedbackResult> FeedbackLoop::RecommendationFeedback(const RecommendationFeedbackQuery& query) {
  auto run = [&]() -> StatusOr<FeedbackResult> {
    RETURN_IF_ERROR(CheckRequestId(query.request_id));
    RETURN_IF_ERROR(CheckTime(query.time_unix_ms));
    if (query.request_id.empty() && query.user_id.empty()) {
      return InvalidArgument("feedback needs a request_id (from the RecommendationResponse) or a user_id");
    }
    if (query.user_id.size() > kMaxUserIdBytes) return InvalidArgument("user_id: too long");
    if (query.clicked.size() + query.bought.size() > kMaxFeedbackItems) {
      return InvalidArgument("clicked_item_ids + bought_item_ids: " +
                             std::to_string(query.clicked.size() + query.bought.size()) + " items, at most " +
                             std::to_string(kMaxFeedbackItems) + " allowed");
    }
    RETURN_IF_ERROR(CheckItems(query.clicked, "clicked_item_ids"));
    RETURN_IF_ERROR(CheckItems(query.bought, "bought_item_ids"));
    ASSIGN_OR_RETURN(IndexedPrediction found, index_.Find(query.request_id, query.user_id));
    if (found.output.kind != OutputSummary::Kind::kItems) {
      return InvalidArgument("request id '" + found.request_id + "' is a prediction of model '" + found.model +
                             "', not a recommendation: send its ground truth to /v2/models/" + found.model +
                             "/feedback");
    }
    const std::unordered_set<std::string_view> returned(found.output.items.begin(), found.output.items.end());
    std::unordered_set<std::string_view> matched;
    for (const auto* list : {&query.clicked, &query.bought}) {
      for (const std::string& item : *list) {
        if (returned.contains(item)) matched.insert(item);
      }
    }
    RETURN_IF_ERROR(index_.Claim(found));
    FeedbackResult result{found.request_id, found.model, found.version, static_cast<int64_t>(matched.size()), false};
    evaluation_.RecordClicks(found.model, found.version, result.matched_items);
    if (!writers_.empty()) {
      FeedbackRecord record = JoinedRecord(found, query.time_unix_ms, result.matched_items);
      record.user_id = query.user_id;
      record.clicked = query.clicked;
      record.bought = query.bought;
      Log(LogEntry(std::move(record)));
    }
    return result;
  };
  auto result = run();
  if (!result.ok()) CountRejected(result.status());
  return result;
}

StatusOr<FeedbackResult> FeedbackLoop::ModelFeedback(const ModelFeedbackQuery& query) {
  auto run = [&]() -> StatusOr<FeedbackResult> {
    if (!IsValidModelName(query.model)) return InvalidArgument("invalid model name '" + query.model + "'");
    RETURN_IF_ERROR(repository_->Config(query.model).status());
    if (query.request_id.empty()) return InvalidArgument("request_id: required (the `id` of the inference response)");
    RETURN_IF_ERROR(CheckRequestId(query.request_id));
    RETURN_IF_ERROR(CheckTime(query.time_unix_ms));
    if (query.has_label == query.has_value) {
      return InvalidArgument("feedback needs exactly one ground truth: a label (classifier) or a value (regressor)");
    }
    if (query.has_label && (query.label.empty() || query.label.size() > kMaxFeedbackItemBytes)) {
      return InvalidArgument("label: 1.." + std::to_string(kMaxFeedbackItemBytes) + " bytes expected");
    }
    if (query.has_value && !std::isfinite(query.value)) return InvalidArgument("value: must be a finite number");
    ASSIGN_OR_RETURN(IndexedPrediction found, index_.Find(query.request_id, ""));
    if (found.model != query.model) {
      return NotFound("request id '" + query.request_id + "' is not a prediction of model '" + query.model + "'");
    }
    const OutputSummary& out = found.output;
    if (out.rows != 1) {
      return InvalidArgument("request id '" + query.request_id + "' predicted " + std::to_string(out.rows) +
                             " rows: feedback joins single-row predictions only");
    }
    FeedbackResult result{found.request_id, found.model, found.version, 0, false};
    double loss = -1;
    if (query.has_label) {
      int64_t truth = -1;
      if (out.kind == OutputSummary::Kind::kClass) {
        std::vector<std::string> labels;
        if (auto version = repository_->Get(found.model, found.version); version.ok()) {
          const auto& config = (*version)->config();
          if (config.output_size() > 0) labels = (*version)->labels((*version)->OutputIndex(config.output(0).name()));
        }
        auto named = std::find(labels.begin(), labels.end(), query.label);
        if (named != labels.end()) {
          truth = named - labels.begin();
        } else {
          char* end = nullptr;
          const long long n = std::strtoll(query.label.c_str(), &end, 10);
          if (*end == '\0' && n >= 0) truth = n;
        }
        const int64_t classes = found.scores.empty() ? int64_t{1} << 40 : static_cast<int64_t>(found.scores.size());
        if (truth < 0 || truth >= classes) {
          return InvalidArgument("label '" + query.label + "' is not a class of model '" + found.model +
                                 "' (a label of its label file, or a class index)");
        }
        result.correct = truth == out.class_index;
        if (!found.scores.empty()) loss = LogLoss(Probabilities(found.scores)[truth]);
      } else if (out.kind == OutputSummary::Kind::kValue && out.score >= 0 && out.score <= 1) {
        // One probability per row: a binary classifier (class 1 when p >= 0.5).
        if (query.label == "1" || query.label == "true") truth = 1;
        if (query.label == "0" || query.label == "false") truth = 0;
        if (truth < 0) return InvalidArgument("label '" + query.label + "': a binary model takes 0 or 1");
        result.correct = (out.score >= 0.5f) == (truth == 1);
        loss = LogLoss(truth == 1 ? out.score : 1.0 - out.score);
      } else {
        return InvalidArgument("request id '" + query.request_id +
                               "': a label needs a classifier's prediction (scores or a probability)");
      }
    } else if (out.kind != OutputSummary::Kind::kValue) {
      return InvalidArgument("request id '" + query.request_id +
                             "': a value needs a regressor's prediction (one output value)");
    }
    RETURN_IF_ERROR(index_.Claim(found));
    if (query.has_label) {
      evaluation_.RecordLabel(found.model, found.version, result.correct, loss);
    } else {
      evaluation_.RecordValue(found.model, found.version, std::abs(out.score - query.value));
    }
    if (!writers_.empty()) {
      FeedbackRecord record = JoinedRecord(found, query.time_unix_ms, result.correct ? 1 : 0);
      record.label = query.has_label ? query.label : "";
      record.has_value = query.has_value;
      record.value = query.value;
      Log(LogEntry(std::move(record)));
    }
    return result;
  };
  auto result = run();
  if (!result.ok()) CountRejected(result.status());
  return result;
}

StatusOr<std::vector<VersionEvaluation>> FeedbackLoop::Evaluation(const std::string& model) const {
  if (!IsValidModelName(model)) return InvalidArgument("invalid model name '" + model + "'");
  RETURN_IF_ERROR(repository_->Config(model).status());
  return evaluation_.Snapshot(model);
}

}  // namespace protoserve
