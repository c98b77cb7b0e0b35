#include "core/online_evaluation.h"

namespace protoserve {

namespace {

prometheus::Family<prometheus::Counter>& Counter(prometheus::Registry& registry, const std::string& name,
                                                  const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& Gauge(prometheus::Registry& registry, const std::string& name,
                                              const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

}  // namespace

struct OnlineEvaluation::Families {
  explicit Families(prometheus::Registry& r)
      : predictions(Counter(r, "protoserve_online_predictions_total", "Joinable predictions recorded (sampled)")),
        feedback(Counter(r, "protoserve_online_feedback_total", "Feedback joined to a prediction")),
        impressions(Counter(r, "protoserve_online_impressions_total", "Recommender: items returned")),
        clicks(Counter(r, "protoserve_online_clicks_total",
                       "Recommender: clicked or bought items that were returned")),
        hits(Counter(r, "protoserve_online_hits_total",
                     "Recommender: predictions with at least one returned item clicked")),
        labelled(Counter(r, "protoserve_online_labelled_total", "Classifier: predictions with a true label")),
        correct(Counter(r, "protoserve_online_correct_total", "Classifier: argmax equal to the true label")),
        scored(Counter(r, "protoserve_online_scored_total",
                       "Classifier: labelled predictions with probabilities (the log-loss denominator)")),
        log_loss_sum(Counter(r, "protoserve_online_log_loss_total", "Classifier: sum of -ln p(true class)")),
        valued(Counter(r, "protoserve_online_valued_total", "Regressor: predictions with a true value")),
        abs_error_sum(Counter(r, "protoserve_online_absolute_error_total", "Regressor: sum of absolute errors")),
        ctr(Gauge(r, "protoserve_online_ctr", "Recommender: clicks / impressions since start")),
        hit_rate(Gauge(r, "protoserve_online_hit_rate", "Recommender: hits / predictions since start")),
        accuracy(Gauge(r, "protoserve_online_accuracy", "Classifier: correct / labelled since start")),
        log_loss(Gauge(r, "protoserve_online_mean_log_loss", "Classifier: mean log-loss since start")),
        mae(Gauge(r, "protoserve_online_mae", "Regressor: mean absolute error since start")) {}

  prometheus::Family<prometheus::Counter>&predictions, &feedback, &impressions, &clicks, &hits, &labelled, &correct,
      &scored, &log_loss_sum, &valued, &abs_error_sum;
  prometheus::Family<prometheus::Gauge>&ctr, &hit_rate, &accuracy, &log_loss, &mae;
};

// One version's counts and, with metrics, its pre-resolved Prometheus series.
struct OnlineEvaluation::Entry {
  EvaluationCounts counts;
  prometheus::Counter *predictions = nullptr, *feedback = nullptr, *impressions = nullptr, *clicks = nullptr,
                      *hits = nullptr, *labelled = nullptr, *correct = nullptr, *scored = nullptr,
                      *log_loss_sum = nullptr, *valued = nullptr, *abs_error_sum = nullptr;
  prometheus::Gauge *ctr = nullptr, *hit_rate = nullptr, *accuracy = nullptr, *log_loss = nullptr, *mae = nullptr;

  static void Add(prometheus::Counter* counter, double value) {
    if (counter && value != 0) counter->Increment(value);
  }
  void Publish() const {
    if (!ctr) return;
    ctr->Set(counts.ctr());
    hit_rate->Set(counts.hit_rate());
    accuracy->Set(counts.accuracy());
    log_loss->Set(counts.log_loss());
    mae->Set(counts.mae());
  }
};

OnlineEvaluation::OnlineEvaluation(Metrics* metrics)
    : families_(metrics ? std::make_unique<Families>(*metrics->registry()) : nullptr) {}

OnlineEvaluation::~OnlineEvaluation() = default;

OnlineEvaluation::Entry& OnlineEvaluation::EntryLocked(const std::string& model, int64_t version) {
  auto& slot = entries_[{model, version}];
  if (slot) return *slot;
  slot = std::make_unique<Entry>();
  if (families_) {
    const prometheus::Labels labels{{"model", model}, {"version", std::to_string(version)}};
    Families& f = *families_;
    Entry& e = *slot;
    e.predictions = &f.predictions.Add(labels);
    e.feedback = &f.feedback.Add(labels);
    e.impressions = &f.impressions.Add(labels);
    e.clicks = &f.clicks.Add(labels);
    e.hits = &f.hits.Add(labels);
    e.labelled = &f.labelled.Add(labels);
    e.correct = &f.correct.Add(labels);
    e.scored = &f.scored.Add(labels);
    e.log_loss_sum = &f.log_loss_sum.Add(labels);
    e.valued = &f.valued.Add(labels);
    e.abs_error_sum = &f.abs_error_sum.Add(labels);
    e.ctr = &f.ctr.Add(labels);
    e.hit_rate = &f.hit_rate.Add(labels);
    e.accuracy = &f.accuracy.Add(labels);
    e.log_loss = &f.log_loss.Add(labels);
    e.mae = &f.mae.Add(labels);
  }
  return *slot;
}

void OnlineEvaluation::RecordPrediction(const std::string& model, int64_t version, int64_t impressions) {
  MutexLock lock(mu_);
  Entry& e = EntryLocked(model, version);
  e.counts.predictions += 1;
  e.counts.impressions += impressions;
  Entry::Add(e.predictions, 1);
  Entry::Add(e.impressions, static_cast<double>(impressions));
  if (impressions > 0) e.Publish();  // CTR and hit rate moved
}

void OnlineEvaluation::RecordClicks(const std::string& model, int64_t version, int64_t clicks) {
  MutexLock lock(mu_);
  Entry& e = EntryLocked(model, version);
  e.counts.feedback += 1;
  e.counts.clicks += clicks;
  e.counts.hits += clicks > 0 ? 1 : 0;
  Entry::Add(e.feedback, 1);
  Entry::Add(e.clicks, static_cast<double>(clicks));
  Entry::Add(e.hits, clicks > 0 ? 1 : 0);
  e.Publish();
}

void OnlineEvaluation::RecordLabel(const std::string& model, int64_t version, bool correct, double log_loss) {
  MutexLock lock(mu_);
  Entry& e = EntryLocked(model, version);
  e.counts.feedback += 1;
  e.counts.labelled += 1;
  e.counts.correct += correct ? 1 : 0;
  Entry::Add(e.feedback, 1);
  Entry::Add(e.labelled, 1);
  Entry::Add(e.correct, correct ? 1 : 0);
  if (log_loss >= 0) {
    e.counts.scored += 1;
    e.counts.log_loss_sum += log_loss;
    Entry::Add(e.scored, 1);
    Entry::Add(e.log_loss_sum, log_loss);
  }
  e.Publish();
}

void OnlineEvaluation::RecordValue(const std::string& model, int64_t version, double abs_error) {
  MutexLock lock(mu_);
  Entry& e = EntryLocked(model, version);
  e.counts.feedback += 1;
  e.counts.valued += 1;
  e.counts.abs_error_sum += abs_error;
  Entry::Add(e.feedback, 1);
  Entry::Add(e.valued, 1);
  Entry::Add(e.abs_error_sum, abs_error);
  e.Publish();
}

std::vector<VersionEvaluation> OnlineEvaluation::Snapshot(const std::string& model) const {
  std::vector<VersionEvaluation> out;
  MutexLock lock(mu_);
  for (const auto& [key, entry] : entries_) {
    if (model.empty() || key.first == model) out.push_back({key.first, key.second, entry->counts});
  }
  return out;
}

EvaluationCounts OnlineEvaluation::Counts(const std::string& model, int64_t version) const {
  MutexLock lock(mu_);
  auto it = entries_.find({model, version});
  return it == entries_.end() ? EvaluationCounts{} : it->second->counts;
}

}  // namespace protoserve
