// Metrics: the server's Prometheus metrics (prometheus-cpp), all prefixed
// `protoserve_`. Labels are bounded: model, version, api ("grpc", "http"),
// status code name and model state; never user data.
//
// Hot-path recording goes through a ModelMetrics handle that a model version
// creates once at load, so a request touches only pre-resolved atomic
// counters and histograms (no label lookup, no registry lock).
//
// Cardinality (docs/metrics.md): a version creates at load, at zero, only
// the series that dashboards and alerts need to exist before the first
// event (so rate() counts the first increment and an error-ratio alert has
// both of its sides): requests_total for OK and the server-side error codes
// (kPrecreatedCodes) on the grpc and http APIs, its queue depth and its
// model state. Every other series (client error codes, the shadow API, the
// histograms) appears at its first observation.
// Thread-safety: everything here may be used from any thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "core/process_metrics.h"
#include "core/request_observer.h"
#include "core/status.h"

namespace protoserve {

inline constexpr int kStatusCodeCount = 17;

// The codes whose requests_total series every version creates at zero for the
// grpc and http APIs: OK (request rate, the error ratio's denominator) and the
// errors that are the server's doing, which alerts fire on.
inline constexpr std::array<StatusCode, 5> kPrecreatedCodes = {
    StatusCode::kOk, StatusCode::kDeadlineExceeded, StatusCode::kResourceExhausted, StatusCode::kInternal,
    StatusCode::kUnavailable};

class Metrics;

// Pre-resolved metrics of one model version: the Prometheus observer of its
// requests (request_observer.h).
class ModelMetrics : public RequestObserver {
 public:
  ModelMetrics(Metrics* metrics, const std::string& model, const std::string& version);
  ~ModelMetrics() override;

  void OnExecuted(int64_t rows, Clock::duration compute) override;
  void OnCompleted(Api api, Clock::duration total, const BatchTiming& timing, int64_t rows) override;
  void OnFailed(Api api, StatusCode code, Clock::duration total) override;
  void OnQueueDepth(size_t depth) override;

  // Makes one ModelMetrics per loaded version.
  static RequestObserverFactory Factory(Metrics* metrics);

 private:
  // The series of one API and code (RequestSeconds: of one API), created on first use.
  prometheus::Counter& Requests(Api api, StatusCode code);
  prometheus::Histogram& RequestSeconds(Api api);

  Metrics* const metrics_;
  const prometheus::Labels labels_;
  // Null until the series is created (at load, or at its first observation).
  std::array<std::array<std::atomic<prometheus::Counter*>, kStatusCodeCount>, kApiCount> requests_{};
  std::array<std::atomic<prometheus::Histogram*>, kApiCount> request_seconds_{};
  std::atomic<prometheus::Histogram*> queue_seconds_{nullptr};
  std::atomic<prometheus::Histogram*> compute_seconds_{nullptr};
  std::atomic<prometheus::Histogram*> batch_size_{nullptr};
  prometheus::Gauge* const queue_depth_;
};

class Metrics {
 public:
  Metrics();

  // Model state gauge: 1 for the version's current state, 0 for the others.
  void SetModelState(const std::string& model, const std::string& version, const std::string& state);
  // Agreement (0..1) between a primary version's answer and its shadow's:
  // top-k overlap for the recommender, label agreement for classifiers.
  void RecordShadow(const std::string& model, int64_t primary, int64_t shadow, double agreement);

  // In-flight requests per API (incremented at arrival, decremented at reply).
  prometheus::Gauge& InFlight(Api api) { return *inflight_[static_cast<int>(api)]; }

  // The Prometheus text exposition of every metric, process metrics included.
  // Reads only: safe beside recording and other scrapes.
  std::string Serialize() const;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  friend class ModelMetrics;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_seconds_;
  prometheus::Family<prometheus::Histogram>& queue_seconds_;
  prometheus::Family<prometheus::Histogram>& compute_seconds_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& model_state_;
  prometheus::Family<prometheus::Histogram>& shadow_agreement_;
  std::array<prometheus::Gauge*, kApiCount> inflight_{};
  ProcessMetrics process_;
};

// RAII: counts a request in flight for its lifetime.
class InFlightGuard {
 public:
  InFlightGuard(Metrics* metrics, Api api) : gauge_(metrics ? &metrics->InFlight(api) : nullptr) {
    if (gauge_) gauge_->Increment();
  }
  ~InFlightGuard() {
    if (gauge_) gauge_->Decrement();
  }
  InFlightGuard(const InFlightGuard&) = delete;
  InFlightGuard& operator=(const InFlightGuard&) = delete;

 private:
  prometheus::Gauge* gauge_;
};

}  // namespace protoserve
