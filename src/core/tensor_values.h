// A numeric tensor's values as floats, whatever its element type: what the
// transforms that read scores need (classification, the typed APIs' top-k,
// argmax and threshold), written once.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace protoserve {

// The first `count` elements of `t` (at most its element count) as floats:
// FP32, FP64, INT32, INT64, UINT8 and BOOL (1 or 0). INVALID_ARGUMENT naming
// the type for any other.
StatusOr<std::vector<float>> ToFloats(const Tensor& t, int64_t count);

}  // namespace protoserve
