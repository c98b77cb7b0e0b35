// Translation between KServe v2 ModelInferRequest/Response messages and the
// core's InferenceRequest/Response. Used by the gRPC inference service (and
// its stream), and by the fuzz target for request decoding.
//
// Input tensors are views into the request message (raw_input_contents and
// the fixed-width typed contents are not copied), so the message must outlive
// the core request, which holds for a gRPC call until it is finished.
// Responses use raw_output_contents when the request sent raw inputs, typed
// contents otherwise.
#pragma once

#include <string>
#include <vector>

#include "core/inference.h"
#include "core/inference_server.h"
#include "core/model_version.h"
#include "inference.pb.h"

namespace protoserve {

struct RequestedOutput {
  std::string name;
  int64_t classification = 0;  // > 0: classification extension with this K
};

struct DecodedInferRequest {
  std::string model_name;
  int64_t model_version = 0;  // 0: server's choice
  std::string id;
  std::string routing_key;  // request parameter "routing_key": sticky traffic splits
  InferenceRequest request;
  std::vector<RequestedOutput> outputs;  // empty: all outputs, as scores
  bool raw_output = false;
};

StatusOr<DecodedInferRequest> DecodeInferRequest(const inference::ModelInferRequest& message);

// Fills `message` from a completed request (classification applied here).
Status EncodeInferResponse(const DecodedInferRequest& request, const ModelVersion& model,
                           const InferenceResponse& response, inference::ModelInferResponse* message);

// DecodeInferRequest for InferenceServer::Infer: the core request (its inputs
// views into `message`), with `kept` holding what encoding needs afterwards.
StatusOr<DecodedRequest> DecodeForServer(const inference::ModelInferRequest& message, DecodedInferRequest* kept);
// EncodeInferResponse of a facade result, with the request id echoed.
Status EncodeInferResult(const DecodedInferRequest& request, const InferResult& result,
                         inference::ModelInferResponse* message);

}  // namespace protoserve
