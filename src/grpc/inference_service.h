// The KServe v2 / Open Inference Protocol gRPC service
// (inference.GRPCInferenceService) with Triton's repository, config and
// statistics extensions. A translation layer only: decoding and encoding
// live in kserve_codec, models and scheduling in the core.
#pragma once

#include <atomic>

#include "core/metrics.h"
#include "core/model_repository.h"
#include "grpc/arena_allocator.h"
#include "inference.grpc.pb.h"

namespace protoserve {

class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  InferenceService(ModelRepository* repository, Metrics* metrics) : repository_(repository), metrics_(metrics) {
    SetMessageAllocatorFor_ModelInfer(&infer_allocator_);
  }

  // ServerReady is false until the initial load finished and after shutdown began.
  void set_ready(bool ready) { ready_.store(ready); }
  // RepositoryModelLoad/Unload work only in explicit model control mode.
  void set_explicit_control(bool enabled) { explicit_control_ = enabled; }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext*, const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse*) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext*, const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse*) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext*, const inference::ModelReadyRequest*,
                                       inference::ModelReadyResponse*) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext*, const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse*) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext*, const inference::ModelMetadataRequest*,
                                          inference::ModelMetadataResponse*) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext*, const inference::ModelInferRequest*,
                                       inference::ModelInferResponse*) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>* ModelStreamInfer(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext*, const inference::ModelConfigRequest*,
                                        inference::ModelConfigResponse*) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext*, const inference::ModelStatisticsRequest*,
                                            inference::ModelStatisticsResponse*) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext*, const inference::RepositoryIndexRequest*,
                                            inference::RepositoryIndexResponse*) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(grpc::CallbackServerContext*,
                                                const inference::RepositoryModelLoadRequest*,
                                                inference::RepositoryModelLoadResponse*) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(grpc::CallbackServerContext*,
                                                  const inference::RepositoryModelUnloadRequest*,
                                                  inference::RepositoryModelUnloadResponse*) override;

 private:
  // Decodes, validates and queues `request`; `done` is called exactly once
  // (possibly before this returns) after `response` is filled. `request`
  // must stay alive until then (inputs are views into it).
  void StartInfer(const inference::ModelInferRequest& request, grpc::CallbackServerContext* context,
                  inference::ModelInferResponse* response, std::function<void(Status)> done);

  ModelRepository* const repository_;
  Metrics* const metrics_;  // may be null
  std::atomic<bool> ready_{false};
  bool explicit_control_ = false;  // set before the server starts
  // Raw tensors larger than the first block get arena blocks of their own.
  ArenaMessageAllocator<inference::ModelInferRequest, inference::ModelInferResponse, 4096> infer_allocator_;
};

// Metadata of a model (shared by gRPC and REST so both say the same).
// Name, version and the KServe extensions this server implements.
void FillServerMetadata(inference::ServerMetadataResponse* response);
Status FillModelMetadata(const ModelRepository& repository, const std::string& name, int64_t version,
                         inference::ModelMetadataResponse* response);
Status FillModelStatistics(const ModelRepository& repository, const std::string& name, int64_t version,
                           inference::ModelStatisticsResponse* response);
void FillRepositoryIndex(const ModelRepository& repository, bool ready_only, inference::RepositoryIndexResponse* response);

}  // namespace protoserve
