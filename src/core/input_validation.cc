#include "core/input_validation.h"

#include <algorithm>
#include <cmath>

namespace protoserve {

namespace {

Status CheckShape(const ModelConfig& config, const inference::ModelInput& spec, const Shape& shape) {
  const bool batched = config.max_batch_size() > 0;
  const size_t rank = spec.dims_size() + (batched ? 1 : 0);
  Shape expected;
  if (batched) expected.push_back(-1);
  expected.insert(expected.end(), spec.dims().begin(), spec.dims().end());
  // Built only for an error: this runs for every input of every request.
  auto want = [&] { return ShapeToString(expected) + (batched ? " (first dim is the batch)" : ""); };
  if (shape.size() != rank) {
    return InvalidArgument("input '" + spec.name() + "': shape " + ShapeToString(shape) + " does not match " + want());
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return InvalidArgument("input '" + spec.name() + "': negative dim in shape " + ShapeToString(shape));
    }
    if (expected[i] != -1 && shape[i] != expected[i]) {
      return InvalidArgument("input '" + spec.name() + "': shape " + ShapeToString(shape) + " does not match " + want());
    }
  }
  if (batched && (shape[0] < 1 || shape[0] > config.max_batch_size())) {
    return InvalidArgument("input '" + spec.name() + "': batch size " + std::to_string(shape[0]) +
                           " is outside [1, " + std::to_string(config.max_batch_size()) + "]");
  }
  return Status::Ok();
}

Status CheckBytes(const inference::ModelInput& spec, const Tensor& tensor, int64_t elements) {
  if (tensor.dtype() == DataType::kBytes) {
    auto decoded = DecodeBytesElements(tensor.data(), tensor.byte_size(), elements);
    if (!decoded.ok()) return InvalidArgument("input '" + spec.name() + "': " + decoded.status().message());
    return Status::Ok();
  }
  const size_t want = static_cast<size_t>(elements) * DataTypeSize(tensor.dtype());
  if (tensor.byte_size() != want) {
    return InvalidArgument("input '" + spec.name() + "': " + std::to_string(tensor.byte_size()) +
                           " bytes of data, but shape " + ShapeToString(tensor.shape()) + " of " +
                           std::string(DataTypeName(tensor.dtype())) + " needs " + std::to_string(want));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<ValidatedInputs> ValidateInputs(const ModelConfig& config, std::vector<NamedTensor> inputs,
                                         int64_t max_elements) {
  ValidatedInputs out;
  out.tensors.resize(config.input_size());
  std::vector<bool> seen(config.input_size(), false);
  for (NamedTensor& input : inputs) {
    int index = -1;
    for (int i = 0; i < config.input_size(); ++i) {
      if (config.input(i).name() == input.name) index = i;
    }
    if (index < 0) {
      std::string names;
      for (const auto& spec : config.input()) names += (names.empty() ? "" : ", ") + spec.name();
      return InvalidArgument("unknown input '" + input.name + "' for model '" + config.name() +
                             "' (expected: " + names + ")");
    }
    if (seen[index]) return InvalidArgument("input '" + input.name + "' given more than once");
    seen[index] = true;
    const auto& spec = config.input(index);
    const DataType want = FromConfigDataType(spec.data_type());
    if (input.tensor.dtype() != want) {
      return InvalidArgument("input '" + input.name + "': datatype " +
                             std::string(DataTypeName(input.tensor.dtype())) + " does not match the model's " +
                             std::string(DataTypeName(want)));
    }
    RETURN_IF_ERROR(CheckShape(config, spec, input.tensor.shape()));
    auto elements = ElementCount(input.tensor.shape(), max_elements);
    if (!elements.ok()) return InvalidArgument("input '" + input.name + "': " + elements.status().message());
    RETURN_IF_ERROR(CheckBytes(spec, input.tensor, *elements));
    out.tensors[index] = std::move(input.tensor);
  }
  for (int i = 0; i < config.input_size(); ++i) {
    if (!seen[i]) return InvalidArgument("missing input '" + config.input(i).name() + "'");
  }
  if (config.max_batch_size() > 0) {
    out.rows = out.tensors[0].shape()[0];
    for (const Tensor& t : out.tensors) {
      if (t.shape()[0] != out.rows) {
        return InvalidArgument("inputs disagree on the batch size (" + std::to_string(out.rows) + " vs " +
                               std::to_string(t.shape()[0]) + ")");
      }
    }
  }
  return out;
}

Status ValidateRequestedOutputs(const ModelConfig& config, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    bool found = false;
    for (const auto& spec : config.output()) found = found || spec.name() == name;
    if (!found) return InvalidArgument("unknown output '" + name + "' for model '" + config.name() + "'");
  }
  return Status::Ok();
}

int64_t MaxRequestElements(const ModelConfig& config, int64_t max_elements) {
  int64_t total = 0;
  const int64_t rows = std::max<int64_t>(1, config.max_batch_size());
  for (const auto& spec : config.input()) {
    int64_t elements = rows;
    for (int64_t dim : spec.dims()) {
      if (dim < 0 || elements > max_elements / std::max<int64_t>(1, dim)) {
        elements = max_elements;
        break;
      }
      elements *= dim;
    }
    total += std::min(elements, max_elements);
    if (total >= max_elements * 64) break;  // far beyond any body limit
  }
  return total;
}

}  // namespace protoserve
