#include "core/classification.h"

#include <charconv>
#include <cstdio>

#include "core/tensor_values.h"
#include "core/top_k.h"

namespace protoserve {

namespace {

StatusOr<std::vector<float>> AsFloats(const Tensor& t) {
  auto values = ToFloats(t, t.element_count());
  if (!values.ok()) {
    return InvalidArgument("classification needs a numeric output, not " + std::string(DataTypeName(t.dtype())));
  }
  return values;
}

}  // namespace

StatusOr<Tensor> Classify(const Tensor& scores, int64_t k, const std::vector<std::string>& labels, bool batched) {
  if (k < 1) return InvalidArgument("classification count must be >= 1, got " + std::to_string(k));
  ASSIGN_OR_RETURN(std::vector<float> values, AsFloats(scores));
  const int64_t rows = batched && !scores.shape().empty() ? scores.shape()[0] : 1;
  const int64_t classes = rows == 0 ? 0 : static_cast<int64_t>(values.size()) / rows;
  const int64_t kept = std::min(k, classes);
  std::string encoded;
  char buffer[64];
  for (int64_t r = 0; r < rows; ++r) {
    std::span<const float> row(values.data() + r * classes, classes);
    for (int32_t index : TopK(row, static_cast<int32_t>(kept))) {
      std::snprintf(buffer, sizeof(buffer), "%f:%d:", row[index], index);
      std::string element = buffer;
      if (index < static_cast<int32_t>(labels.size())) element += labels[index];
      AppendBytesElement(&encoded, element);
    }
  }
  Shape shape = batched ? Shape{rows, kept} : Shape{kept};
  return Tensor::FromString(DataType::kBytes, std::move(shape), std::move(encoded));
}

StatusOr<int64_t> ParseModelVersion(const std::string& text) {
  if (text.empty()) return int64_t{0};
  int64_t version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version < 1) {
    return InvalidArgument("model_version '" + text + "' is not a positive integer");
  }
  return version;
}

}  // namespace protoserve
