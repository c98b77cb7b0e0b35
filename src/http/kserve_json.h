// The KServe v2 REST inference body <-> the core's InferenceRequest and
// response tensors, including Triton's binary tensor data extension.
//
// Request body: a JSON object {"id", "parameters", "inputs", "outputs"},
// optionally followed by raw tensor bytes. When the HTTP header
// Inference-Header-Content-Length is present, its value (`json_size`) is the
// size of the JSON; inputs with parameter "binary_data_size" take their
// bytes from what follows, in input order. JSON "data" may be flat or nested
// (row-major); BOOL is true/false, BYTES are strings, FP16 only travels as
// binary data.
//
// Decoding checks only what the wire format itself defines: JSON structure,
// each value's type and range for the declared datatype, and that the number
// of values equals the shape's element count, before allocating anything
// sized by the shape. Everything about the model (input names, datatypes,
// shapes, byte sizes) is checked by the core, the same way for gRPC.
//
// Response: the JSON object, then, for outputs sent as binary, their raw
// bytes in output order; `json_size` is then set (for the header).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/inference.h"

namespace protoserve {

struct RestRequestedOutput {
  std::string name;
  int64_t classification = 0;  // > 0: classification extension with this K
  std::optional<bool> binary;  // "binary_data"; unset: the request's default
};

struct RestInferRequest {
  std::string id;
  InferenceRequest request;  // binary inputs are views into the body
  std::vector<RestRequestedOutput> outputs;  // as listed; empty: every output
  bool binary_output = false;                // request parameter "binary_data_output"
  std::string routing_key;  // request parameter "routing_key": sticky traffic splits
  int64_t timeout_us = 0;   // request parameter "timeout" (Triton), microseconds; 0: none

  // Whether output `name` is returned as binary data.
  bool WantsBinary(const std::string& name) const;
  // The classification K requested for output `name` (0: none).
  int64_t Classification(const std::string& name) const;
};

// The largest K accepted by the classification extension (as over gRPC).
inline constexpr int64_t kMaxClassificationCount = int64_t{1} << 20;

// Decodes a POST .../infer body. Binary inputs keep `body` alive.
StatusOr<RestInferRequest> DecodeRestInferRequest(std::shared_ptr<const std::string> body,
                                                  std::optional<size_t> json_size);

struct RestInferResponse {
  std::string body;                 // JSON, then the binary outputs
  std::optional<size_t> json_size;  // set when binary outputs follow the JSON
};

// Encodes `outputs` (classification already applied). Fails when an output
// cannot be written as JSON (FP16, BYTES that are not UTF-8): the client
// can ask for it as binary data instead.
StatusOr<RestInferResponse> EncodeRestInferResponse(const std::string& model_name, int64_t model_version,
                                                    const RestInferRequest& request,
                                                    const std::vector<NamedTensor>& outputs);

}  // namespace protoserve
