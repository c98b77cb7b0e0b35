#include "core/top_k.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

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

// Both strategies (the one-pass scan for small k, nth_element above) against
// a full stable sort, on scores with many ties, NaNs and exclusions.
TEST(TopKTest, MatchesAFullSortForEveryK) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    const int n = 1 + static_cast<int>(rng() % 300);
    std::vector<float> s(n);
    std::vector<bool> excluded(n);
    for (int i = 0; i < n; ++i) {
      const unsigned r = rng() % 100;
      s[i] = r < 5 ? NAN : static_cast<float>(rng() % 20);  // few distinct values: many ties
      excluded[i] = rng() % 10 == 0;
    }
    std::vector<int32_t> reference;
    for (int i = 0; i < n; ++i) {
      if (!excluded[i]) reference.push_back(i);
    }
    std::stable_sort(reference.begin(), reference.end(), [&](int32_t a, int32_t b) {
      if (std::isnan(s[a]) != std::isnan(s[b])) return std::isnan(s[b]);
      return !std::isnan(s[a]) && s[a] > s[b];
    });
    for (int k : {1, 2, 10, 63, 64, 65, 100, n}) {
      std::vector<int32_t> want(reference.begin(), reference.begin() + std::min<size_t>(k, reference.size()));
      ASSERT_EQ(TopK(s, k, &excluded), want) << "n=" << n << " k=" << k;
    }
  }
}

// The one-pass scan skips whole blocks of scores below the k-th best: scores
// in rising order (every block holds new winners), falling order (none do
// after the first) and a lone winner at the end of the last partial block.
TEST(TopKTest, BlocksOfScoresBelowTheKthBestAreSkippedExactly) {
  const int n = 1000;
  std::vector<float> rising(n), falling(n), late(n, 0.f);
  for (int i = 0; i < n; ++i) {
    rising[i] = static_cast<float>(i);
    falling[i] = static_cast<float>(n - i);
  }
  late[n - 1] = 5.f;
  late[n - 17] = 4.f;
  EXPECT_EQ(TopK(rising, 3), (std::vector<int32_t>{999, 998, 997}));
  EXPECT_EQ(TopK(falling, 3), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(TopK(late, 3), (std::vector<int32_t>{999, 983, 0}));
}

}  // namespace
}  // namespace protoserve
