#include "core/metrics.h"

#include <prometheus/text_serializer.h>

#include <utility>
#include <vector>

namespace protoserve {

namespace {

// Latency buckets from 50 us to 10 s: protoserve answers in well under a
// millisecond on small models, so the low end matters.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const prometheus::Histogram::BucketBoundaries kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

// The metric in `slot`, added to `family` on first use. Family::Add returns
// the existing metric for labels it has seen, so two threads that race here
// store the same pointer; later calls cost one atomic load.
template <typename T, typename... Args>
T& GetOrAdd(std::atomic<T*>& slot, prometheus::Family<T>& family, const prometheus::Labels& labels,
            const Args&... args) {
  T* metric = slot.load(std::memory_order_acquire);
  if (metric == nullptr) {
    metric = &family.Add(labels, args...);
    slot.store(metric, std::memory_order_release);
  }
  return *metric;
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("protoserve_requests_total")
                    .Help("Inference requests by model, version, API and gRPC status code")
                    .Register(*registry_)),
      request_seconds_(prometheus::BuildHistogram()
                           .Name("protoserve_request_duration_seconds")
                           .Help("Time from request arrival in the core to its answer")
                           .Register(*registry_)),
      queue_seconds_(prometheus::BuildHistogram()
                         .Name("protoserve_queue_duration_seconds")
                         .Help("Time a request waited in the model's queue")
                         .Register(*registry_)),
      compute_seconds_(prometheus::BuildHistogram()
                           .Name("protoserve_compute_duration_seconds")
                           .Help("Backend execution time per batch")
                           .Register(*registry_)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("protoserve_batch_size")
                      .Help("Rows per executed batch")
                      .Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("protoserve_queue_depth")
                       .Help("Requests waiting in the model version's queue")
                       .Register(*registry_)),
      model_state_(prometheus::BuildGauge()
                       .Name("protoserve_model_state")
                       .Help("1 for the model version's current state (LOADING, READY, UNLOADING, UNAVAILABLE, FAILED)")
                       .Register(*registry_)),
      shadow_agreement_(prometheus::BuildHistogram()
                            .Name("protoserve_shadow_agreement")
                            .Help("Agreement of a shadow version's answers with the primary's (1 = identical)")
                            .Register(*registry_)) {
  auto& inflight = prometheus::BuildGauge()
                       .Name("protoserve_inflight_requests")
                       .Help("Requests received and not yet answered, by API")
                       .Register(*registry_);
  for (int api = 0; api < kApiCount; ++api) inflight_[api] = &inflight.Add({{"api", ApiName(static_cast<Api>(api))}});
}

void Metrics::SetModelState(const std::string& model, const std::string& version, const std::string& state) {
  for (const char* s : {"LOADING", "READY", "UNLOADING", "UNAVAILABLE", "FAILED"}) {
    model_state_.Add({{"model", model}, {"version", version}, {"state", s}}).Set(state == s ? 1 : 0);
  }
}

void Metrics::RecordShadow(const std::string& model, int64_t primary, int64_t shadow, double agreement) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99, 1};
  shadow_agreement_
      .Add({{"model", model}, {"version", std::to_string(primary)}, {"shadow_version", std::to_string(shadow)}}, kBuckets)
      .Observe(agreement);
}

std::string Metrics::Serialize() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& family : process_.Collect()) families.push_back(std::move(family));
  return prometheus::TextSerializer().Serialize(families);
}

ModelMetrics::ModelMetrics(Metrics* metrics, const std::string& model, const std::string& version)
    : metrics_(metrics),
      labels_({{"model", model}, {"version", version}}),
      queue_depth_(&metrics->queue_depth_.Add(labels_)) {
  for (Api api : {Api::kGrpc, Api::kHttp}) {
    for (StatusCode code : kPrecreatedCodes) Requests(api, code);
  }
}

prometheus::Counter& ModelMetrics::Requests(Api api, StatusCode code) {
  int c = static_cast<int>(code);
  if (c < 0 || c >= kStatusCodeCount) c = static_cast<int>(StatusCode::kUnknown);
  auto& slot = requests_[static_cast<int>(api)][c];
  if (prometheus::Counter* counter = slot.load(std::memory_order_acquire)) return *counter;
  prometheus::Labels labels = labels_;
  labels["api"] = ApiName(api);
  labels["code"] = StatusCodeName(static_cast<StatusCode>(c));
  return GetOrAdd(slot, metrics_->requests_, labels);
}

// Series stay after a version is unloaded (Prometheus counters must not go
// backwards within a process); only the queue depth is zeroed.
ModelMetrics::~ModelMetrics() { queue_depth_->Set(0); }

namespace {
double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

prometheus::Histogram& ModelMetrics::RequestSeconds(Api api) {
  auto& slot = request_seconds_[static_cast<int>(api)];
  if (prometheus::Histogram* histogram = slot.load(std::memory_order_acquire)) return *histogram;
  prometheus::Labels labels = labels_;
  labels["api"] = ApiName(api);
  return GetOrAdd(slot, metrics_->request_seconds_, labels, kLatencyBuckets);
}

void ModelMetrics::OnCompleted(Api api, Clock::duration total, const BatchTiming& timing, int64_t /*rows*/) {
  Requests(api, StatusCode::kOk).Increment();
  RequestSeconds(api).Observe(Seconds(total));
  GetOrAdd(queue_seconds_, metrics_->queue_seconds_, labels_, kLatencyBuckets).Observe(Seconds(timing.queue));
}

void ModelMetrics::OnFailed(Api api, StatusCode code, Clock::duration total) {
  Requests(api, code).Increment();
  RequestSeconds(api).Observe(Seconds(total));
}

void ModelMetrics::OnExecuted(int64_t rows, Clock::duration compute) {
  GetOrAdd(batch_size_, metrics_->batch_size_, labels_, kBatchBuckets).Observe(static_cast<double>(rows));
  GetOrAdd(compute_seconds_, metrics_->compute_seconds_, labels_, kLatencyBuckets).Observe(Seconds(compute));
}

void ModelMetrics::OnQueueDepth(size_t depth) { queue_depth_->Set(static_cast<double>(depth)); }

RequestObserverFactory ModelMetrics::Factory(Metrics* metrics) {
  return [metrics](const std::string& model, int64_t version) -> std::shared_ptr<RequestObserver> {
    return std::make_shared<ModelMetrics>(metrics, model, std::to_string(version));
  };
}

}  // namespace protoserve
