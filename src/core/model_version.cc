#include "core/model_version.h"

#include <fstream>

#include "core/input_validation.h"
#include "core/model_warmup.h"

namespace protoserve {

namespace {

BatcherOptions OptionsFromConfig(const ModelConfig& config) {
  BatcherOptions options;
  options.instance_count = InstanceCount(config);
  options.max_batch_size = config.max_batch_size();
  if (config.has_dynamic_batching()) {
    const auto& db = config.dynamic_batching();
    options.dynamic_batching = true;
    options.preferred_batch_sizes.assign(db.preferred_batch_size().begin(), db.preferred_batch_size().end());
    options.max_queue_delay = std::chrono::microseconds(db.max_queue_delay_microseconds());
    if (db.default_queue_policy().max_queue_size() > 0) {
      options.max_queue_size = db.default_queue_policy().max_queue_size();
    }
  }
  return options;
}

}  // namespace

StatusOr<std::vector<std::string>> ReadLabelFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read label file " + path.string());
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(line);
  }
  return labels;
}

StatusOr<std::shared_ptr<ModelVersion>> ModelVersion::Load(const ModelConfig& config,
                                                           const std::filesystem::path& model_dir,
                                                           int64_t version, Backend* backend, VersionOptions options) {
  std::shared_ptr<ModelVersion> self(new ModelVersion(config, version));
  self->max_tensor_elements_ = options.max_tensor_elements;
  self->max_request_elements_ = MaxRequestElements(config, options.max_tensor_elements);
  self->observers_.push_back(self->statistics_);
  for (auto& observer : options.observers) {
    if (observer) self->observers_.push_back(std::move(observer));
  }
  for (const auto& output : config.output()) {
    std::vector<std::string> labels;
    if (!output.label_filename().empty()) {
      const std::string& file = output.label_filename();
      if (file.find('/') != std::string::npos || file.starts_with(".")) {
        return InvalidArgument("output '" + output.name() + "': label_filename must be a plain file name");
      }
      ASSIGN_OR_RETURN(labels, ReadLabelFile(model_dir / file));
    }
    self->labels_.push_back(std::move(labels));
  }
  if (options.contract_loader) {
    ASSIGN_OR_RETURN(self->contract_, options.contract_loader(config, model_dir));
  }
  ASSIGN_OR_RETURN(self->warmup_, BuildWarmupSamples(config, model_dir));
  ASSIGN_OR_RETURN(self->model_, backend->Load(config, model_dir / std::to_string(version)));
  ModelVersion* raw = self.get();
  BatcherOptions batcher_options = OptionsFromConfig(config);
  batcher_options.on_traced_batch = [raw](const BatchEvent& event) {
    for (const auto& observer : raw->observers_) observer->OnBatch(event);
  };
  self->batcher_ = std::make_unique<DynamicBatcher>(
      std::move(batcher_options),
      [raw](const std::vector<Tensor>& in, std::vector<Tensor>* out) { return raw->Execute(in, out); },
      [raw] {
        raw->model_->PrepareThread();
        return raw->Warmup();
      });
  Status started = self->batcher_->Start();
  if (!started.ok()) return Status(started.code(), "warm-up failed: " + started.message());
  return self;
}

ModelVersion::~ModelVersion() { Shutdown(); }

void ModelVersion::Shutdown() {
  if (batcher_) batcher_->Shutdown();
}

void ModelVersion::RefreshMetrics() const {
  const size_t depth = batcher_->queue_depth();
  for (const auto& observer : observers_) observer->OnQueueDepth(depth);
}

int ModelVersion::OutputIndex(const std::string& name) const {
  for (int i = 0; i < config_.output_size(); ++i) {
    if (config_.output(i).name() == name) return i;
  }
  return -1;
}

