#include "core/tensor_values.h"

#include <algorithm>
#include <string>

namespace protoserve {

StatusOr<std::vector<float>> ToFloats(const Tensor& t, int64_t count) {
  const int64_t n = std::clamp<int64_t>(count, 0, t.element_count());
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype()) {
      case DataType::kFp32: values[i] = t.data_as<float>()[i]; break;
      case DataType::kFp64: values[i] = static_cast<float>(t.data_as<double>()[i]); break;
      case DataType::kInt32: values[i] = static_cast<float>(t.data_as<int32_t>()[i]); break;
      case DataType::kInt64: values[i] = static_cast<float>(t.data_as<int64_t>()[i]); break;
      case DataType::kUint8: values[i] = static_cast<float>(t.data_as<uint8_t>()[i]); break;
      case DataType::kBool: values[i] = t.data_as<bool>()[i] ? 1.0f : 0.0f; break;
      default: return InvalidArgument("a numeric tensor is needed, not " + std::string(DataTypeName(t.dtype())));
    }
  }
  return values;
}

}  // namespace protoserve
