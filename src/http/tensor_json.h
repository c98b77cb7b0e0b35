// Tensor data as JSON values: the "data" member of a KServe v2 REST tensor.
//
// Reading accepts a flat or nested array (row-major; nesting is not checked
// against the shape, as in Triton) and converts each value for `dtype`:
// BOOL from true/false, integer types from JSON integers within the type's
// range, FP32/FP64 from any number (also NaN/Infinity), BYTES from strings.
// The values are counted and compared with the shape's element count before
// anything sized by the shape is allocated. Errors are INVALID_ARGUMENT and
// name the input: "input 'x': 5 values in data, shape [1,30] needs 30".
//
// Writing produces a flat array; FP32 values are written so that they read
// back as the same float.
#pragma once

#include <string>

#include "core/tensor.h"
#include "http/json.h"

namespace protoserve {

// JSON "data" nested deeper than this is refused (shapes are far shallower).
inline constexpr int kMaxDataNesting = 32;

StatusOr<Tensor> TensorFromJson(const std::string& input_name, DataType dtype, Shape shape,
                                const rapidjson::Value& data);

// Writes the tensor's elements as a flat JSON array. Fails (writing nothing
// usable) for FP16 and for BYTES elements that are not valid UTF-8.
Status WriteTensorJson(const std::string& output_name, const Tensor& tensor, json::Writer& writer);

}  // namespace protoserve
