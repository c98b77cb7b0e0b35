#include "core/traffic_split.h"

#include <gtest/gtest.h>

#include <map>

namespace protoserve {
namespace {

ModelConfig WithParameters(std::map<std::string, std::string> parameters) {
  ModelConfig config;
  for (const auto& [key, value] : parameters) (*config.mutable_parameters())[key].set_string_value(value);
  return config;
}

TEST(TrafficSplitTest, ParsesWeightsStickyAndShadow) {
  auto split = ParseTrafficSplit(WithParameters({{"protoserve.traffic_split", "1:90,2:10"},
                                                 {"protoserve.traffic_split_sticky", "true"},
                                                 {"protoserve.shadow", "3:12.5"}}));
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  ASSERT_EQ(split->weights.size(), 2u);
  EXPECT_EQ(split->weights[1].version, 2);
  EXPECT_EQ(split->weights[1].weight, 10u);
  EXPECT_TRUE(split->sticky);
  EXPECT_EQ(split->shadow_version, 3);
  EXPECT_DOUBLE_EQ(split->shadow_percent, 12.5);
  EXPECT_FALSE(ParseTrafficSplit(ModelConfig()).value().enabled());
}

TEST(TrafficSplitTest, RejectsMalformedParameters) {
  for (const char* bad : {"1:90,2", "a:1", "1:-3", "0:5", "1:0", "1:5,1:5", ""}) {
    EXPECT_FALSE(ParseTrafficSplit(WithParameters({{"protoserve.traffic_split", bad}})).ok()) << bad;
  }
  EXPECT_FALSE(ParseTrafficSplit(WithParameters({{"protoserve.traffic_split_sticky", "yes"}})).ok());
  // nan (any case, with a tail) once passed as a percent; trailing text and spaces once were ignored.
  for (const char* bad : {"2", "2:101", "x:5", "2:abc", "0:5", "2:nan", "3:NaN", "3:nanser_1", "2:-nan", "2:inf",
                          "2:12abc", "2: 5", "2:5 ", "2:", "2:+5", "2:-1e-300"}) {
    EXPECT_FALSE(ParseTrafficSplit(WithParameters({{"protoserve.shadow", bad}})).ok()) << bad;
  }
  for (const char* good : {"2:0", "2:100", "2:0.5", "2:1e1"}) {
    EXPECT_TRUE(ParseTrafficSplit(WithParameters({{"protoserve.shadow", good}})).ok()) << good;
  }
}

TEST(TrafficSplitTest, RandomPickFollowsWeights) {
  TrafficSplit split = *ParseTrafficSplit(WithParameters({{"protoserve.traffic_split", "1:80,2:20"}}));
  std::map<int64_t, int> counts;
  for (int i = 0; i < 20000; ++i) counts[split.Pick("", [](int64_t) { return true; })]++;
  EXPECT_NEAR(counts[2] / 20000.0, 0.20, 0.02);
  // Only ready versions are picked; none ready -> 0.
  EXPECT_EQ(split.Pick("", [](int64_t v) { return v == 1; }), 1);
  EXPECT_EQ(split.Pick("", [](int64_t) { return false; }), 0);
}

TEST(TrafficSplitTest, StickyPickIsStablePerKeyAndBalancedOverKeys) {
  TrafficSplit split = *ParseTrafficSplit(
      WithParameters({{"protoserve.traffic_split", "1:50,2:50"}, {"protoserve.traffic_split_sticky", "true"}}));
  int on_two = 0;
  for (int u = 0; u < 2000; ++u) {
    const std::string key = "user_" + std::to_string(u);
    const int64_t first = split.Pick(key, [](int64_t) { return true; });
    for (int again = 0; again < 3; ++again) EXPECT_EQ(split.Pick(key, [](int64_t) { return true; }), first);
    on_two += first == 2;
  }
  EXPECT_NEAR(on_two / 2000.0, 0.5, 0.05);
}

TEST(TrafficSplitTest, ShadowShare) {
  TrafficSplit split = *ParseTrafficSplit(WithParameters({{"protoserve.shadow", "2:25"}}));
  int mirrored = 0;
  for (int i = 0; i < 20000; ++i) mirrored += split.MirrorThis("");
  EXPECT_NEAR(mirrored / 20000.0, 0.25, 0.02);
  EXPECT_FALSE(TrafficSplit().MirrorThis("x"));
}

}  // namespace
}  // namespace protoserve
