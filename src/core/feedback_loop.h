// FeedbackLoop: the prediction log, the join window and the online metrics
// behind one object — what the facade tells about every answered prediction,
// and what the feedback APIs of every front-end call.
//
//   prediction answered (facade, request path, never blocks)
//     -> sampled by the model's `prediction_log_sample_rate`?
//        -> PredictionIndex (joinable by request id / user id)
//        -> OnlineEvaluation.RecordPrediction (predictions, impressions)
//        -> each PredictionLogWriter (SQLite, CloudEvents; bounded queues)
//   feedback (front-ends)
//     -> validated (bounded) -> joined in the index (NOT_FOUND unknown or
//        expired, ALREADY_EXISTS duplicate) -> OnlineEvaluation (clicks,
//        label, value) -> the log writers (feedback rows)
//
// Sampling: config.pbtxt `parameters { key: "prediction_log_sample_rate"
// value { string_value: "0.25" } }` (0..1) per model. Without it, a
// prediction through the Recommender API (gRPC or REST /v1) is sampled at
// 1.0 and one through KServe v2 (infer) at 0: tensors may be large and hold
// personal data, so logging them is a choice the model's owner makes. An
// unsampled prediction is neither logged nor joinable (its feedback is
// NOT_FOUND). The decision is a hash of the request id, so it is the same
// for every replica.
//
// Thread-safety: all methods may be called concurrently; AddWriter() only
// before serving.
#pragma once

#include <prometheus/counter.h>

#include <memory>
#include <string>
#include <vector>

#include "core/inference.h"
#include "core/model_repository.h"
#include "core/online_evaluation.h"
#include "core/prediction_index.h"
#include "core/prediction_log.h"
#include "core/recommender.h"

namespace protoserve {

inline constexpr char kSampleRateParameter[] = "prediction_log_sample_rate";
inline constexpr size_t kMaxFeedbackItems = 1000;
inline constexpr size_t kMaxFeedbackItemBytes = 256;

struct FeedbackLoopOptions {
  size_t window_entries = 65536;                      // predictions joinable at once
  Clock::duration window_age = std::chrono::hours(1);  // and for how long
  const SchedulerClock* clock = nullptr;              // null: the steady clock
};

struct RecommendationFeedbackQuery {
  std::string request_id;  // empty: the latest prediction for user_id
  std::string user_id;
  std::vector<std::string> clicked;
  std::vector<std::string> bought;
  int64_t time_unix_ms = 0;  // 0: now
};

struct ModelFeedbackQuery {
  std::string model;
  std::string request_id;
  bool has_label = false;
  std::string label;  // a label of the output's label file, or a class index
  bool has_value = false;
  double value = 0;
  int64_t time_unix_ms = 0;
};

struct FeedbackResult {
  std::string request_id;
  std::string model;
  int64_t version = 0;
  int64_t matched_items = 0;  // recommender
  bool correct = false;       // classifier
};

class FeedbackLoop {
 public:
  // `repository` must outlive the loop; `metrics` may be null.
  FeedbackLoop(const ModelRepository* repository, Metrics* metrics, FeedbackLoopOptions options);
  ~FeedbackLoop();

  void AddWriter(std::unique_ptr<PredictionLogWriter> writer);

  // The facade's hooks, called before the client gets its answer (so its
  // feedback can never arrive first). Cheap; never block on a sink.
  // A ranked answer (core/recommender.h): `item_ids`, best first.
  void OnRecommendation(const std::string& request_id, Api api, const std::string& user_id,
                        const ModelVersion& model, const std::vector<std::string>& item_ids, Clock::duration latency);
  void OnInference(const std::string& request_id, Api api, const std::string& routing_key, const ModelVersion& model,
                   const InferenceResponse& response, Clock::duration latency);

  StatusOr<FeedbackResult> RecommendationFeedback(const RecommendationFeedbackQuery& query);
  StatusOr<FeedbackResult> ModelFeedback(const ModelFeedbackQuery& query);
  // The online metrics of every version of `model` seen so far; NOT_FOUND for an unknown model.
  StatusOr<std::vector<VersionEvaluation>> Evaluation(const std::string& model) const;

  const OnlineEvaluation& evaluation() const { return evaluation_; }
  PredictionIndex& index() { return index_; }
  // Waits until every entry logged so far reached its sinks (tests, shutdown).
  void FlushLog();

 private:
  void Log(LogEntry entry);
  void CountRejected(const Status& status);

  const ModelRepository* const repository_;
  PredictionIndex index_;
  OnlineEvaluation evaluation_;
  std::vector<std::unique_ptr<PredictionLogWriter>> writers_;
  prometheus::Family<prometheus::Counter>* rejected_ = nullptr;
};

// The model's sample rate (see above); `recommender_api`: the default 1.0 applies.
double SampleRate(const ModelConfig& config, bool recommender_api);
// Whether `request_id` falls in the sampled fraction `rate` (a hash, not a coin).
bool Sampled(std::string_view request_id, double rate);
// A bounded summary of a KServe answer: the first output's argmax class
// (several values per row), its value (one per row) or a digest (other dtypes).
// `scores` (may be null) receives row 0's values when there are at most
// PredictionIndex::kMaxIndexedScores.
OutputSummary SummarizeOutputs(const ModelVersion& model, const InferenceResponse& response,
                               std::vector<float>* scores);

}  // namespace protoserve
