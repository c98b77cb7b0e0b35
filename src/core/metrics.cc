#include "core/metrics.h"

#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <dirent.h>
#include <fstream>
#include <sstream>

namespace protoserve {

namespace {

// Latency buckets from 50 us to 10 s: protoserve answers in well under a
// millisecond on small models, so the low end matters.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const prometheus::Histogram::BucketBoundaries kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

double ProcessStartTime() {
  std::ifstream stat("/proc/self/stat");
  std::string content;
  std::getline(stat, content);
  // Field 22 (starttime, clock ticks since boot) follows the ')' of the command name.
  std::istringstream fields(content.substr(content.rfind(')') + 2));
  std::string value;
  for (int i = 3; i <= 22 && fields >> value; ++i) {
  }
  std::ifstream uptime_file("/proc/uptime");
  double uptime = 0;
  uptime_file >> uptime;
  const double started_after_boot = std::stod(value.empty() ? "0" : value) / sysconf(_SC_CLK_TCK);
  return static_cast<double>(time(nullptr)) - uptime + started_after_boot;
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
                            .Register(*registry_)),
      resident_bytes_(prometheus::BuildGauge()
                          .Name("process_resident_memory_bytes")
                          .Help("Resident memory size in bytes")
                          .Register(*registry_)
                          .Add({})),
      virtual_bytes_(prometheus::BuildGauge()
                         .Name("process_virtual_memory_bytes")
                         .Help("Virtual memory size in bytes")
                         .Register(*registry_)
                         .Add({})),
      cpu_seconds_(prometheus::BuildGauge()
                       .Name("process_cpu_seconds_total")
                       .Help("User and system CPU time in seconds")
                       .Register(*registry_)
                       .Add({})),
      open_fds_(prometheus::BuildGauge()
                    .Name("process_open_fds")
                    .Help("Open file descriptors")
                    .Register(*registry_)
                    .Add({})),
      threads_(prometheus::BuildGauge().Name("process_threads").Help("OS threads").Register(*registry_).Add({})),
      start_time_(prometheus::BuildGauge()
                      .Name("process_start_time_seconds")
                      .Help("Start time of the process since the Unix epoch, seconds")
                      .Register(*registry_)
                      .Add({})) {
  auto& inflight = prometheus::BuildGauge()
                       .Name("protoserve_inflight_requests")
                       .Help("Requests received and not yet answered, by API")
                       .Register(*registry_);
  for (int api = 0; api < kApiCount; ++api) inflight_[api] = &inflight.Add({{"api", ApiName(static_cast<Api>(api))}});
  start_time_.Set(ProcessStartTime());
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

void Metrics::UpdateProcessMetrics() const {
  std::ifstream statm("/proc/self/statm");
  long pages_virtual = 0, pages_resident = 0;
  statm >> pages_virtual >> pages_resident;
  const long page = sysconf(_SC_PAGESIZE);
  resident_bytes_.Set(static_cast<double>(pages_resident) * page);
  virtual_bytes_.Set(static_cast<double>(pages_virtual) * page);

  std::ifstream stat("/proc/self/stat");
  std::string content;
  std::getline(stat, content);
  std::istringstream fields(content.substr(content.rfind(')') + 2));
  std::string value;
  double utime = 0, stime = 0, nthreads = 0;
  for (int i = 3; i <= 20 && fields >> value; ++i) {
    if (i == 14) utime = std::stod(value);
    if (i == 15) stime = std::stod(value);
    if (i == 20) nthreads = std::stod(value);
  }
  cpu_seconds_.Set((utime + stime) / sysconf(_SC_CLK_TCK));
  threads_.Set(nthreads);

  int fds = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir)) ++fds;
    closedir(dir);
  }
  open_fds_.Set(fds > 2 ? fds - 3 : 0);  // minus ".", ".." and the directory itself
}

std::string Metrics::Serialize() const {
  UpdateProcessMetrics();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

ModelMetrics::ModelMetrics(Metrics* metrics, const std::string& model, const std::string& version)
    : metrics_(metrics),
      labels_({{"model", model}, {"version", version}}),
      queue_seconds_(&metrics->queue_seconds_.Add(labels_, kLatencyBuckets)),
      compute_seconds_(&metrics->compute_seconds_.Add(labels_, kLatencyBuckets)),
      batch_size_(&metrics->batch_size_.Add(labels_, kBatchBuckets)),
      queue_depth_(&metrics->queue_depth_.Add(labels_)) {
  for (int api = 0; api < kApiCount; ++api) {
    prometheus::Labels with_api = labels_;
    with_api["api"] = ApiName(static_cast<Api>(api));
    request_seconds_[api] = &metrics->request_seconds_.Add(with_api, kLatencyBuckets);
    for (int code = 0; code < kStatusCodeCount; ++code) {
      prometheus::Labels with_code = with_api;
      with_code["code"] = StatusCodeName(static_cast<StatusCode>(code));
      requests_[api][code] = &metrics->requests_.Add(with_code);
    }
  }
}

// Series stay after a version is unloaded (Prometheus counters must not go
// backwards within a process); only the queue depth is zeroed.
ModelMetrics::~ModelMetrics() { queue_depth_->Set(0); }

namespace {
double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

void ModelMetrics::OnCompleted(Api api, Clock::duration total, const BatchTiming& timing, int64_t /*rows*/) {
  requests_[static_cast<int>(api)][static_cast<int>(StatusCode::kOk)]->Increment();
  request_seconds_[static_cast<int>(api)]->Observe(Seconds(total));
  queue_seconds_->Observe(Seconds(timing.queue));
}

void ModelMetrics::OnFailed(Api api, StatusCode code, Clock::duration total) {
  const int c = static_cast<int>(code);
  requests_[static_cast<int>(api)][c >= 0 && c < kStatusCodeCount ? c : 2]->Increment();
  request_seconds_[static_cast<int>(api)]->Observe(Seconds(total));
}

void ModelMetrics::OnExecuted(int64_t rows, Clock::duration compute) {
  batch_size_->Observe(static_cast<double>(rows));
  compute_seconds_->Observe(Seconds(compute));
}

void ModelMetrics::OnQueueDepth(size_t depth) { queue_depth_->Set(static_cast<double>(depth)); }

RequestObserverFactory ModelMetrics::Factory(Metrics* metrics) {
  return [metrics](const std::string& model, int64_t version) -> std::shared_ptr<RequestObserver> {
    return std::make_shared<ModelMetrics>(metrics, model, std::to_string(version));
  };
}

}  // namespace protoserve
