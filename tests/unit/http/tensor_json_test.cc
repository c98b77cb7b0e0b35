#include "http/tensor_json.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace protoserve {
namespace {

StatusOr<Tensor> Read(DataType dtype, Shape shape, const std::string& data) {
  rapidjson::Document document;
  Status parsed = json::Parse(data, &document);
  if (!parsed.ok()) return parsed;
  return TensorFromJson("x", dtype, std::move(shape), document);
}

void ExpectInvalid(const StatusOr<Tensor>& result, const std::string& fragment) {
  ASSERT_FALSE(result.ok()) << fragment;
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find(fragment), std::string::npos) << result.status().message();
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> out(t.byte_size() / sizeof(T));
  std::memcpy(out.data(), t.data(), t.byte_size());
  return out;
}

std::string Write(const Tensor& tensor) {
  std::string out;
  json::StringSink sink(&out);
  json::Writer writer(sink);
  Status s = WriteTensorJson("y", tensor, writer);
  return s.ok() ? out : "error: " + s.message();
}

template <typename T>
Tensor Make(DataType dtype, Shape shape, std::vector<T> values) {
  return Tensor::FromString(dtype, std::move(shape),
                            std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
}

TEST(TensorJsonTest, EveryFixedSizeDatatype) {
  auto check = [](DataType dtype, const std::string& data, size_t bytes) {
    auto t = Read(dtype, {2, 2}, data);
    ASSERT_TRUE(t.ok()) << DataTypeName(dtype) << ": " << t.status().message();
    EXPECT_EQ(t->dtype(), dtype);
    EXPECT_EQ(t->shape(), (Shape{2, 2}));
    EXPECT_EQ(t->byte_size(), bytes) << DataTypeName(dtype);
  };
  check(DataType::kBool, "[true, false, false, true]", 4);
  check(DataType::kUint8, "[0, 1, 254, 255]", 4);
  check(DataType::kUint16, "[0, 1, 2, 65535]", 8);
  check(DataType::kUint32, "[0, 1, 2, 4294967295]", 16);
  check(DataType::kUint64, "[0, 1, 2, 18446744073709551615]", 32);
  check(DataType::kInt8, "[-128, 0, 1, 127]", 4);
  check(DataType::kInt16, "[-32768, 0, 1, 32767]", 8);
  check(DataType::kInt32, "[-2147483648, 0, 1, 2147483647]", 16);
  check(DataType::kInt64, "[-9223372036854775808, 0, 1, 9223372036854775807]", 32);
  check(DataType::kFp32, "[0.5, -1, 3, 1e-3]", 16);
  check(DataType::kFp64, "[0.5, -1, 3, 1e-300]", 32);
}

TEST(TensorJsonTest, ValuesAreConverted) {
  EXPECT_EQ(Values<uint8_t>(*Read(DataType::kBool, {3}, "[true, false, true]")), (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(Values<int8_t>(*Read(DataType::kInt8, {2}, "[-128, 127]")), (std::vector<int8_t>{-128, 127}));
  EXPECT_EQ(Values<uint64_t>(*Read(DataType::kUint64, {1}, "[18446744073709551615]")),
            (std::vector<uint64_t>{std::numeric_limits<uint64_t>::max()}));
  EXPECT_EQ(Values<float>(*Read(DataType::kFp32, {3}, "[0.1, 2, -0.5]")), (std::vector<float>{0.1f, 2.f, -0.5f}));
  EXPECT_EQ(Values<double>(*Read(DataType::kFp64, {1}, "[0.1]")), (std::vector<double>{0.1}));
}

TEST(TensorJsonTest, FlatAndNestedDataAreRowMajor) {
  auto flat = Read(DataType::kInt32, {2, 3}, "[1, 2, 3, 4, 5, 6]");
  auto nested = Read(DataType::kInt32, {2, 3}, "[[1, 2, 3], [4, 5, 6]]");
  ASSERT_TRUE(flat.ok() && nested.ok());
  EXPECT_EQ(Values<int32_t>(*flat), Values<int32_t>(*nested));
  EXPECT_EQ(Values<int32_t>(*nested), (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
  auto deep = Read(DataType::kInt32, {1, 2, 1}, "[[[7], [8]]]");
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(Values<int32_t>(*deep), (std::vector<int32_t>{7, 8}));
}

TEST(TensorJsonTest, BytesAreStringsInRawEncoding) {
  auto t = Read(DataType::kBytes, {2}, R"(["ab", "caf\u00e9"])");
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto elements = DecodeBytesElements(t->data(), t->byte_size(), 2);
  ASSERT_TRUE(elements.ok());
  EXPECT_EQ((*elements)[0], "ab");
  EXPECT_EQ((*elements)[1], "caf\xc3\xa9");
  ExpectInvalid(Read(DataType::kBytes, {1}, "[1]"), "data[0] is 1, expected a string (BYTES)");
}

TEST(TensorJsonTest, CountMustMatchTheShape) {
  ExpectInvalid(Read(DataType::kFp32, {1, 30}, "[1, 2, 3, 4, 5]"),
                "input 'x': 5 values in data, shape [1,30] needs 30");
  ExpectInvalid(Read(DataType::kFp32, {2, 2}, "[[1, 2], [3]]"), "3 values in data, shape [2,2] needs 4");
  ExpectInvalid(Read(DataType::kFp32, {1}, "[]"), "0 values in data, shape [1] needs 1");
  EXPECT_TRUE(Read(DataType::kFp32, {0, 4}, "[]").ok());
}

TEST(TensorJsonTest, HugeClaimedShapesAllocateNothing) {
  // Counted before allocating: a claim of 2^40 elements with 5 values fails fast.
  ExpectInvalid(Read(DataType::kFp64, {1 << 20, 1 << 20}, "[1, 2, 3, 4, 5]"), "5 values in data");
  ExpectInvalid(Read(DataType::kFp64, {1 << 20, 1 << 20, 1 << 20, 1 << 20}, "[1]"), "more than");
  ExpectInvalid(Read(DataType::kFp32, {1, -30}, "[1]"), "negative dimension -30");
}

TEST(TensorJsonTest, ValuesMustFitTheDatatype) {
  ExpectInvalid(Read(DataType::kInt8, {1}, "[128]"), "data[0] is 128, expected an INT8 (an integer in [-128, 127])");
  ExpectInvalid(Read(DataType::kUint8, {2}, "[1, -1]"), "data[1] is -1, expected a UINT8");
  ExpectInvalid(Read(DataType::kInt32, {1}, "[1.5]"), "data[0] is 1.5, expected an INT32");
  ExpectInvalid(Read(DataType::kInt64, {1}, "[18446744073709551615]"), "expected an INT64");
  ExpectInvalid(Read(DataType::kUint64, {1}, "[-1]"), "expected a UINT64");
  ExpectInvalid(Read(DataType::kInt32, {1}, "[\"1\"]"), "data[0] is a string");
  ExpectInvalid(Read(DataType::kBool, {1}, "[1]"), "data[0] is 1, expected true or false (BOOL)");
  ExpectInvalid(Read(DataType::kFp32, {2}, "[1, null]"), "data[1] is null, expected a number");
  ExpectInvalid(Read(DataType::kFp32, {1}, "[{}]"), "data[0] is an object");
  ExpectInvalid(Read(DataType::kFp32, {1}, "[1e39]"), "data[0] is 1e39, expected a number within FP32 range");
  EXPECT_TRUE(Read(DataType::kFp64, {1}, "[1e39]").ok());
  EXPECT_TRUE(Read(DataType::kFp32, {3}, "[NaN, Infinity, -Infinity]").ok());
}

TEST(TensorJsonTest, StructuralErrors) {
  ExpectInvalid(Read(DataType::kFp32, {1}, "1"), "data must be an array, got number");
  ExpectInvalid(Read(DataType::kFp32, {1}, "{}"), "data must be an array, got object");
  ExpectInvalid(Read(DataType::kFp16, {1}, "[1]"), "FP16 data can only be sent as binary data");
  const std::string deep = std::string(kMaxDataNesting + 1, '[') + "1" + std::string(kMaxDataNesting + 1, ']');
  ExpectInvalid(Read(DataType::kFp32, {1}, deep), "nested more than 32 levels deep");
}

TEST(TensorJsonTest, WritesEveryDatatypeFlat) {
  EXPECT_EQ(Write(Make<uint8_t>(DataType::kBool, {2}, {1, 0})), "[true,false]");
  EXPECT_EQ(Write(Make<uint8_t>(DataType::kUint8, {2}, {0, 255})), "[0,255]");
  EXPECT_EQ(Write(Make<uint16_t>(DataType::kUint16, {1}, {65535})), "[65535]");
  EXPECT_EQ(Write(Make<uint32_t>(DataType::kUint32, {1}, {4294967295u})), "[4294967295]");
  EXPECT_EQ(Write(Make<uint64_t>(DataType::kUint64, {1}, {18446744073709551615ull})), "[18446744073709551615]");
  EXPECT_EQ(Write(Make<int8_t>(DataType::kInt8, {2}, {-128, 127})), "[-128,127]");
  EXPECT_EQ(Write(Make<int16_t>(DataType::kInt16, {1}, {-32768})), "[-32768]");
  EXPECT_EQ(Write(Make<int32_t>(DataType::kInt32, {2, 1}, {-1, 2})), "[-1,2]");
  EXPECT_EQ(Write(Make<int64_t>(DataType::kInt64, {1}, {std::numeric_limits<int64_t>::min()})),
            "[-9223372036854775808]");
  EXPECT_EQ(Write(Make<float>(DataType::kFp32, {2, 2}, {0.1f, -2.f, 1e-5f, 3.25f})), "[0.1,-2,1e-05,3.25]");
  EXPECT_EQ(Write(Make<double>(DataType::kFp64, {1}, {0.1})), "[0.1]");
  std::string bytes;
  AppendBytesElement(&bytes, "a\"b");
  AppendBytesElement(&bytes, "");
  EXPECT_EQ(Write(Tensor::FromString(DataType::kBytes, {2}, bytes)), R"(["a\"b",""])");
}

TEST(TensorJsonTest, WriteRefusesWhatJsonCannotCarry) {
  EXPECT_NE(Write(Make<uint16_t>(DataType::kFp16, {1}, {0x3c00})).find("output 'y' is FP16, which JSON cannot carry"),
            std::string::npos);
  std::string bytes;
  AppendBytesElement(&bytes, "\xff\xfe");
  EXPECT_NE(Write(Tensor::FromString(DataType::kBytes, {1}, bytes)).find("element 0 is not valid UTF-8"),
            std::string::npos);
  EXPECT_NE(Write(Tensor::FromString(DataType::kFp32, {2}, std::string(4, '\0'))).find("4 bytes for shape [2]"),
            std::string::npos);
}

TEST(TensorJsonTest, WrittenValuesReadBackIdentically) {
  const std::vector<float> values = {0.1f, 1.0f / 3, -7.25e-12f, 3.4028234e38f, 1.4e-45f};
  const std::string text = Write(Make<float>(DataType::kFp32, {5}, values));
  auto back = Read(DataType::kFp32, {5}, text);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(std::memcmp(back->data(), values.data(), values.size() * 4), 0) << text;
}

}  // namespace
}  // namespace protoserve
