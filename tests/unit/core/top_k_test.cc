#include "core/top_k.h"

#include <gtest/gtest.h>

#include <cmath>

namespace protoserve {
namespace {

TEST(TopKTest, HighestFirstWithStableTies) {
  std::vector<float> s = {0.1f, 0.9f, 0.5f, 0.9f, -1.f};
  EXPECT_EQ(TopK(s, 3), (std::vector<int32_t>{1, 3, 2}));
  EXPECT_EQ(TopK(s, 10).size(), 5u);
  EXPECT_TRUE(TopK(s, 0).empty());
}

TEST(TopKTest, ExcludesAndRanksNaNLast) {
  std::vector<float> s = {NAN, 0.2f, 0.3f, 0.1f};
  std::vector<bool> excluded = {false, false, true, false};
  EXPECT_EQ(TopK(s, 4, &excluded), (std::vector<int32_t>{1, 3, 0}));
}

}  // namespace
}  // namespace protoserve
