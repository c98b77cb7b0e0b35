#include "cli/bench/latency_stats.h"

#include <gtest/gtest.h>

#include <cmath>

#include <algorithm>
#include <numeric>
#include <random>

namespace protoserve::cli::bench {
namespace {

std::vector<int64_t> Range(int64_t first, int64_t last) {  // [first, last]
  std::vector<int64_t> v(last - first + 1);
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST(PercentileTest, EmptyIsZero) {
  EXPECT_EQ(Percentile({}, 50), 0);
  std::vector<int64_t> none;
  const LatencySummary s = Summarize(none);
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.max, 0);
}

TEST(PercentileTest, OneSampleIsEveryPercentile) {
  const std::vector<int64_t> one = {7};
  for (double q : {0.0, 1.0, 50.0, 99.0, 99.9, 100.0}) EXPECT_EQ(Percentile(one, q), 7) << q;
}

TEST(PercentileTest, AllEqual) {
  const std::vector<int64_t> same(1000, 42);
  for (double q : {0.0, 50.0, 99.9, 100.0}) EXPECT_EQ(Percentile(same, q), 42) << q;
}

TEST(PercentileTest, NearestRankOfOneToHundred) {
  const auto v = Range(1, 100);
  EXPECT_EQ(Percentile(v, 0), 1);
  EXPECT_EQ(Percentile(v, 1), 1);
  EXPECT_EQ(Percentile(v, 50), 50);
  EXPECT_EQ(Percentile(v, 50.5), 51);  // rank ceil(50.5) = 51
  EXPECT_EQ(Percentile(v, 90), 90);
  EXPECT_EQ(Percentile(v, 99), 99);
  EXPECT_EQ(Percentile(v, 99.9), 100);
  EXPECT_EQ(Percentile(v, 100), 100);
}

TEST(PercentileTest, FloatingPointRanksDoNotRoundUp) {
  // 99.9% of 1000 is rank 999 exactly, though 99.9 / 100 * 1000 is not.
  const auto v = Range(1, 1000);
  EXPECT_EQ(Percentile(v, 99.9), 999);
  EXPECT_EQ(Percentile(v, 99), 990);
  EXPECT_EQ(Percentile(Range(1, 10000), 99.9), 9990);
}

TEST(PercentileTest, OutOfRangeClamps) {
  const auto v = Range(1, 10);
  EXPECT_EQ(Percentile(v, -5), 1);
  EXPECT_EQ(Percentile(v, 250), 10);
}

TEST(SummarizeTest, UniformDistributionInMilliseconds) {
  // 1..100000 us in random order: p50 = 50 ms, p99 = 99 ms, ...
  std::vector<int64_t> ns;
  for (int64_t us = 1; us <= 100000; ++us) ns.push_back(us * 1000);
  std::shuffle(ns.begin(), ns.end(), std::mt19937(1));
  const LatencySummary s = Summarize(ns);
  EXPECT_EQ(s.count, 100000u);
  EXPECT_DOUBLE_EQ(s.p50, 50.0);
  EXPECT_DOUBLE_EQ(s.p90, 90.0);
  EXPECT_DOUBLE_EQ(s.p95, 95.0);
  EXPECT_DOUBLE_EQ(s.p99, 99.0);
  EXPECT_DOUBLE_EQ(s.p999, 99.9);
  EXPECT_DOUBLE_EQ(s.max, 100.0);
  EXPECT_DOUBLE_EQ(s.min, 0.001);
  EXPECT_NEAR(s.mean, 50.0005, 1e-9);
  EXPECT_TRUE(std::is_sorted(ns.begin(), ns.end()));
}

TEST(SummarizeTest, LongTailShowsOnlyAtHighPercentiles) {
  std::vector<int64_t> ns(999, 1'000'000);  // 1 ms
  ns.push_back(500'000'000);                // one 500 ms outlier
  const LatencySummary s = Summarize(ns);
  EXPECT_DOUBLE_EQ(s.p99, 1.0);
  EXPECT_DOUBLE_EQ(s.p999, 1.0);  // rank 999 of 1000
  EXPECT_DOUBLE_EQ(s.max, 500.0);
  EXPECT_NEAR(s.mean, 1.499, 1e-9);
}

TEST(LogHistogramTest, CountsEverySampleOnceInFixedDecadeBins) {
  std::vector<int64_t> ns;
  for (int i = 1; i <= 5000; ++i) ns.push_back(i * 997);  // 997 ns .. 4.985 ms
  const auto bins = LogHistogram(ns, 10);
  // From the bin of 997 ns (10^2.9 ns and up) to that of 4.985 ms (10^6.6 ns).
  ASSERT_EQ(bins.size(), 38u);
  uint64_t total = 0;
  for (size_t i = 0; i < bins.size(); ++i) {
    total += bins[i].count;
    EXPECT_LT(bins[i].lower_ms, bins[i].upper_ms);
    EXPECT_NEAR(bins[i].upper_ms / bins[i].lower_ms, std::pow(10.0, 0.1), 1e-9);
    if (i > 0) {
      EXPECT_NEAR(bins[i].lower_ms, bins[i - 1].upper_ms, 1e-12);
    }
  }
  EXPECT_EQ(total, ns.size());
  EXPECT_NEAR(bins.front().lower_ms, std::pow(10.0, 2.9) / 1e6, 1e-12);
  EXPECT_LE(bins.front().lower_ms, 997 / 1e6);
  EXPECT_GT(bins.back().upper_ms, 5000 * 997 / 1e6);
  EXPECT_GE(bins.back().count, 1u);  // the maximum lands in the last bin
}

TEST(LogHistogramTest, EdgesAreSharedAcrossRunsAndDecadesAreEdges) {
  const std::vector<int64_t> fast = {100'000, 150'000, 999'000};   // 0.1 .. 0.999 ms
  const std::vector<int64_t> slow = {1'000'000, 3'000'000};        // 1 .. 3 ms
  const auto a = LogHistogram(fast, 10), b = LogHistogram(slow, 10);
  EXPECT_NEAR(a.front().lower_ms, 0.1, 1e-12);  // exactly on an edge: the bin that starts there
  EXPECT_NEAR(a.back().upper_ms, 1.0, 1e-12);
  EXPECT_NEAR(b.front().lower_ms, 1.0, 1e-12);
  EXPECT_EQ(a.size(), 10u);
  EXPECT_EQ(b.front().count, 1u);
}

TEST(LogHistogramTest, AllEqualIsOneBin) {
  const std::vector<int64_t> same(10, 2'000'000);
  const auto bins = LogHistogram(same, 10);
  ASSERT_EQ(bins.size(), 1u);
  EXPECT_EQ(bins[0].count, 10u);
  EXPECT_LE(bins[0].lower_ms, 2.0);
  EXPECT_GT(bins[0].upper_ms, 2.0);
}

TEST(LogHistogramTest, EmptyHasNoBins) { EXPECT_TRUE(LogHistogram({}, 10).empty()); }

}  // namespace
}  // namespace protoserve::cli::bench
