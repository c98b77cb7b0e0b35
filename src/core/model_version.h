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

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/dynamic_batcher.h"
#include "core/inference.h"
#include "core/input_validation.h"
#include "core/infer_statistics.h"
#include "core/model_config.h"
#include "core/model_contract.h"
#include "core/model_warmup.h"
#include "core/request_observer.h"

namespace protoserve {

// How a version is loaded beyond its config and files.
struct VersionOptions {
  // Bounds each input tensor of a request (checked before anything
  // proportional to its size is allocated).
  int64_t max_tensor_elements = kDefaultMaxTensorElements;
  // Watch every request and batch (metrics, tracing, ...); the version's
  // own statistics are always kept.
  std::vector<std::shared_ptr<RequestObserver>> observers;
  // Builds the version's contract (model_contract.h); empty: none.
  ContractLoader contract_loader;
};

class ModelVersion : public std::enable_shared_from_this<ModelVersion> {
 public:
  static StatusOr<std::shared_ptr<ModelVersion>> Load(const ModelConfig& config,
                                                      const std::filesystem::path& model_dir, int64_t version,
                                                      Backend* backend, VersionOptions options = {});
  ~ModelVersion();

  const ModelConfig& config() const { return config_; }
  const std::string& name() const { return config_.name(); }
  int64_t version() const { return version_; }
  // Labels of output `index` (empty when it has no label_filename).
  const std::vector<std::string>& labels(int index) const { return labels_[index]; }
  // Index of the output called `name`, or -1.
  int OutputIndex(const std::string& name) const;
  const InferStats& stats() const { return statistics_->stats(); }
  // The most elements one valid request can carry (MaxRequestElements).
  int64_t max_request_elements() const { return max_request_elements_; }
  // The contract loaded with this version (model_contract.h), or null.
  const std::shared_ptr<const ModelContract>& contract() const { return contract_; }
  size_t queue_depth() const { return batcher_->queue_depth(); }
  // Tells the observers the gauges read at scrape time (queue depth).
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
  std::shared_ptr<const ModelContract> contract_;  // set by Load, then const
  std::unique_ptr<LoadedModel> model_;
  std::shared_ptr<InferStatistics> statistics_ = std::make_shared<InferStatistics>();
  std::vector<std::shared_ptr<RequestObserver>> observers_;  // statistics_ first
  std::unique_ptr<Scheduler> batcher_;  // a DynamicBatcher
};

// Reads a label file: one label per line, trailing '\r' removed.
StatusOr<std::vector<std::string>> ReadLabelFile(const std::filesystem::path& path);

}  // namespace protoserve
