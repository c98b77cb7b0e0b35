#include "http/grpc_timeout.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

using namespace std::chrono_literals;

TEST(GrpcTimeoutTest, EveryUnit) {
  EXPECT_EQ(ParseGrpcTimeout("2H"), 2h);
  EXPECT_EQ(ParseGrpcTimeout("3M"), 3min);
  EXPECT_EQ(ParseGrpcTimeout("10S"), 10s);
  EXPECT_EQ(ParseGrpcTimeout("500m"), 500ms);
  EXPECT_EQ(ParseGrpcTimeout("250u"), 250us);
  EXPECT_EQ(ParseGrpcTimeout("7n"), 7ns);
  EXPECT_EQ(ParseGrpcTimeout("0S"), 0ns);
  EXPECT_EQ(ParseGrpcTimeout("00000001m"), 1ms);  // 8 digits, leading zeros
  EXPECT_EQ(ParseGrpcTimeout("99999999n"), 99999999ns);
  EXPECT_EQ(ParseGrpcTimeout("99999999S"), std::chrono::seconds(99999999));
}

TEST(GrpcTimeoutTest, LargeValuesSaturateInsteadOfOverflowing) {
  // 3.6e20 and 6e18 ns: past kMaxGrpcTimeout (int64 nanoseconds / 2).
  EXPECT_EQ(ParseGrpcTimeout("99999999H"), kMaxGrpcTimeout);
  EXPECT_EQ(ParseGrpcTimeout("99999999M"), kMaxGrpcTimeout);
  // The largest hour count below the bound is exact, the next one saturates.
  const int64_t max_hours = kMaxGrpcTimeout.count() / (int64_t{3600} * 1000000000);
  EXPECT_EQ(ParseGrpcTimeout(std::to_string(max_hours) + "H"), std::chrono::hours(max_hours));
  EXPECT_EQ(ParseGrpcTimeout(std::to_string(max_hours + 1) + "H"), kMaxGrpcTimeout);
  // A deadline from the largest timeout does not overflow the clock.
  const auto now = std::chrono::steady_clock::now();
  EXPECT_GT(now + *ParseGrpcTimeout("99999999H"), now);
  EXPECT_GT(std::chrono::system_clock::now() + kMaxGrpcTimeout, std::chrono::system_clock::now());
}

TEST(GrpcTimeoutTest, MalformedValuesAreRefused) {
  for (const char* text : {"", "S", "5", "123456789S", "-1S", "+1S", " 1S", "1S ", "1 S", "1s", "1h", "1x", "0x1S",
                           "1.5S", "1SS", "１S", "1\0S"}) {
    EXPECT_EQ(ParseGrpcTimeout(text), std::nullopt) << "'" << text << "'";
  }
  EXPECT_EQ(ParseGrpcTimeout(std::string_view("1\0S", 3)), std::nullopt);
}

}  // namespace
}  // namespace protoserve
