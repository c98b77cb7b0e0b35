// TypedContract: a model's own typed API, loaded at run time from the .proto
// files in its repository folder and the `typed.*` parameters of its
// config.pbtxt (docs/typed-apis.md), with no code generation.
//
// Load() parses the .proto files with protobuf's compiler library
// (Importer over a DiskSourceTree rooted at the model folder) into a
// descriptor pool owned by the contract, finds the service method, and
// compiles the mapping into a plan checked against the config's inputs and
// outputs: any disagreement is a load error naming the field and the
// tensor. The plan then works on any google::protobuf::Message of the
// method's request/response types through Reflection (dynamic messages here;
// generated ones would do as well):
//
//   request fields  --Decode-->  named input tensors   (dtype/shape checked)
//   output tensors  --Encode-->  response fields       (copy, top_k, argmax, threshold)
//
// One contract per model version (core/model_contract.h): it is loaded with
// the version and freed with it. Protobuf only: no gRPC, no HTTP.
//
// Thread-safety: immutable after Load(); every const method may be called
// concurrently.
#pragma once

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/dynamic_message.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/inference_server.h"
#include "core/model_config.h"
#include "core/model_contract.h"
#include "core/status.h"

namespace protoserve {

class ModelVersion;

namespace typed {

// The config parameters (values are strings, as every Triton parameter).
inline constexpr char kProtoParameter[] = "typed.proto";    // .proto paths in the model folder, comma-separated
inline constexpr char kMethodParameter[] = "typed.method";  // "package.Service/Method"
inline constexpr char kInputPrefix[] = "typed.input.";      // + tensor name: the request fields that fill it
inline constexpr char kOutputPrefix[] = "typed.output.";    // + tensor name: the steps that write the response
inline constexpr char kRoutingKeyParameter[] = "typed.routing_key";  // a string request field: sticky splits

// A field path through singular messages, e.g. "vitals.heart_rate".
struct FieldPath {
  std::vector<const google::protobuf::FieldDescriptor*> fields;  // the last one holds the value
  std::string name;                                             // as written, for errors
  const google::protobuf::FieldDescriptor* leaf() const { return fields.back(); }
};

// Where one input tensor's elements come from, in order.
struct InputPlan {
  std::string tensor;
  DataType dtype = DataType::kInvalid;
  Shape shape;              // with the batch dimension when the model batches
  int64_t elements = -1;    // fixed count, or -1 (one variable dim)
  int variable_dim = -1;    // index in `shape` of the variable dim, if any
  bool user_hash = false;   // hash(field): FNV-1a 64 & 2^63-1 of one string field
  std::vector<FieldPath> fields;
};

// A response target: a top-level field, or `message.field` where `message`
// is a repeated message field of the response (one element per rank).
struct Target {
  const google::protobuf::FieldDescriptor* repeated_message = nullptr;  // set for `message.field`
  const google::protobuf::FieldDescriptor* field = nullptr;
  std::string name;
};

struct OutputStep {
  enum Kind { kCopy, kTopK, kArgmax, kThreshold } kind = kCopy;
  Target to;            // copy, threshold
  Target label, score;  // top_k, argmax (label may be absent for argmax / top_k: scores only)
  bool softmax = false; // the output holds logits: probabilities are their softmax
  bool binary = false;  // one value, P(class 1); class 0 has 1 - p
  int32_t default_k = 1, max_k = 1000;
  const google::protobuf::FieldDescriptor* k_field = nullptr;  // request field giving k (0: default_k)
  std::vector<std::string> labels;  // inline labels=...; else the output's label file
  double threshold = 0.5;
  bool below = false;  // threshold: true when value < threshold (else value >= threshold)
};

struct OutputPlan {
  std::string tensor;
  int index = -1;  // in the config's outputs
  std::vector<OutputStep> steps;
};

class TypedContract : public ModelContract {
 public:
  // Null (and OK) when the config has no typed.method parameter.
  static StatusOr<std::shared_ptr<const TypedContract>> Load(const ModelConfig& config,
                                                             const std::filesystem::path& model_dir);
  // For ModelRepository::set_contract_loader.
  static ContractLoader Loader();

  // "/package.Service/Method", as on the gRPC wire.
  const std::string& method_path() const { return method_path_; }
  const google::protobuf::MethodDescriptor* method() const { return method_; }
  const google::protobuf::DescriptorPool* pool() const { return importer_->pool(); }
  // The .proto files the contract was loaded from (relative to the model folder).
  const std::vector<std::string>& proto_files() const { return proto_files_; }

  // New, empty messages of the method's types (on `arena` when not null).
  google::protobuf::Message* NewRequest(google::protobuf::Arena* arena) const;
  google::protobuf::Message* NewResponse(google::protobuf::Arena* arena) const;

  // Request message -> input tensors (owned copies). INVALID_ARGUMENT naming
  // the field for a field that is not set or a repeated field of the wrong length.
  Status Decode(const google::protobuf::Message& request, DecodedRequest* out) const;
  // Output tensors (first row) -> response fields. `model` gives the label files.
  Status Encode(const google::protobuf::Message& request, const InferenceResponse& response,
                const ModelVersion& model, google::protobuf::Message* out) const;
  // The same with the labels of output `index` from `labels` (tests).
  using Labels = std::function<const std::vector<std::string>&(int index)>;
  Status Encode(const google::protobuf::Message& request, const InferenceResponse& response, bool batched,
                const Labels& labels, google::protobuf::Message* out) const;

  const std::vector<InputPlan>& inputs() const { return inputs_; }
  const std::vector<OutputPlan>& outputs() const { return outputs_; }

 private:
  TypedContract() = default;
  Status Plan(const ModelConfig& config);

  std::unique_ptr<google::protobuf::compiler::DiskSourceTree> source_tree_;
  std::unique_ptr<google::protobuf::compiler::MultiFileErrorCollector> errors_;
  std::unique_ptr<google::protobuf::compiler::Importer> importer_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
  std::vector<std::string> proto_files_;
  const google::protobuf::MethodDescriptor* method_ = nullptr;
  const google::protobuf::Message* request_prototype_ = nullptr;
  const google::protobuf::Message* response_prototype_ = nullptr;
  std::string method_path_;
  std::vector<InputPlan> inputs_;
  std::vector<OutputPlan> outputs_;
  std::vector<std::string> requested_outputs_;
  const google::protobuf::FieldDescriptor* routing_key_ = nullptr;
};

// The contract of `model`, or null when it has none (or not a typed one).
std::shared_ptr<const TypedContract> ContractOf(const ModelVersion& model);

}  // namespace typed
}  // namespace protoserve
