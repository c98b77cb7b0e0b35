// OnlineEvaluation: per model version, what users' feedback says about the
// version's answers — the evidence a rollout controller reads to promote or
// roll back a version (docs/rollout.md).
//
// It keeps counts and sums only (no rates): rates derive from them, both
// here (EvaluationCounts' accessors) and in PromQL over the exported
// counters (protoserve_online_*{model,version}), so a window of any length
// can be evaluated from two readings:
//   recommender  predictions, impressions (items returned), clicks (clicked
//                or bought items among the returned ones), hits (predictions
//                with at least one click): CTR@k = clicks / impressions,
//                hit rate = hits / predictions;
//   classifier   labelled, correct, log-loss sum over `scored` (labelled
//                predictions whose probabilities were kept): accuracy =
//                correct / labelled, log-loss = sum / scored;
//   regressor    valued, absolute error sum: MAE = sum / valued.
// Lifetime ratios are also exported as gauges (protoserve_online_ctr ...).
//
// Thread-safety: all methods may be called concurrently; recording is a
// short critical section (the request path records every joinable prediction).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/metrics.h"
#include "core/thread_annotations.h"

namespace protoserve {

struct EvaluationCounts {
  int64_t predictions = 0;  // joinable predictions recorded
  int64_t feedback = 0;     // feedback joined
  int64_t impressions = 0;  // recommender: items returned
  int64_t clicks = 0;       // recommender: clicked/bought items that were returned
  int64_t hits = 0;         // recommender: predictions with at least one such click
  int64_t labelled = 0;     // classifier: predictions with a true label
  int64_t correct = 0;      // classifier: argmax == true label
  int64_t scored = 0;       // classifier: labelled predictions with probabilities
  double log_loss_sum = 0;  // classifier: sum of -ln p(true class)
  int64_t valued = 0;       // regressor: predictions with a true value
  double abs_error_sum = 0; // regressor: sum of |predicted - true|

  // Ratios; 0 when the denominator is 0.
  double ctr() const { return Ratio(static_cast<double>(clicks), impressions); }
  double hit_rate() const { return Ratio(static_cast<double>(hits), predictions); }
  double accuracy() const { return Ratio(static_cast<double>(correct), labelled); }
  double log_loss() const { return Ratio(log_loss_sum, scored); }
  double mae() const { return Ratio(abs_error_sum, valued); }

 private:
  static double Ratio(double a, int64_t b) { return b == 0 ? 0.0 : a / static_cast<double>(b); }
};

struct VersionEvaluation {
  std::string model;
  int64_t version = 0;
  EvaluationCounts counts;
};

class OnlineEvaluation {
 public:
  // `metrics` may be null (no Prometheus export).
  explicit OnlineEvaluation(Metrics* metrics);
  ~OnlineEvaluation();

  // A joinable prediction; `impressions`: items returned (recommender), else 0.
  void RecordPrediction(const std::string& model, int64_t version, int64_t impressions);
  // Recommender feedback: `clicks` returned items were clicked or bought.
  void RecordClicks(const std::string& model, int64_t version, int64_t clicks);
  // Classifier feedback; `log_loss` < 0: no probabilities were kept.
  void RecordLabel(const std::string& model, int64_t version, bool correct, double log_loss);
  // Regressor feedback.
  void RecordValue(const std::string& model, int64_t version, double abs_error);

  // Every version of `model` seen so far (ascending); all models when empty.
  std::vector<VersionEvaluation> Snapshot(const std::string& model) const;
  EvaluationCounts Counts(const std::string& model, int64_t version) const;

 private:
  struct Entry;
  Entry& EntryLocked(const std::string& model, int64_t version) REQUIRES(mu_);

  struct Families;
  std::unique_ptr<Families> families_;  // null without metrics

  mutable Mutex mu_;
  std::map<std::pair<std::string, int64_t>, std::unique_ptr<Entry>> entries_ GUARDED_BY(mu_);
};

}  // namespace protoserve
