#include "kserve/kserve_codec.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/classification.h"

namespace protoserve {

namespace {

using InputTensor = inference::ModelInferRequest::InferInputTensor;

template <typename T>
Tensor ViewOf(DataType dtype, const Shape& shape, const google::protobuf::RepeatedField<T>& values) {
  return Tensor::View(dtype, shape, values.data(), values.size() * sizeof(T), nullptr);
}

// INT8/INT16/UINT8/UINT16 travel widened in int_contents/uint_contents: a
// value outside the narrow type's range is refused (as REST does), never
// wrapped (300 would otherwise become 44).
template <typename Narrow, typename Wide>
StatusOr<Tensor> NarrowCopy(const InputTensor& input, DataType dtype, const Shape& shape,
                            const google::protobuf::RepeatedField<Wide>& values) {
  Tensor t = Tensor::Allocate(dtype, shape, values.size() * sizeof(Narrow));
  Narrow* out = reinterpret_cast<Narrow*>(t.mutable_data());
  for (int i = 0; i < values.size(); ++i) {
    if (values[i] < std::numeric_limits<Narrow>::min() || values[i] > std::numeric_limits<Narrow>::max()) {
      return InvalidArgument("input '" + input.name() + "': value " + std::to_string(values[i]) + " at index " +
                             std::to_string(i) + " is out of range for " + std::string(DataTypeName(dtype)));
    }
    out[i] = static_cast<Narrow>(values[i]);
  }
  return t;
}

StatusOr<Tensor> FromTypedContents(const InputTensor& input, DataType dtype, const Shape& shape) {
  ASSIGN_OR_RETURN(int64_t elements, ElementCount(shape));
  const auto& c = input.contents();
  int count = 0;
  const char* field = "";
  Tensor tensor;
  switch (dtype) {
    case DataType::kBool: count = c.bool_contents_size(); field = "bool_contents"; tensor = ViewOf(dtype, shape, c.bool_contents()); break;
    case DataType::kInt8: count = c.int_contents_size(); field = "int_contents"; if (count == elements) { ASSIGN_OR_RETURN(tensor, NarrowCopy<int8_t>(input, dtype, shape, c.int_contents())); } break;
    case DataType::kInt16: count = c.int_contents_size(); field = "int_contents"; if (count == elements) { ASSIGN_OR_RETURN(tensor, NarrowCopy<int16_t>(input, dtype, shape, c.int_contents())); } break;
    case DataType::kInt32: count = c.int_contents_size(); field = "int_contents"; tensor = ViewOf(dtype, shape, c.int_contents()); break;
    case DataType::kInt64: count = c.int64_contents_size(); field = "int64_contents"; tensor = ViewOf(dtype, shape, c.int64_contents()); break;
    case DataType::kUint8: count = c.uint_contents_size(); field = "uint_contents"; if (count == elements) { ASSIGN_OR_RETURN(tensor, NarrowCopy<uint8_t>(input, dtype, shape, c.uint_contents())); } break;
    case DataType::kUint16: count = c.uint_contents_size(); field = "uint_contents"; if (count == elements) { ASSIGN_OR_RETURN(tensor, NarrowCopy<uint16_t>(input, dtype, shape, c.uint_contents())); } break;
    case DataType::kUint32: count = c.uint_contents_size(); field = "uint_contents"; tensor = ViewOf(dtype, shape, c.uint_contents()); break;
    case DataType::kUint64: count = c.uint64_contents_size(); field = "uint64_contents"; tensor = ViewOf(dtype, shape, c.uint64_contents()); break;
    case DataType::kFp32: count = c.fp32_contents_size(); field = "fp32_contents"; tensor = ViewOf(dtype, shape, c.fp32_contents()); break;
    case DataType::kFp64: count = c.fp64_contents_size(); field = "fp64_contents"; tensor = ViewOf(dtype, shape, c.fp64_contents()); break;
    case DataType::kBytes: {
      count = c.bytes_contents_size();
      field = "bytes_contents";
      std::string encoded;
      for (const std::string& element : c.bytes_contents()) AppendBytesElement(&encoded, element);
      tensor = Tensor::FromString(dtype, shape, std::move(encoded));
      break;
    }
    default:
      return InvalidArgument("input '" + input.name() + "': " + std::string(DataTypeName(dtype)) +
                             " data must be sent in raw_input_contents");
  }
  if (count != elements) {
    return InvalidArgument("input '" + input.name() + "': " + std::to_string(count) + " values in " + field +
                           ", shape " + ShapeToString(shape) + " needs " + std::to_string(elements));
  }
  return tensor;
}

Status ToTypedContents(const Tensor& t, inference::InferTensorContents* c) {
  const int64_t n = t.element_count();
  switch (t.dtype()) {
    case DataType::kBool: c->mutable_bool_contents()->Add(t.data_as<bool>(), t.data_as<bool>() + n); break;
    case DataType::kInt8: c->mutable_int_contents()->Add(t.data_as<int8_t>(), t.data_as<int8_t>() + n); break;
    case DataType::kInt16: c->mutable_int_contents()->Add(t.data_as<int16_t>(), t.data_as<int16_t>() + n); break;
    case DataType::kInt32: c->mutable_int_contents()->Add(t.data_as<int32_t>(), t.data_as<int32_t>() + n); break;
    case DataType::kInt64: c->mutable_int64_contents()->Add(t.data_as<int64_t>(), t.data_as<int64_t>() + n); break;
    case DataType::kUint8: c->mutable_uint_contents()->Add(t.data_as<uint8_t>(), t.data_as<uint8_t>() + n); break;
    case DataType::kUint16: c->mutable_uint_contents()->Add(t.data_as<uint16_t>(), t.data_as<uint16_t>() + n); break;
    case DataType::kUint32: c->mutable_uint_contents()->Add(t.data_as<uint32_t>(), t.data_as<uint32_t>() + n); break;
    case DataType::kUint64: c->mutable_uint64_contents()->Add(t.data_as<uint64_t>(), t.data_as<uint64_t>() + n); break;
    case DataType::kFp32: c->mutable_fp32_contents()->Add(t.data_as<float>(), t.data_as<float>() + n); break;
    case DataType::kFp64: c->mutable_fp64_contents()->Add(t.data_as<double>(), t.data_as<double>() + n); break;
    case DataType::kBytes: {
      ASSIGN_OR_RETURN(auto elements, DecodeBytesElements(t.data(), t.byte_size(), std::nullopt));
      for (std::string_view e : elements) c->add_bytes_contents(std::string(e));
      break;
    }
    default:
      return InvalidArgument(std::string(DataTypeName(t.dtype())) + " outputs are only sent as raw contents");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<DecodedInferRequest> DecodeInferRequest(const inference::ModelInferRequest& message) {
  DecodedInferRequest out;
  out.model_name = message.model_name();
  if (out.model_name.empty()) return InvalidArgument("model_name is required");
  ASSIGN_OR_RETURN(out.model_version, ParseModelVersion(message.model_version()));
  out.id = message.id();
  if (auto it = message.parameters().find("routing_key"); it != message.parameters().end()) {
    out.routing_key = it->second.has_string_param() ? it->second.string_param()
                                                    : std::to_string(it->second.int64_param());
  }
  const bool raw = message.raw_input_contents_size() > 0;
  out.raw_output = raw;
  if (raw && message.raw_input_contents_size() != message.inputs_size()) {
    return InvalidArgument("raw_input_contents has " + std::to_string(message.raw_input_contents_size()) +
                           " entries for " + std::to_string(message.inputs_size()) +
                           " inputs; raw contents, when used, must be given for every input in order");
  }
  if (message.inputs_size() == 0) return InvalidArgument("at least one input is required");
  for (int i = 0; i < message.inputs_size(); ++i) {
    const InputTensor& input = message.inputs(i);
    if (input.name().empty()) return InvalidArgument("inputs[" + std::to_string(i) + "] has no name");
    const DataType dtype = DataTypeFromName(input.datatype());
    if (dtype == DataType::kInvalid) {
      return InvalidArgument("input '" + input.name() + "': unknown datatype '" + input.datatype() + "'");
    }
    if (Status rank = CheckRank(input.shape_size()); !rank.ok()) {
      return InvalidArgument("input '" + input.name() + "': " + rank.message());
    }
    Shape shape(input.shape().begin(), input.shape().end());
    auto elements = ElementCount(shape);
    if (!elements.ok()) return InvalidArgument("input '" + input.name() + "': " + elements.status().message());
    Tensor tensor;
    if (raw) {
      if (input.has_contents()) {
        return InvalidArgument("input '" + input.name() + "': both contents and raw_input_contents given");
      }
      const std::string& bytes = message.raw_input_contents(i);
      tensor = Tensor::View(dtype, std::move(shape), bytes.data(), bytes.size(), nullptr);
    } else {
      ASSIGN_OR_RETURN(tensor, FromTypedContents(input, dtype, shape));
    }
    out.request.inputs.push_back({input.name(), std::move(tensor)});
  }
  for (const auto& output : message.outputs()) {
    RequestedOutput requested{output.name(), 0};
    auto it = output.parameters().find("classification");
    if (it != output.parameters().end()) {
      const auto& p = it->second;
      requested.classification = p.has_int64_param() ? p.int64_param()
                                 : p.has_uint64_param() ? static_cast<int64_t>(p.uint64_param())
                                                         : 0;
      if (requested.classification < 1 || requested.classification > 1 << 20) {
        return InvalidArgument("output '" + output.name() + "': classification must be a positive integer");
      }
    }
    out.request.requested_outputs.push_back(output.name());
    out.outputs.push_back(std::move(requested));
  }
  return out;
}

Status EncodeInferResponse(const DecodedInferRequest& request, const ModelVersion& model,
                           const InferenceResponse& response, inference::ModelInferResponse* message) {
  message->set_model_name(model.name());
  message->set_model_version(std::to_string(model.version()));
  message->set_id(request.id);
  const bool batched = model.config().max_batch_size() > 0;
  for (const NamedTensor& output : response.outputs) {
    Tensor tensor = output.tensor;
    for (const RequestedOutput& r : request.outputs) {
      if (r.name == output.name && r.classification > 0) {
        ASSIGN_OR_RETURN(tensor, Classify(tensor, r.classification, model.labels(model.OutputIndex(r.name)), batched));
      }
    }
    auto* out = message->add_outputs();
    out->set_name(output.name);
    out->set_datatype(std::string(DataTypeName(tensor.dtype())));
    out->mutable_shape()->Add(tensor.shape().begin(), tensor.shape().end());
    if (request.raw_output) {
      message->add_raw_output_contents(tensor.data(), tensor.byte_size());
    } else {
      RETURN_IF_ERROR(ToTypedContents(tensor, out->mutable_contents()));
    }
  }
  return Status::Ok();
}

StatusOr<DecodedRequest> DecodeForServer(const inference::ModelInferRequest& message, DecodedInferRequest* kept) {
  ASSIGN_OR_RETURN(*kept, DecodeInferRequest(message));
  DecodedRequest out{std::move(kept->request), kept->routing_key, kept->id};
  out.inputs_are_views = true;  // a shadow copy must not outlive the message
  return out;
}

Status EncodeInferResult(const DecodedInferRequest& request, const InferResult& result,
                         inference::ModelInferResponse* message) {
  RETURN_IF_ERROR(EncodeInferResponse(request, *result.model, result.response, message));
  message->set_id(result.id);
  return Status::Ok();
}

}  // namespace protoserve
