// The KServe v2 / Open Inference Protocol gRPC service
// (inference.GRPCInferenceService) with Triton's repository, config and
// statistics extensions. A translation layer only: decoding and encoding
// live in kserve_codec, models and scheduling in the core.
#pragma once

#include "core/inference_server.h"
#include "grpc/arena_allocator.h"
#include "inference.grpc.pb.h"

namespace protoserve {

class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  // `server` must outlive the service.
  explicit InferenceService(const InferenceServer* server) : server_(server) {
    SetMessageAllocatorFor_ModelInfer(&infer_allocator_);
  }

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
  // must stay alive until then (inputs are views into it). `trailers`: a
  // unary call, whose trailers carry the trace ids when traced.
  void StartInfer(const inference::ModelInferRequest& request, grpc::CallbackServerContext* context,
                  inference::ModelInferResponse* response, std::function<void(Status)> done,
                  bool trailers = false);

  const InferenceServer* const server_;
  // Raw tensors larger than the first block get arena blocks of their own.
  ArenaMessageAllocator<inference::ModelInferRequest, inference::ModelInferResponse, 4096> infer_allocator_;
};

}  // namespace protoserve
