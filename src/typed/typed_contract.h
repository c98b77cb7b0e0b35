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
// The request fields that choose the answering model and version (empty / 0: the server's choice).
inline constexpr char kModelNameParameter[] = "typed.model_name";
inline constexpr char kModelVersionParameter[] = "typed.model_version";
inline constexpr char kReplyPrefix[] = "typed.reply.";  // + model_name | model_version | request_id: a response field
// A bidi-streaming method of the same service and message types, answered message by message.
inline constexpr char kStreamMethodParameter[] = "typed.stream_method";
// A string response field holding "CODE: message" when one streamed message failed.
inline constexpr char kErrorFieldParameter[] = "typed.error_field";
// "field" (default): errors read "field 'f' ..."; "prefix": "f: ..." (the Recommender's documented style).
inline constexpr char kErrorStyleParameter[] = "typed.error_style";

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
  // top_k: a repeated string request field whose labels are never returned.
  const google::protobuf::FieldDescriptor* exclude_field = nullptr;
  // top_k `items`: the answer is a ranked list of items, ranked by the core
  // (core/recommender.h: logged for feedback, compared by top-k overlap in a shadow).
  bool items = false;
  std::vector<std::string> labels;  // inline labels=...; else the output's label file
  double threshold = 0.5;
  bool below = false;  // threshold: true when value < threshold (else value >= threshold)
};

struct OutputPlan {
  std::string tensor;
  int index = -1;  // in the config's outputs
  std::vector<OutputStep> steps;
};

// What Encode writes besides the output tensors: the reply fields and a
// ranking the core made (top_k `items`).
struct Answer {
  std::string_view model_name;
  int64_t model_version = 0;
  std::string_view request_id;
  const RankedItems* items = nullptr;
};

// The model a request asks for through the contract's selector fields.
struct ModelChoice {
  std::string name;     // empty: the server's choice
  int64_t version = 0;  // 0: the server's choice
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
  // typed.stream_method (null when none): served by a compiled service only.
  const google::protobuf::MethodDescriptor* stream_method() const { return stream_method_; }
  // True for the unary method's path and, when declared, the stream method's.
  bool Serves(std::string_view method_path) const {
    return method_path == method_path_ || (!stream_method_path_.empty() && method_path == stream_method_path_);
  }
  // The method's service is compiled into the server with identical
  // descriptors: the contract then reads and writes the generated messages
  // (MessageFactory::generated_factory()), and the generated service serves it.
  bool compiled() const { return compiled_; }
  // The descriptors: the contract's own, or the generated pool for a
  // compiled contract that names no .proto (typed.proto omitted).
  const google::protobuf::DescriptorPool* pool() const {
    return importer_ ? importer_->pool() : google::protobuf::DescriptorPool::generated_pool();
  }
  // The .proto files the contract was loaded from (relative to the model folder).
  const std::vector<std::string>& proto_files() const { return proto_files_; }

  // New, empty messages of the method's types (on `arena` when not null).
  google::protobuf::Message* NewRequest(google::protobuf::Arena* arena) const;
  google::protobuf::Message* NewResponse(google::protobuf::Arena* arena) const;

  // The model and version the request names (typed.model_name / typed.model_version).
  ModelChoice Choice(const google::protobuf::Message& request) const;
  // Name of the typed.model_name field ("" when none), for errors.
  std::string model_name_field() const { return model_name_field_ ? model_name_field_->name() : std::string(); }

  // Request message -> input tensors (owned copies). INVALID_ARGUMENT naming
  // the field for a field that is not set or a repeated field of the wrong
  // length, or a k out of range. String hashes are checked first, then k,
  // then the other inputs.
  Status Decode(const google::protobuf::Message& request, DecodedRequest* out) const;
  // Output tensors (first row) -> response fields, with the reply fields.
  // `result.model` gives the label files.
  Status Encode(const google::protobuf::Message& request, const InferResult& result,
                google::protobuf::Message* out) const;
  // The same with the labels of output `index` from `labels` (tests).
  using Labels = std::function<const std::vector<std::string>&(int index)>;
  Status Encode(const google::protobuf::Message& request, const InferenceResponse& response, bool batched,
                const Labels& labels, google::protobuf::Message* out, const Answer& answer = {}) const;
  // Writes "CODE: message" into typed.error_field; false when the contract has none.
  bool SetError(const Status& status, google::protobuf::Message* out) const;

  const std::vector<InputPlan>& inputs() const { return inputs_; }
  const std::vector<OutputPlan>& outputs() const { return outputs_; }

 private:
  TypedContract() = default;
  Status Plan(const ModelConfig& config);
  Status PlanSelectionAndReplies(const ModelConfig& config);
  // Uses the generated descriptors when the service is compiled in identically.
  void UseCompiledService();
  // k of a top_k step (its k field, else default_k), checked against max_k.
  StatusOr<int64_t> RequestedK(const google::protobuf::Message& request, const OutputStep& step) const;
  // The string a hash() input hashes, checked (1 to kMaxUserIdBytes bytes).
  StatusOr<const std::string*> HashedString(const google::protobuf::Message& request, const InputPlan& plan) const;

  std::unique_ptr<google::protobuf::compiler::DiskSourceTree> source_tree_;
  std::unique_ptr<google::protobuf::compiler::MultiFileErrorCollector> errors_;
  std::unique_ptr<google::protobuf::compiler::Importer> importer_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
  std::vector<std::string> proto_files_;
  const google::protobuf::MethodDescriptor* method_ = nullptr;
  const google::protobuf::Message* request_prototype_ = nullptr;
  const google::protobuf::Message* response_prototype_ = nullptr;
  std::string method_path_;
  std::string stream_method_path_;  // "/package.Service/Method" of stream_method_, if any
  std::vector<InputPlan> inputs_;
  std::vector<OutputPlan> outputs_;
  std::vector<std::string> requested_outputs_;
  const google::protobuf::FieldDescriptor* routing_key_ = nullptr;
  const google::protobuf::MethodDescriptor* stream_method_ = nullptr;
  bool compiled_ = false;
  bool prefix_errors_ = false;
  const google::protobuf::FieldDescriptor* model_name_field_ = nullptr;
  const google::protobuf::FieldDescriptor* model_version_field_ = nullptr;
  const google::protobuf::FieldDescriptor* reply_model_name_ = nullptr;
  const google::protobuf::FieldDescriptor* reply_model_version_ = nullptr;
  const google::protobuf::FieldDescriptor* reply_request_id_ = nullptr;
  const google::protobuf::FieldDescriptor* error_field_ = nullptr;
  const OutputStep* items_step_ = nullptr;  // the top_k `items` step (its output's only step), if any
};

// The contract of `model`, or null when it has none (or not a typed one).
std::shared_ptr<const TypedContract> ContractOf(const ModelVersion& model);

}  // namespace typed
}  // namespace protoserve
