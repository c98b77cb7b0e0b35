#include "http/tensor_json.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

namespace protoserve {

namespace {

using rapidjson::Value;

Status NestingError(const std::string& name) {
  return InvalidArgument("input '" + name + "': data is nested more than " + std::to_string(kMaxDataNesting) +
                         " levels deep");
}

// Calls visit(value, flat_index) for every value that is not an array, in
// row-major order. Recursion is bounded by kMaxDataNesting.
template <typename Visit>
Status ForEachValue(const Value& value, int depth, int64_t* index, const std::string& name, Visit& visit) {
  if (!value.IsArray()) return visit(value, (*index)++);
  if (depth >= kMaxDataNesting) return NestingError(name);
  for (const Value& element : value.GetArray()) RETURN_IF_ERROR(ForEachValue(element, depth + 1, index, name, visit));
  return Status::Ok();
}

// How a rejected value is shown: numbers and literals as written, strings
// and objects by kind only (they may be long).
std::string Render(const Value& value) {
  if (value.IsString()) return "a string";
  if (value.IsObject()) return "an object";
  std::string out;
  json::StringSink sink(&out);
  json::Writer writer(sink);
  value.Accept(writer);
  return out;
}

bool ReadBool(const Value& value, uint8_t* out) {
  if (!value.IsBool()) return false;
  *out = value.GetBool() ? 1 : 0;
  return true;
}

template <typename T>
bool ReadInteger(const Value& value, T* out) {
  if (value.IsInt64() && std::in_range<T>(value.GetInt64())) {
    *out = static_cast<T>(value.GetInt64());
    return true;
  }
  if (value.IsUint64() && std::in_range<T>(value.GetUint64())) {
    *out = static_cast<T>(value.GetUint64());
    return true;
  }
  return false;
}

bool ReadFloat(const Value& value, float* out) {
  if (!value.IsNumber()) return false;
  *out = json::NarrowToFloat(value.GetDouble());
  return !std::isinf(*out) || std::isinf(value.GetDouble());  // finite values must fit
}

bool ReadDouble(const Value& value, double* out) {
  if (!value.IsNumber()) return false;
  *out = value.GetDouble();
  return true;
}

template <typename T>
std::string IntegerRange(DataType dtype) {
  const std::string name(DataTypeName(dtype));
  return (name[0] == 'I' ? "an " : "a ") + name + " (an integer in [" +
         std::to_string(std::numeric_limits<T>::min()) + ", " + std::to_string(std::numeric_limits<T>::max()) + "])";
}

// Converts `count` values of `data` (already counted) into a new tensor.
template <typename T, typename Read>
StatusOr<Tensor> ReadValues(const std::string& name, DataType dtype, Shape shape, const Value& data, int64_t count,
                            Read read, const std::string& expected) {
  Tensor tensor = Tensor::Allocate(dtype, std::move(shape), static_cast<size_t>(count) * sizeof(T));
  T* out = reinterpret_cast<T*>(tensor.mutable_data());
  auto visit = [&](const Value& value, int64_t i) {
    if (read(value, &out[i])) return Status::Ok();
    return InvalidArgument("input '" + name + "': data[" + std::to_string(i) + "] is " + Render(value) +
                           ", expected " + expected);
  };
  int64_t index = 0;
  RETURN_IF_ERROR(ForEachValue(data, 0, &index, name, visit));
  return tensor;
}

template <typename T>
StatusOr<Tensor> ReadIntegers(const std::string& name, DataType dtype, Shape shape, const Value& data, int64_t count) {
  return ReadValues<T>(name, dtype, std::move(shape), data, count, ReadInteger<T>, IntegerRange<T>(dtype));
}

StatusOr<Tensor> ReadStrings(const std::string& name, Shape shape, const Value& data) {
  std::string encoded;
  auto visit = [&](const Value& value, int64_t i) {
    if (!value.IsString()) {
      return InvalidArgument("input '" + name + "': data[" + std::to_string(i) + "] is " + Render(value) +
                             ", expected a string (BYTES)");
    }
    AppendBytesElement(&encoded, std::string_view(value.GetString(), value.GetStringLength()));
    return Status::Ok();
  };
  int64_t index = 0;
  RETURN_IF_ERROR(ForEachValue(data, 0, &index, name, visit));
  return Tensor::FromString(DataType::kBytes, std::move(shape), std::move(encoded));
}

// Writes `count` elements of type T, read with memcpy (no alignment assumed).
template <typename T, typename Put>
void WriteValues(const Tensor& tensor, int64_t count, Put put) {
  for (int64_t i = 0; i < count; ++i) {
    T value;
    std::memcpy(&value, tensor.data() + i * sizeof(T), sizeof(T));
    put(value);
  }
}

}  // namespace

StatusOr<Tensor> TensorFromJson(const std::string& name, DataType dtype, Shape shape, const Value& data) {
  if (!data.IsArray()) {
    return InvalidArgument("input '" + name + "': data must be an array, got " + json::TypeName(data));
  }
  auto elements = ElementCount(shape);
  if (!elements.ok()) return InvalidArgument("input '" + name + "': " + elements.status().message());
  int64_t count = 0;
  auto count_one = [](const Value&, int64_t) { return Status::Ok(); };
  RETURN_IF_ERROR(ForEachValue(data, 0, &count, name, count_one));
  if (count != *elements) {
    return InvalidArgument("input '" + name + "': " + std::to_string(count) + " values in data, shape " +
                           ShapeToString(shape) + " needs " + std::to_string(*elements));
  }
  switch (dtype) {
    case DataType::kBool:
      return ReadValues<uint8_t>(name, dtype, std::move(shape), data, count, ReadBool, "true or false (BOOL)");
    case DataType::kUint8: return ReadIntegers<uint8_t>(name, dtype, std::move(shape), data, count);
    case DataType::kUint16: return ReadIntegers<uint16_t>(name, dtype, std::move(shape), data, count);
    case DataType::kUint32: return ReadIntegers<uint32_t>(name, dtype, std::move(shape), data, count);
    case DataType::kUint64: return ReadIntegers<uint64_t>(name, dtype, std::move(shape), data, count);
    case DataType::kInt8: return ReadIntegers<int8_t>(name, dtype, std::move(shape), data, count);
    case DataType::kInt16: return ReadIntegers<int16_t>(name, dtype, std::move(shape), data, count);
    case DataType::kInt32: return ReadIntegers<int32_t>(name, dtype, std::move(shape), data, count);
    case DataType::kInt64: return ReadIntegers<int64_t>(name, dtype, std::move(shape), data, count);
    case DataType::kFp32:
      return ReadValues<float>(name, dtype, std::move(shape), data, count, ReadFloat, "a number within FP32 range");
    case DataType::kFp64:
      return ReadValues<double>(name, dtype, std::move(shape), data, count, ReadDouble, "a number (FP64)");
    case DataType::kBytes: return ReadStrings(name, std::move(shape), data);
    default:
      return InvalidArgument("input '" + name + "': " + std::string(DataTypeName(dtype)) +
                             " data can only be sent as binary data (parameter binary_data_size)");
  }
}

Status WriteTensorJson(const std::string& name, const Tensor& tensor, json::Writer& writer) {
  const DataType dtype = tensor.dtype();
  const int64_t count = tensor.element_count();
  if (dtype == DataType::kFp16 || dtype == DataType::kInvalid) {
    return InvalidArgument("output '" + name + "' is " + std::string(DataTypeName(dtype)) +
                           ", which JSON cannot carry; request it with \"binary_data\": true");
  }
  if (dtype != DataType::kBytes && tensor.byte_size() != static_cast<size_t>(count) * DataTypeSize(dtype)) {
    return Internal("output '" + name + "': " + std::to_string(tensor.byte_size()) + " bytes for shape " +
                    ShapeToString(tensor.shape()) + " of " + std::string(DataTypeName(dtype)));
  }
  writer.StartArray();
  switch (dtype) {
    case DataType::kBool: WriteValues<uint8_t>(tensor, count, [&](uint8_t v) { writer.Bool(v != 0); }); break;
    case DataType::kUint8: WriteValues<uint8_t>(tensor, count, [&](uint8_t v) { writer.Uint(v); }); break;
    case DataType::kUint16: WriteValues<uint16_t>(tensor, count, [&](uint16_t v) { writer.Uint(v); }); break;
    case DataType::kUint32: WriteValues<uint32_t>(tensor, count, [&](uint32_t v) { writer.Uint(v); }); break;
    case DataType::kUint64: WriteValues<uint64_t>(tensor, count, [&](uint64_t v) { writer.Uint64(v); }); break;
    case DataType::kInt8: WriteValues<int8_t>(tensor, count, [&](int8_t v) { writer.Int(v); }); break;
    case DataType::kInt16: WriteValues<int16_t>(tensor, count, [&](int16_t v) { writer.Int(v); }); break;
    case DataType::kInt32: WriteValues<int32_t>(tensor, count, [&](int32_t v) { writer.Int(v); }); break;
    case DataType::kInt64: WriteValues<int64_t>(tensor, count, [&](int64_t v) { writer.Int64(v); }); break;
    case DataType::kFp32: WriteValues<float>(tensor, count, [&](float v) { json::WriteFloat(writer, v); }); break;
    case DataType::kFp64: WriteValues<double>(tensor, count, [&](double v) { json::WriteDouble(writer, v); }); break;
    case DataType::kBytes: {
      ASSIGN_OR_RETURN(auto elements, DecodeBytesElements(tensor.data(), tensor.byte_size(), count));
      for (size_t i = 0; i < elements.size(); ++i) {
        if (!json::IsValidUtf8(elements[i])) {
          return InvalidArgument("output '" + name + "': element " + std::to_string(i) +
                                 " is not valid UTF-8; request it with \"binary_data\": true");
        }
        json::WriteString(writer, elements[i]);
      }
      break;
    }
    default: break;
  }
  writer.EndArray();
  return Status::Ok();
}

}  // namespace protoserve
