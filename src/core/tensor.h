// Tensor: a dtype, a shape and a contiguous block of bytes.
//
// A Tensor either owns its bytes or is a view into a buffer someone else owns
// (a gRPC request message, a backend's output, a batch being split); in both
// cases `owner_` keeps that buffer alive, so copying a Tensor is cheap and
// never copies bytes. Bytes are read-only once shared; only a tensor made by
// Allocate() hands out mutable_data(), to its creator, before sharing it.
//
// BYTES tensors hold the KServe raw encoding: per element a 4-byte
// little-endian length followed by that many bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace protoserve {

enum class DataType {
  kInvalid,
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBytes,
};

using Shape = std::vector<int64_t>;

// Size of one element in bytes; 0 for BYTES (variable) and kInvalid.
size_t DataTypeSize(DataType dtype);
// KServe names: "BOOL", "INT8", ..., "FP32", "BYTES".
std::string_view DataTypeName(DataType dtype);
DataType DataTypeFromName(std::string_view name);

// Number of elements of `shape`, or an error if a dim is negative or the
// product exceeds `max_elements` (checked before any overflow can happen).
StatusOr<int64_t> ElementCount(const Shape& shape, int64_t max_elements = int64_t{1} << 40);
// At most 16 dims are written out; longer shapes end in "... (N dims)".
std::string ShapeToString(const Shape& shape);

// The most dimensions a request tensor may have (Triton's own cap is 64):
// checked before a wire shape is copied, so a shape of millions of dims costs
// nothing beyond the wire message itself.
inline constexpr int kMaxTensorRank = 64;
Status CheckRank(size_t rank);

class Tensor {
 public:
  Tensor() = default;

  // A new zero-filled tensor owning its bytes.
  static Tensor Allocate(DataType dtype, Shape shape, size_t byte_size);
  // A view of `size` bytes at `data`, kept alive by `owner`.
  static Tensor View(DataType dtype, Shape shape, const void* data, size_t size,
                     std::shared_ptr<const void> owner);
  // Takes ownership of `bytes` (no copy).
  static Tensor FromString(DataType dtype, Shape shape, std::string bytes);

  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const char* data() const { return data_; }
  size_t byte_size() const { return size_; }
  int64_t element_count() const;
  template <typename T>
  const T* data_as() const { return reinterpret_cast<const T*>(data_); }

  // Only valid on a tensor from Allocate() that has not been shared yet.
  char* mutable_data() { return const_cast<char*>(data_); }

  // The rows [begin, end) along dim 0, sharing this tensor's buffer.
  // Requires a fixed-size dtype and a non-empty shape.
  Tensor Slice(int64_t begin, int64_t end) const;
  // Same bytes, new shape of equal element count.
  Tensor Reshaped(Shape shape) const;

 private:
  DataType dtype_ = DataType::kInvalid;
  Shape shape_;
  std::shared_ptr<const void> owner_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// Splits a BYTES tensor's raw encoding into its elements (views into the
// tensor). Fails if the encoding is truncated or holds a different number of
// elements than `expected` (when given).
StatusOr<std::vector<std::string_view>> DecodeBytesElements(const char* data, size_t size,
                                                            std::optional<int64_t> expected);
// Appends one element in BYTES raw encoding.
void AppendBytesElement(std::string* out, std::string_view element);

}  // namespace protoserve
