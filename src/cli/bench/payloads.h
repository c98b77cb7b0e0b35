// Request payloads for the load generator, built once before a run.
//
// Recommend modes send RecommendationRequest messages (gRPC) or their JSON
// twin {"user_id","features","top_k",...} (REST). Infer modes send an
// InferPayload as a ModelInferRequest with raw_input_contents (gRPC) or as
// KServe v2 JSON {"inputs":[{"name","shape","datatype","data"}]} (REST); or,
// with input_tensor_format, as typed contents (gRPC) or with the binary
// tensor extension (REST).
//
// Sources, in order of precedence:
//  * a request file (--request): one request, sent repeatedly;
//  * a samples file (--data, recommend only): a JSON list of
//    {"user_id", "features"} objects, e.g. build/data/recommender_samples.json;
//  * generated: recommend -> 1024 requests with user ids "user_%05d" drawn
//    uniformly from 20000 and `payload_floats` uniform random features
//    normalised to sum to 1; infer -> random inputs shaped by the model's
//    metadata (a leading -1 dim is the batch: `batch`; other -1 dims are 1),
//    up to 64 distinct requests (fewer when large: ~16 MB in all).
// Generation is deterministic for a given seed. All functions throw
// std::runtime_error with a message naming the problem.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inference.pb.h"
#include "recommender.pb.h"

namespace protoserve::cli::bench {

struct PayloadOptions {
  std::string request_file;
  std::string data_file;
  std::string model;          // model_name (recommend: empty = server default)
  std::string model_version;  // "" = latest
  int batch = 1;
  int payload_floats = 32;
  int top_k = 0;  // 0 = server default
  uint64_t seed = 42;
  // How infer inputs travel: "binary" (gRPC raw_input_contents; REST the
  // binary tensor extension), "typed" (gRPC InferTensorContents, e.g.
  // fp32_contents), "json" (REST "data" arrays); empty: the mode's default,
  // raw on gRPC and JSON on REST.
  std::string input_tensor_format;
};

std::vector<RecommendationRequest> MakeRecommendRequests(const PayloadOptions& options);
std::string RecommendToJson(const RecommendationRequest& request);

struct TensorSpec {
  std::string name;
  std::string datatype;  // KServe name: "FP32", "INT64", "BYTES", ...
  std::vector<int64_t> shape;
};

struct InferInput {
  TensorSpec spec;  // concrete shape
  std::string raw;  // little-endian values; BYTES: 4-byte length + bytes each
};

struct InferPayload {
  std::vector<InferInput> inputs;
  std::vector<std::string> outputs;  // requested output names; empty = all
};

// Input specs from ModelMetadata, as a gRPC message or as REST JSON text.
std::vector<TensorSpec> InputSpecs(const inference::ModelMetadataResponse& metadata);
std::vector<TensorSpec> InputSpecsFromJson(const std::string& metadata_json);

// The payloads to send: from options.request_file when set, else generated
// from `specs`.
std::vector<InferPayload> MakeInferPayloads(const PayloadOptions& options, const std::vector<TensorSpec>& specs);
// Parses KServe v2 JSON {"inputs":[...], "outputs":[{"name"}]}.
InferPayload InferPayloadFromJson(const std::string& text);

// raw_input_contents, or the typed contents fields when
// options.input_tensor_format is "typed" (FP16/BF16 have none: throws).
inference::ModelInferRequest ToModelInferRequest(const InferPayload& payload, const PayloadOptions& options);
std::string InferToJson(const InferPayload& payload);
// The KServe binary tensor extension: the JSON (inputs with parameter
// "binary_data_size", no "data"), then every input's raw bytes in order;
// `json_size` receives the JSON's length, for Inference-Header-Content-Length.
std::string InferToBinary(const InferPayload& payload, size_t* json_size);

// The elements of a BYTES tensor's raw form (each a 4-byte little-endian length + bytes);
// a last element shorter than its length prefix ends where `raw` ends.
std::vector<std::string> BytesElements(const std::string& raw);

}  // namespace protoserve::cli::bench
