// ModelVersion: one loaded version of a model, serving requests.
//
// Owns the backend's LoadedModel (the weights, loaded once) and a
// DynamicBatcher whose instance threads execute over it. Lifecycle:
// Load() returns a version that is warmed up and ready (each instance ran the
// config's model_warmup samples, or one zero-filled request: model_warmup.h); Shutdown() stops accepting, drains the queue and joins
// the instances. Front-ends hold a std::shared_ptr<ModelVersion> for the
// duration of a request, so a version is destroyed only after its last
// request has completed.
//
// Thread-safety: all const methods and Infer() may be called concurrently.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/dynamic_batcher.h"
#include "core/inference.h"
#include "core/input_validation.h"
#include "core/metrics.h"
#include "core/model_config.h"
#include "core/model_warmup.h"

namespace protoserve {

// Cumulative statistics, as Triton's ModelStatistics reports them.
struct InferStats {
  std::atomic<uint64_t> success_count{0};
  std::atomic<uint64_t> fail_count{0};
  std::atomic<uint64_t> inference_count{0};  // rows inferred
  std::atomic<uint64_t> execution_count{0};  // batches executed
  std::atomic<uint64_t> success_ns{0};       // request received -> response
  std::atomic<uint64_t> fail_ns{0};
  std::atomic<uint64_t> queue_ns{0};
  std::atomic<uint64_t> compute_input_ns{0};   // batch input gathering
  std::atomic<uint64_t> compute_ns{0};         // backend execution
  std::atomic<uint64_t> compute_output_ns{0};  // front-end completion: outputs into the response
  std::atomic<uint64_t> last_inference_ms{0};  // unix epoch milliseconds

  struct BatchBucket {
    uint64_t count = 0;
    uint64_t compute_ns = 0;
  };
  mutable std::mutex batch_mu;
  std::map<int64_t, BatchBucket> by_batch_size;  // guarded by batch_mu
};

class ModelVersion : public std::enable_shared_from_this<ModelVersion> {
 public:
  // `max_tensor_elements` bounds each input tensor of a request (checked
  // before anything proportional to its size is allocated).
  static StatusOr<std::shared_ptr<ModelVersion>> Load(const ModelConfig& config,
                                                      const std::filesystem::path& model_dir, int64_t version,
                                                      Backend* backend, Metrics* metrics = nullptr,
                                                      int64_t max_tensor_elements = kDefaultMaxTensorElements);
  ~ModelVersion();

  const ModelConfig& config() const { return config_; }
  const std::string& name() const { return config_.name(); }
  int64_t version() const { return version_; }
  // Labels of output `index` (empty when it has no label_filename).
  const std::vector<std::string>& labels(int index) const { return labels_[index]; }
  // Index of the output called `name`, or -1.
  int OutputIndex(const std::string& name) const;
  const InferStats& stats() const { return stats_; }
  // The most elements one valid request can carry (MaxRequestElements).
  int64_t max_request_elements() const { return max_request_elements_; }
  size_t queue_depth() const { return batcher_->queue_depth(); }
  // Publishes gauges read at scrape time (queue depth).
  void RefreshMetrics() const;

  // Validates `request` against the config and queues it. On error `done` is
  // not called; on success it is called exactly once.
  Status Infer(InferenceRequest request, InferenceCallback done);

  // Stops accepting requests and finishes those already queued.
  void Shutdown();

 private:
  ModelVersion(const ModelConfig& config, int64_t version) : config_(config), version_(version) {}
  Status Warmup();
  Status Execute(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs);

  const ModelConfig config_;
  const int64_t version_;
  int64_t max_tensor_elements_ = kDefaultMaxTensorElements;  // set by Load, then const
  int64_t max_request_elements_ = 0;                         // set by Load, then const
  std::vector<std::vector<std::string>> labels_;  // per output
  std::vector<WarmupSample> warmup_;              // run by each instance before READY
  std::unique_ptr<LoadedModel> model_;
  std::unique_ptr<ModelMetrics> metrics_;  // null when the server keeps no metrics
  std::unique_ptr<Scheduler> batcher_;  // a DynamicBatcher
  InferStats stats_;
};

// Reads a label file: one label per line, trailing '\r' removed.
StatusOr<std::vector<std::string>> ReadLabelFile(const std::filesystem::path& path);

}  // namespace protoserve
