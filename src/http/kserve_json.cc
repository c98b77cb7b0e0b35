#include "http/kserve_json.h"

#include <cstring>

#include "http/json.h"
#include "http/tensor_json.h"

namespace protoserve {

namespace {

using rapidjson::Value;

// Member `key` of `object` (an object), or null when absent.
const Value* Member(const Value& object, const char* key) {
  auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

std::string ToString(const Value& value) { return std::string(value.GetString(), value.GetStringLength()); }

// The raw tensor bytes after the JSON header, consumed in input order.
struct BinarySection {
  const std::shared_ptr<const std::string>& body;
  bool present;  // the request had Inference-Header-Content-Length
  size_t begin;  // where the binary section starts (the JSON's size)
  size_t offset;  // next unread byte
};

// A view of `size` bytes at the section's offset; copied instead when the
// bytes are misaligned for the dtype (the section starts wherever the JSON
// ends), so that backends can read elements in place.
Tensor TakeBinary(BinarySection* section, DataType dtype, Shape shape, size_t size) {
  const char* data = section->body->data() + section->offset;
  section->offset += size;
  const size_t alignment = dtype == DataType::kBytes ? 1 : DataTypeSize(dtype);
  if (alignment > 1 && reinterpret_cast<uintptr_t>(data) % alignment != 0) {
    Tensor copy = Tensor::Allocate(dtype, std::move(shape), size);
    std::memcpy(copy.mutable_data(), data, size);
    return copy;
  }
  return Tensor::View(dtype, std::move(shape), data, size, section->body);
}

StatusOr<NamedTensor> DecodeInput(const Value& input, size_t index, BinarySection* binary) {
  const std::string where = "inputs[" + std::to_string(index) + "]";
  if (!input.IsObject()) return InvalidArgument(where + " must be an object, got " + json::TypeName(input));
  const Value* name = Member(input, "name");
  if (!name || !name->IsString() || name->GetStringLength() == 0) {
    return InvalidArgument(where + ".name must be a non-empty string");
  }
  NamedTensor out{ToString(*name), Tensor()};
  const std::string prefix = "input '" + out.name + "': ";

  const Value* datatype = Member(input, "datatype");
  if (!datatype || !datatype->IsString()) return InvalidArgument(prefix + "datatype must be a string");
  const DataType dtype = DataTypeFromName(ToString(*datatype));
  if (dtype == DataType::kInvalid) return InvalidArgument(prefix + "unknown datatype '" + ToString(*datatype) + "'");

  const Value* shape_value = Member(input, "shape");
  if (!shape_value || !shape_value->IsArray()) return InvalidArgument(prefix + "shape must be an array of integers");
  if (Status rank = CheckRank(shape_value->Size()); !rank.ok()) return InvalidArgument(prefix + rank.message());
  Shape shape;
  for (const Value& dim : shape_value->GetArray()) {
    if (!dim.IsInt64()) return InvalidArgument(prefix + "shape must be an array of integers");
    shape.push_back(dim.GetInt64());
  }
  auto elements = ElementCount(shape);
  if (!elements.ok()) return InvalidArgument(prefix + elements.status().message());

  std::optional<uint64_t> binary_size;
  if (const Value* parameters = Member(input, "parameters")) {
    if (!parameters->IsObject()) return InvalidArgument(prefix + "parameters must be an object");
    if (Member(*parameters, "shared_memory_region")) {
      return InvalidArgument(prefix + "shared memory is not supported; send the tensor in the request");
    }
    if (const Value* size = Member(*parameters, "binary_data_size")) {
      if (!size->IsUint64()) return InvalidArgument(prefix + "binary_data_size must be a non-negative integer");
      binary_size = size->GetUint64();
    }
  }
  const Value* data = Member(input, "data");
  if (binary_size) {
    if (data) return InvalidArgument(prefix + "both data and binary_data_size given");
    if (!binary->present) {
      return InvalidArgument(prefix +
                             "binary_data_size given, but the request has no Inference-Header-Content-Length header");
    }
    const size_t left = binary->body->size() - binary->offset;
    if (*binary_size > left) {
      return InvalidArgument(prefix + "binary_data_size " + std::to_string(*binary_size) + " exceeds the " +
                             std::to_string(left) + " bytes of binary data left");
    }
    out.tensor = TakeBinary(binary, dtype, std::move(shape), *binary_size);
    return out;
  }
  if (!data) return InvalidArgument(prefix + "data is required (or binary data with parameter binary_data_size)");
  ASSIGN_OR_RETURN(out.tensor, TensorFromJson(out.name, dtype, std::move(shape), *data));
  return out;
}

StatusOr<RestRequestedOutput> DecodeOutput(const Value& output, size_t index) {
  const std::string where = "outputs[" + std::to_string(index) + "]";
  if (!output.IsObject()) return InvalidArgument(where + " must be an object, got " + json::TypeName(output));
  const Value* name = Member(output, "name");
  if (!name || !name->IsString() || name->GetStringLength() == 0) {
    return InvalidArgument(where + ".name must be a non-empty string");
  }
  RestRequestedOutput out{ToString(*name), 0, std::nullopt};
  const std::string prefix = "output '" + out.name + "': ";
  const Value* parameters = Member(output, "parameters");
  if (!parameters) return out;
  if (!parameters->IsObject()) return InvalidArgument(prefix + "parameters must be an object");
  if (const Value* k = Member(*parameters, "classification")) {
    if (!k->IsInt64() || k->GetInt64() < 1 || k->GetInt64() > kMaxClassificationCount) {
      return InvalidArgument(prefix + "classification must be an integer in [1, " +
                             std::to_string(kMaxClassificationCount) + "]");
    }
    out.classification = k->GetInt64();
  }
  if (const Value* binary = Member(*parameters, "binary_data")) {
    if (!binary->IsBool()) return InvalidArgument(prefix + "binary_data must be true or false");
    out.binary = binary->GetBool();
  }
  return out;
}

}  // namespace

bool RestInferRequest::WantsBinary(const std::string& name) const {
  for (const RestRequestedOutput& output : outputs) {
    if (output.name == name && output.binary) return *output.binary;
  }
  return binary_output;
}

int64_t RestInferRequest::Classification(const std::string& name) const {
  for (const RestRequestedOutput& output : outputs) {
    if (output.name == name) return output.classification;
  }
  return 0;
}

StatusOr<RestInferRequest> DecodeRestInferRequest(std::shared_ptr<const std::string> body,
                                                  std::optional<size_t> json_size) {
  if (json_size && *json_size > body->size()) {
    return InvalidArgument("Inference-Header-Content-Length " + std::to_string(*json_size) + " exceeds the body's " +
                           std::to_string(body->size()) + " bytes");
  }
  const size_t header_size = json_size.value_or(body->size());
  rapidjson::Document document;
  RETURN_IF_ERROR(json::Parse(std::string_view(body->data(), header_size), &document));
  if (!document.IsObject()) {
    return InvalidArgument("the request must be a JSON object, got " + std::string(json::TypeName(document)));
  }

  RestInferRequest out;
  out.request.api = Api::kHttp;
  if (const Value* id = Member(document, "id")) {
    if (!id->IsString()) return InvalidArgument("id must be a string");
    out.id = ToString(*id);
  }
  if (const Value* parameters = Member(document, "parameters")) {
    if (!parameters->IsObject()) return InvalidArgument("parameters must be an object");
    if (const Value* binary = Member(*parameters, "binary_data_output")) {
      if (!binary->IsBool()) return InvalidArgument("parameters.binary_data_output must be true or false");
      out.binary_output = binary->GetBool();
    }
    if (const Value* key = Member(*parameters, "routing_key")) {
      if (key->IsString()) {
        out.routing_key = ToString(*key);
      } else if (key->IsInt64()) {
        out.routing_key = std::to_string(key->GetInt64());  // as over gRPC (int64_param)
      } else {
        return InvalidArgument("parameters.routing_key must be a string or an integer");
      }
    }
    if (const Value* timeout = Member(*parameters, "timeout")) {
      if (!timeout->IsInt64() || timeout->GetInt64() < 0) {
        return InvalidArgument("parameters.timeout must be a non-negative integer (microseconds)");
      }
      out.timeout_us = timeout->GetInt64();
    }
  }
  const Value* inputs = Member(document, "inputs");
  if (!inputs || !inputs->IsArray()) return InvalidArgument("inputs must be an array");
  if (inputs->Empty()) return InvalidArgument("at least one input is required");
  BinarySection binary{body, json_size.has_value(), header_size, header_size};
  for (rapidjson::SizeType i = 0; i < inputs->Size(); ++i) {
    ASSIGN_OR_RETURN(NamedTensor input, DecodeInput((*inputs)[i], i, &binary));
    out.request.inputs.push_back(std::move(input));
  }
  if (binary.offset != body->size()) {
    return InvalidArgument(std::to_string(body->size() - binary.begin) +
                           " bytes of binary data follow the JSON, but the inputs' binary_data_size add up to " +
                           std::to_string(binary.offset - binary.begin));
  }
  if (const Value* outputs = Member(document, "outputs")) {
    if (!outputs->IsArray()) return InvalidArgument("outputs must be an array");
    for (rapidjson::SizeType i = 0; i < outputs->Size(); ++i) {
      ASSIGN_OR_RETURN(RestRequestedOutput output, DecodeOutput((*outputs)[i], i));
      out.request.requested_outputs.push_back(output.name);
      out.outputs.push_back(std::move(output));
    }
  }
  return out;
}

StatusOr<RestInferResponse> EncodeRestInferResponse(const std::string& model_name, int64_t model_version,
                                                    const RestInferRequest& request,
                                                    const std::vector<NamedTensor>& outputs) {
  RestInferResponse out;
  json::StringSink sink(&out.body);
  json::Writer writer(sink);
  std::vector<const Tensor*> binary;
  writer.StartObject();
  writer.Key("model_name");
  json::WriteString(writer, model_name);
  writer.Key("model_version");
  json::WriteString(writer, std::to_string(model_version));
  if (!request.id.empty()) {
    writer.Key("id");
    json::WriteString(writer, request.id);
  }
  writer.Key("outputs");
  writer.StartArray();
  for (const NamedTensor& output : outputs) {
    writer.StartObject();
    writer.Key("name");
    json::WriteString(writer, output.name);
    writer.Key("datatype");
    json::WriteString(writer, DataTypeName(output.tensor.dtype()));
    writer.Key("shape");
    writer.StartArray();
    for (int64_t dim : output.tensor.shape()) writer.Int64(dim);
    writer.EndArray();
    if (request.WantsBinary(output.name)) {
      writer.Key("parameters");
      writer.StartObject();
      writer.Key("binary_data_size");
      writer.Uint64(output.tensor.byte_size());
      writer.EndObject();
      binary.push_back(&output.tensor);
    } else {
      writer.Key("data");
      RETURN_IF_ERROR(WriteTensorJson(output.name, output.tensor, writer));
    }
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  if (!binary.empty()) {
    out.json_size = out.body.size();
    size_t total = out.body.size();
    for (const Tensor* tensor : binary) total += tensor->byte_size();
    out.body.reserve(total);
    for (const Tensor* tensor : binary) out.body.append(tensor->data(), tensor->byte_size());
  }
  return out;
}

}  // namespace protoserve
