#include "cli/bench/bench_options.h"

#include <gtest/gtest.h>

namespace protoserve::cli::bench {
namespace {

using namespace std::chrono_literals;

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(ParseDuration("10s"), 10s);
  EXPECT_EQ(ParseDuration("2"), 2s);
  EXPECT_EQ(ParseDuration("1.5s"), 1500ms);
  EXPECT_EQ(ParseDuration("500ms"), 500ms);
  EXPECT_EQ(ParseDuration("250us"), 250us);
  EXPECT_EQ(ParseDuration("2m"), 120s);
  EXPECT_EQ(ParseDuration("0s"), 0s);
}

TEST(ParseDurationTest, RejectsBadInput) {
  EXPECT_THROW(ParseDuration("ten"), std::invalid_argument);
  EXPECT_THROW(ParseDuration("10h"), std::invalid_argument);
  EXPECT_THROW(ParseDuration("-1s"), std::invalid_argument);
  EXPECT_THROW(ParseDuration(""), std::invalid_argument);
}

TEST(ParseIntListTest, Sweep) {
  EXPECT_EQ(ParseIntList("1,2,4,8"), (std::vector<int>{1, 2, 4, 8}));
  EXPECT_EQ(ParseIntList(" 16 "), (std::vector<int>{16}));
  EXPECT_THROW(ParseIntList("1,0"), std::invalid_argument);
  EXPECT_THROW(ParseIntList("1.5"), std::invalid_argument);
  EXPECT_THROW(ParseIntList("4x"), std::invalid_argument);
  EXPECT_THROW(ParseIntList(""), std::invalid_argument);
}

TEST(ParseRateListTest, PositiveNumbers) {
  EXPECT_EQ(ParseRateList("100,250.5"), (std::vector<double>{100, 250.5}));
  EXPECT_THROW(ParseRateList("0"), std::invalid_argument);
  EXPECT_THROW(ParseRateList("fast"), std::invalid_argument);
}

TEST(ParseMetadataTest, KeyValueWithLowercaseKey) {
  EXPECT_EQ(ParseMetadata("X-Tenant=Blue=1"), (std::pair<std::string, std::string>{"x-tenant", "Blue=1"}));
  EXPECT_EQ(ParseMetadata("k="), (std::pair<std::string, std::string>{"k", ""}));
  EXPECT_THROW(ParseMetadata("novalue"), std::invalid_argument);
  EXPECT_THROW(ParseMetadata("=v"), std::invalid_argument);
}

}  // namespace
}  // namespace protoserve::cli::bench
