#include "core/tensor.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

TEST(TensorTest, DataTypeNamesRoundTrip) {
  for (auto dtype : {DataType::kBool, DataType::kUint8, DataType::kInt64, DataType::kFp32, DataType::kBytes}) {
    EXPECT_EQ(DataTypeFromName(DataTypeName(dtype)), dtype);
  }
  EXPECT_EQ(DataTypeFromName("FLOAT"), DataType::kInvalid);
  EXPECT_EQ(DataTypeSize(DataType::kFp64), 8u);
  EXPECT_EQ(DataTypeSize(DataType::kBytes), 0u);
}

TEST(TensorTest, ElementCountRejectsNegativeAndHuge) {
  EXPECT_EQ(*ElementCount({2, 3, 4}), 24);
  EXPECT_EQ(*ElementCount({}), 1);
  EXPECT_EQ(*ElementCount({5, 0}), 0);
  EXPECT_FALSE(ElementCount({2, -1}).ok());
  EXPECT_FALSE(ElementCount({1 << 20, 1 << 20, 1 << 20}).ok());  // 2^60: no overflow, rejected
  EXPECT_FALSE(ElementCount({1000, 1000}, 999999).ok());
}

TEST(TensorTest, SliceSharesBuffer) {
  Tensor t = Tensor::Allocate(DataType::kFp32, {3, 2}, 24);
  float* values = reinterpret_cast<float*>(t.mutable_data());
  for (int i = 0; i < 6; ++i) values[i] = static_cast<float>(i);
  Tensor row = t.Slice(1, 3);
  EXPECT_EQ(row.shape(), (Shape{2, 2}));
  EXPECT_EQ(row.byte_size(), 16u);
  EXPECT_EQ(row.data_as<float>()[0], 2.0f);
  EXPECT_EQ(row.data(), t.data() + 8);  // a view, not a copy
}

TEST(TensorTest, BytesEncoding) {
  std::string raw;
  AppendBytesElement(&raw, "ab");
  AppendBytesElement(&raw, "");
  AppendBytesElement(&raw, "xyz");
  auto elements = DecodeBytesElements(raw.data(), raw.size(), 3);
  ASSERT_TRUE(elements.ok());
  EXPECT_EQ((*elements)[0], "ab");
  EXPECT_EQ((*elements)[1], "");
  EXPECT_EQ((*elements)[2], "xyz");
  EXPECT_FALSE(DecodeBytesElements(raw.data(), raw.size(), 2).ok());
  EXPECT_FALSE(DecodeBytesElements(raw.data(), raw.size() - 1, 3).ok());  // truncated
  EXPECT_FALSE(DecodeBytesElements(raw.data(), 3, std::nullopt).ok());     // partial prefix
}

}  // namespace
}  // namespace protoserve
