// Checks a request's tensors against a model's configuration.
//
// Every rule fails with INVALID_ARGUMENT and a message naming the tensor and
// what was expected, before anything proportional to a claimed size is
// allocated: shapes are checked for overflow and against `max_elements`
// before byte sizes are compared.
#pragma once

#include <vector>

#include "core/inference.h"
#include "core/model_config.h"

namespace protoserve {

// Default bound on the elements of one input tensor (--max-tensor-elements).
inline constexpr int64_t kDefaultMaxTensorElements = int64_t{1} << 28;

struct ValidatedInputs {
  std::vector<Tensor> tensors;  // config input order
  int64_t rows = 1;             // batch rows (1 when the model does not batch)
};

StatusOr<ValidatedInputs> ValidateInputs(const ModelConfig& config, std::vector<NamedTensor> inputs,
                                         int64_t max_elements = kDefaultMaxTensorElements);
Status ValidateRequestedOutputs(const ModelConfig& config, const std::vector<std::string>& names);

// The most elements one valid request to `config` can carry, all inputs
// together (dynamic dims count as `max_elements`). Front-ends bound a body
// by it before parsing, so a 64 MiB JSON body for a 784-value model is
// refused from its size instead of being parsed into a DOM of a gigabyte.
int64_t MaxRequestElements(const ModelConfig& config, int64_t max_elements = kDefaultMaxTensorElements);

}  // namespace protoserve
