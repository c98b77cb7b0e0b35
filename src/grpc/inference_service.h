// The KServe v2 / Open Inference Protocol gRPC service
// (inference.GRPCInferenceService) with Triton's repository, config and
// statistics extensions. A translation layer only: decoding and encoding
// live in kserve_codec, models and scheduling in the core.
#pragma once

#include "core/inference_server.h"
#include "grpc/grpc_server.h"
#include "inference.pb.h"

namespace protoserve {

class InferenceService final : public GrpcService {
 public:
  // `server` must outlive the service.
  explicit InferenceService(const InferenceServer* server) : server_(server) {}

  // Every method of inference.GRPCInferenceService. RepositoryModelLoad and
  // RepositoryModelUnload run on a thread of their own (they wait for the load).
  void Register(CqEngine* engine) override;

 private:
  // Decodes, validates and queues `request`; `done` is called exactly once
  // (possibly before this returns) after `response` is filled. `request`
  // must stay alive until then (inputs are views into it). `trailers`: a
  // unary call, whose trailers carry the trace ids when traced.
  void StartInfer(const inference::ModelInferRequest& request, grpc::ServerContext* context,
                  inference::ModelInferResponse* response, std::function<void(Status)> done,
                  bool trailers = false) const;
  void ModelStreamInfer(grpc::ServerContext* context, std::unique_ptr<inference::ModelInferRequest> request,
                        std::function<void(inference::ModelStreamInferResponse)> done) const;

  const InferenceServer* const server_;
};

}  // namespace protoserve