Status ModelVersion::Warmup() {
  // On each instance thread, before the version is READY (Start() waits).
  for (const WarmupSample& sample : warmup_) {
    for (uint32_t i = 0; i < sample.count; ++i) {
      std::vector<Tensor> outputs;
      Status status = model_->Execute(sample.inputs, &outputs);
      if (!status.ok()) return Status(status.code(), "model_warmup '" + sample.name + "': " + status.message());
      if (static_cast<int>(outputs.size()) != config_.output_size()) {
        return Internal("model_warmup '" + sample.name + "': the model returned " + std::to_string(outputs.size()) +
                        " outputs, the config has " + std::to_string(config_.output_size()));
      }
    }
  }
  return Status::Ok();
}

Status ModelVersion::Execute(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) {
  const auto start = Clock::now();
  Status status = model_->Execute(inputs, outputs);
  if (status.ok() && static_cast<int>(outputs->size()) != config_.output_size()) {
    status = Internal("backend returned " + std::to_string(outputs->size()) + " outputs, config has " +
                      std::to_string(config_.output_size()));
  }
  const int64_t rows = config_.max_batch_size() > 0 && !inputs.empty() ? inputs[0].shape()[0] : 1;
  const auto compute = Clock::now() - start;
  for (const auto& observer : observers_) observer->OnExecuted(rows, compute);
  return status;
}

Status ModelVersion::Infer(InferenceRequest request, InferenceCallback done) {
  // Held until this returns: `done` may release the caller's last handle on
  // this version (a refused or inline request completes inside Enqueue),
  // and the refusal below still touches this version's statistics.
  const std::shared_ptr<ModelVersion> self = shared_from_this();
  const auto received = Clock::now();
  const Api api = request.api;
  for (const auto& observer : observers_) observer->OnReceived(api);
  auto refuse = [&](Status status) {
    const auto total = Clock::now() - received;
    for (const auto& observer : observers_) observer->OnFailed(api, status.code(), total);
    return status;
  };
  Status outputs_ok = ValidateRequestedOutputs(config_, request.requested_outputs);
  if (!outputs_ok.ok()) return refuse(outputs_ok);
  auto validated = ValidateInputs(config_, std::move(request.inputs), max_tensor_elements_);
  if (!validated.ok()) return refuse(validated.status());
  ValidatedInputs inputs = std::move(validated).value();

  auto pending = std::make_unique<PendingRequest>();
  pending->inputs = std::move(inputs.tensors);
  pending->rows = inputs.rows;
  pending->deadline = request.deadline;
  pending->is_cancelled = std::move(request.is_cancelled);
  pending->trace = request.trace;
  pending->done = [this, received, api, requested = std::move(request.requested_outputs), done = std::move(done)](
                      Status status, std::vector<Tensor> outputs, const BatchTiming& timing) {
    const auto total = Clock::now() - received;
    InferenceResponse response;
    response.timing = timing;
    const bool ok = status.ok();
    if (ok) {
      const int64_t rows = outputs.empty() || config_.max_batch_size() == 0 ? 1 : outputs[0].shape()[0];
      for (const auto& observer : observers_) observer->OnCompleted(api, total, timing, rows);
      for (int i = 0; i < config_.output_size(); ++i) {
        const std::string& name = config_.output(i).name();
        bool wanted = requested.empty();
        for (const auto& r : requested) wanted = wanted || r == name;
        if (wanted) response.outputs.push_back({name, std::move(outputs[i])});
      }
    } else {
      for (const auto& observer : observers_) observer->OnFailed(api, status.code(), total);
    }
    const auto completion = Clock::now();
    done(std::move(status), std::move(response));
    if (ok) {
      const auto encode = Clock::now() - completion;
      for (const auto& observer : observers_) observer->OnResponded(encode);
    }
  };
  for (const auto& observer : observers_) observer->OnQueued(api);
  Status queued = batcher_->Enqueue(std::move(pending));
  return queued.ok() ? queued : refuse(queued);
}

}  // namespace protoserve
