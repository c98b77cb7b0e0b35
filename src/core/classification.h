// The classification extension (as Triton): instead of an output's raw
// scores, return the top K classes of each row as BYTES strings
// "score:index:label" (label empty when the output has no label file).
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace protoserve {

// `scores` is FP32/FP64/INT* with shape [rows, classes] when `batched`, else
// [classes] (extra dims are flattened into classes). Returns BYTES
// [rows, k'] (or [k']) with k' = min(k, classes).
StatusOr<Tensor> Classify(const Tensor& scores, int64_t k, const std::vector<std::string>& labels, bool batched);

// Parses a model_version string: "" -> 0 (server's choice), else a positive integer.
StatusOr<int64_t> ParseModelVersion(const std::string& text);

}  // namespace protoserve
