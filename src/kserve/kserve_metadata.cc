#include "kserve/kserve_metadata.h"

#include "core/classification.h"

namespace protoserve {

namespace {

void FillTensorMetadata(const ModelConfig& config, const auto& specs, auto* out) {
  for (const auto& spec : specs) {
    auto* t = out->Add();
    t->set_name(spec.name());
    t->set_datatype(std::string(DataTypeName(FromConfigDataType(spec.data_type()))));
    if (config.max_batch_size() > 0) t->add_shape(-1);
    t->mutable_shape()->Add(spec.dims().begin(), spec.dims().end());
  }
}

void FillDuration(uint64_t count, uint64_t ns, inference::StatisticDuration* d) {
  d->set_count(count);
  d->set_ns(ns);
}

}  // namespace

void FillServerMetadata(inference::ServerMetadataResponse* response) {
  response->set_name("protoserve");
  response->set_version(PROTOSERVE_VERSION);
  for (const char* extension : {"classification", "model_repository", "model_configuration", "statistics",
                                "binary_tensor_data"}) {
    response->add_extensions(extension);
  }
}

Status FillModelMetadata(const ModelRepository& repository, const std::string& name, int64_t version,
                         inference::ModelMetadataResponse* response) {
  if (!IsValidModelName(name)) return InvalidArgument("invalid model name '" + name + "'");
  ASSIGN_OR_RETURN(ModelConfig config, repository.Config(name));
  if (version != 0) RETURN_IF_ERROR(repository.Get(name, version).status());
  response->set_name(name);
  response->set_platform(config.platform().empty() ? config.backend() : config.platform());
  for (const auto& entry : repository.Index()) {
    if (entry.name != name) continue;
    for (const auto& v : entry.versions) {
      if (v.state == ModelState::kReady) response->add_versions(std::to_string(v.version));
    }
  }
  FillTensorMetadata(config, config.input(), response->mutable_inputs());
  FillTensorMetadata(config, config.output(), response->mutable_outputs());
  return Status::Ok();
}

Status FillModelStatistics(const ModelRepository& repository, const std::string& name, int64_t version,
                           inference::ModelStatisticsResponse* response) {
  if (!name.empty()) {
    if (!IsValidModelName(name)) return InvalidArgument("invalid model name '" + name + "'");
    RETURN_IF_ERROR(repository.Config(name).status());
  }
  for (const auto& model : repository.ReadyVersions()) {
    if (!name.empty() && (model->name() != name || (version != 0 && model->version() != version))) continue;
    const InferStats& s = model->stats();
    auto* out = response->add_model_stats();
    out->set_name(model->name());
    out->set_version(std::to_string(model->version()));
    out->set_last_inference(s.last_inference_ms.load());
    out->set_inference_count(s.inference_count.load());
    out->set_execution_count(s.execution_count.load());
    auto* infer = out->mutable_inference_stats();
    const uint64_t ok = s.success_count.load();
    FillDuration(ok, s.success_ns.load(), infer->mutable_success());
    FillDuration(s.fail_count.load(), s.fail_ns.load(), infer->mutable_fail());
    FillDuration(ok, s.queue_ns.load(), infer->mutable_queue());
    FillDuration(ok, s.compute_input_ns.load(), infer->mutable_compute_input());
    FillDuration(ok, s.compute_ns.load(), infer->mutable_compute_infer());
    FillDuration(ok, s.compute_output_ns.load(), infer->mutable_compute_output());
    MutexLock lock(s.batch_mu);
    for (const auto& [size, bucket] : s.by_batch_size) {
      auto* b = out->add_batch_stats();
      b->set_batch_size(size);
      FillDuration(bucket.count, bucket.compute_ns, b->mutable_compute_infer());
    }
  }
  if (!name.empty() && response->model_stats_size() == 0) {
    return version != 0 ? repository.Get(name, version).status()
                        : Unavailable("model '" + name + "' has no ready version");
  }
  return Status::Ok();
}

void FillRepositoryIndex(const ModelRepository& repository, bool ready_only,
                         inference::RepositoryIndexResponse* response) {
  for (const auto& entry : repository.Index()) {
    if (entry.versions.empty() && !ready_only) {
      auto* m = response->add_models();
      m->set_name(entry.name);
      m->set_state("UNAVAILABLE");
      m->set_reason(entry.reason);
    }
    for (const auto& v : entry.versions) {
      if (ready_only && v.state != ModelState::kReady) continue;
      auto* m = response->add_models();
      m->set_name(entry.name);
      m->set_version(std::to_string(v.version));
      m->set_state(ModelStateName(v.state));
      m->set_reason(v.reason);
    }
  }
}

}  // namespace protoserve
