#include "core/input_validation.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

ModelConfig Config() {
  return *ParseModelConfig(R"pb(
    platform: "pytorch_libtorch" max_batch_size: 8
    input { name: "ids" data_type: TYPE_INT64 dims: [1] }
    input { name: "x" data_type: TYPE_FP32 dims: [-1, 4] }
    output { name: "y" data_type: TYPE_FP32 dims: [2] })pb", "m");
}

Tensor Fp32(Shape shape) {
  const int64_t n = *ElementCount(shape);
  return Tensor::Allocate(DataType::kFp32, std::move(shape), n * 4);
}
Tensor Int64(Shape shape) {
  const int64_t n = *ElementCount(shape);
  return Tensor::Allocate(DataType::kInt64, std::move(shape), n * 8);
}

void ExpectInvalid(std::vector<NamedTensor> inputs, const std::string& fragment) {
  auto result = ValidateInputs(Config(), std::move(inputs));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find(fragment), std::string::npos) << result.status().message();
}

TEST(InputValidationTest, AcceptsAndOrdersByConfig) {
  auto result = ValidateInputs(Config(), {{"x", Fp32({3, 5, 4})}, {"ids", Int64({3, 1})}});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->rows, 3);
  EXPECT_EQ(result->tensors[0].dtype(), DataType::kInt64);
  EXPECT_EQ(result->tensors[1].shape(), (Shape{3, 5, 4}));
}

TEST(InputValidationTest, RejectsEachRule) {
  ExpectInvalid({{"x", Fp32({1, 2, 4})}}, "missing input 'ids'");
  ExpectInvalid({{"ids", Int64({1, 1})}, {"x", Fp32({1, 2, 4})}, {"z", Fp32({1})}}, "unknown input 'z'");
  ExpectInvalid({{"ids", Int64({1, 1})}, {"ids", Int64({1, 1})}}, "more than once");
  ExpectInvalid({{"ids", Fp32({1, 1})}, {"x", Fp32({1, 2, 4})}}, "datatype FP32 does not match the model's INT64");
  ExpectInvalid({{"ids", Int64({1, 1})}, {"x", Fp32({1, 2, 5})}}, "does not match [-1,-1,4]");
  ExpectInvalid({{"ids", Int64({1})}, {"x", Fp32({1, 2, 4})}}, "shape [1] does not match");
  ExpectInvalid({{"ids", Int64({9, 1})}, {"x", Fp32({9, 2, 4})}}, "batch size 9 is outside [1, 8]");
  ExpectInvalid({{"ids", Int64({2, 1})}, {"x", Fp32({1, 2, 4})}}, "disagree on the batch size");
  ExpectInvalid({{"ids", Tensor::Allocate(DataType::kInt64, {1, 1}, 7)}, {"x", Fp32({1, 2, 4})}},
                "7 bytes of data, but shape [1,1] of INT64 needs 8");
}

TEST(InputValidationTest, HugeClaimedShapeRejectedWithoutAllocation) {
  // 2^40 elements claimed with 16 bytes of data: refused on the shape alone.
  Tensor lying = Tensor::Allocate(DataType::kFp32, {1, int64_t{1} << 38, 4}, 16);
  ExpectInvalid({{"ids", Int64({1, 1})}, {"x", lying}}, "more than");
  Tensor negative = Tensor::Allocate(DataType::kFp32, {1, -3, 4}, 16);
  ExpectInvalid({{"ids", Int64({1, 1})}, {"x", negative}}, "negative dim");
}

TEST(InputValidationTest, RequestedOutputs) {
  EXPECT_TRUE(ValidateRequestedOutputs(Config(), {"y"}).ok());
  EXPECT_EQ(ValidateRequestedOutputs(Config(), {"nope"}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace protoserve
