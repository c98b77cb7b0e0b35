#include "core/classification.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

TEST(ClassificationTest, TopKPerRowWithLabels) {
  std::vector<float> scores = {0.1f, 0.7f, 0.2f, 0.5f, 0.3f, 0.9f};
  std::string bytes(reinterpret_cast<const char*>(scores.data()), scores.size() * 4);
  Tensor t = Tensor::FromString(DataType::kFp32, {2, 3}, bytes);
  auto out = Classify(t, 2, {"cat", "dog", "eel"}, true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->dtype(), DataType::kBytes);
  EXPECT_EQ(out->shape(), (Shape{2, 2}));
  auto elements = DecodeBytesElements(out->data(), out->byte_size(), 4);
  ASSERT_TRUE(elements.ok());
  EXPECT_EQ((*elements)[0], "0.700000:1:dog");
  EXPECT_EQ((*elements)[1], "0.200000:2:eel");
  EXPECT_EQ((*elements)[2], "0.900000:2:eel");
  EXPECT_EQ((*elements)[3], "0.500000:0:cat");
}

TEST(ClassificationTest, KLargerThanClassesAndNoLabels) {
  std::vector<float> scores = {1, 3};
  Tensor t = Tensor::FromString(DataType::kFp32, {2}, std::string(reinterpret_cast<const char*>(scores.data()), 8));
  auto out = Classify(t, 5, {}, false);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->shape(), (Shape{2}));
  auto elements = DecodeBytesElements(out->data(), out->byte_size(), 2);
  EXPECT_EQ((*elements)[0], "3.000000:1:");
  EXPECT_FALSE(Classify(t, 0, {}, false).ok());
}

TEST(ParseModelVersionTest, Rules) {
  EXPECT_EQ(*ParseModelVersion(""), 0);
  EXPECT_EQ(*ParseModelVersion("12"), 12);
  for (const char* bad : {"0", "-1", "1a", " 1", "99999999999999999999"}) {
    EXPECT_FALSE(ParseModelVersion(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace protoserve
