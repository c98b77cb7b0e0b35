// Metrics: the server's Prometheus metrics (prometheus-cpp), all prefixed
// `protoserve_`. Labels are bounded: model, version, api ("grpc", "http"),
// status code name and model state; never user data.
//
// Hot-path recording goes through a ModelMetrics handle that a model version
// creates once at load, so a request touches only pre-resolved atomic
// counters and histograms (no label lookup, no registry lock).
// Thread-safety: everything here may be used from any thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>

#include "core/request_observer.h"
#include "core/status.h"

namespace protoserve {

inline constexpr int kStatusCodeCount = 17;

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
  Metrics* const metrics_;
  const prometheus::Labels labels_;
  std::array<std::array<prometheus::Counter*, kStatusCodeCount>, kApiCount> requests_{};
  std::array<prometheus::Histogram*, kApiCount> request_seconds_{};
  prometheus::Histogram* queue_seconds_;
  prometheus::Histogram* compute_seconds_;
  prometheus::Histogram* batch_size_;
  prometheus::Gauge* queue_depth_;
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
  std::string Serialize() const;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  friend class ModelMetrics;
  void UpdateProcessMetrics() const;

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
  prometheus::Gauge& resident_bytes_;
  prometheus::Gauge& virtual_bytes_;
  prometheus::Gauge& cpu_seconds_;
  prometheus::Gauge& open_fds_;
  prometheus::Gauge& threads_;
  prometheus::Gauge& start_time_;
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
