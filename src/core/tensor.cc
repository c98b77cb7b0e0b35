#include "core/tensor.h"

#include <cstring>

namespace protoserve {

namespace {
struct DataTypeInfo {
  DataType dtype;
  std::string_view name;
  size_t size;
};
constexpr DataTypeInfo kDataTypes[] = {
    {DataType::kBool, "BOOL", 1},     {DataType::kUint8, "UINT8", 1},
    {DataType::kUint16, "UINT16", 2}, {DataType::kUint32, "UINT32", 4},
    {DataType::kUint64, "UINT64", 8}, {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},   {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8},   {DataType::kFp16, "FP16", 2},
    {DataType::kFp32, "FP32", 4},     {DataType::kFp64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
};
}  // namespace

size_t DataTypeSize(DataType dtype) {
  for (const auto& info : kDataTypes) {
    if (info.dtype == dtype) return info.size;
  }
  return 0;
}

std::string_view DataTypeName(DataType dtype) {
  for (const auto& info : kDataTypes) {
    if (info.dtype == dtype) return info.name;
  }
  return "INVALID";
}

DataType DataTypeFromName(std::string_view name) {
  for (const auto& info : kDataTypes) {
    if (info.name == name) return info.dtype;
  }
  return DataType::kInvalid;
}

StatusOr<int64_t> ElementCount(const Shape& shape, int64_t max_elements) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return InvalidArgument("negative dimension " + std::to_string(dim) + " in shape " + ShapeToString(shape));
    if (dim != 0 && count > max_elements / dim) {
      return InvalidArgument("shape " + ShapeToString(shape) + " has more than " +
                             std::to_string(max_elements) + " elements");
    }
    count *= dim;
  }
  return count;
}

std::string ShapeToString(const Shape& shape) {
  // Error messages quote shapes: a hostile one with millions of dims must not
  // become a message of hundreds of megabytes.
  constexpr size_t kShown = 16;
  std::string out = "[";
  for (size_t i = 0; i < shape.size() && i < kShown; ++i) {
    if (i) out += ",";
    out += std::to_string(shape[i]);
  }
  if (shape.size() > kShown) out += ",... (" + std::to_string(shape.size()) + " dims)";
  return out + "]";
}

Status CheckRank(size_t rank) {
  if (rank <= static_cast<size_t>(kMaxTensorRank)) return Status::Ok();
  return InvalidArgument("shape has " + std::to_string(rank) + " dimensions, at most " +
                         std::to_string(kMaxTensorRank) + " allowed");
}

Tensor Tensor::Allocate(DataType dtype, Shape shape, size_t byte_size) {
  auto buffer = std::shared_ptr<char[]>(new char[byte_size == 0 ? 1 : byte_size]());
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = buffer.get();
  t.size_ = byte_size;
  t.owner_ = std::move(buffer);
  return t;
}

Tensor Tensor::View(DataType dtype, Shape shape, const void* data, size_t size,
                    std::shared_ptr<const void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = static_cast<const char*>(data);
  t.size_ = size;
  t.owner_ = std::move(owner);
  return t;
}

Tensor Tensor::FromString(DataType dtype, Shape shape, std::string bytes) {
  auto owned = std::make_shared<const std::string>(std::move(bytes));
  return View(dtype, std::move(shape), owned->data(), owned->size(), owned);
}

int64_t Tensor::element_count() const {
  int64_t count = 1;
  for (int64_t dim : shape_) count *= dim;
  return count;
}

Tensor Tensor::Slice(int64_t begin, int64_t end) const {
  const size_t row_bytes = shape_[0] == 0 ? 0 : size_ / static_cast<size_t>(shape_[0]);
  Shape shape = shape_;
  shape[0] = end - begin;
  return View(dtype_, std::move(shape), data_ + row_bytes * begin, row_bytes * (end - begin), owner_);
}

Tensor Tensor::Reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

StatusOr<std::vector<std::string_view>> DecodeBytesElements(const char* data, size_t size,
                                                            std::optional<int64_t> expected) {
  std::vector<std::string_view> elements;
  size_t offset = 0;
  while (offset < size) {
    if (size - offset < 4) return InvalidArgument("BYTES tensor encoding is truncated in a length prefix");
    uint32_t length;
    std::memcpy(&length, data + offset, 4);
    offset += 4;
    if (length > size - offset) return InvalidArgument("BYTES tensor element length exceeds the data");
    elements.emplace_back(data + offset, length);
    offset += length;
    if (expected && static_cast<int64_t>(elements.size()) > *expected) break;
  }
  if (expected && static_cast<int64_t>(elements.size()) != *expected) {
    return InvalidArgument("BYTES tensor holds " + std::to_string(elements.size()) +
                           (offset < size ? "+" : "") + " elements, shape needs " +
                           std::to_string(*expected));
  }
  return elements;
}

void AppendBytesElement(std::string* out, std::string_view element) {
  uint32_t length = static_cast<uint32_t>(element.size());
  out->append(reinterpret_cast<const char*>(&length), 4);
  out->append(element);
}

}  // namespace protoserve
