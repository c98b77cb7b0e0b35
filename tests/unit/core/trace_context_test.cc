#include "core/trace_context.h"

#include <gtest/gtest.h>

#include <set>

namespace protoserve {
namespace {

constexpr const char* kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceparentTest, ParsesTheW3cExample) {
  auto parent = ParseTraceparent(kValid);
  ASSERT_TRUE(parent.has_value());
  EXPECT_EQ(ToHex(parent->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(ToHex(parent->span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(parent->sampled());
  EXPECT_EQ(FormatTraceparent(parent->trace_id, parent->span_id, parent->flags), kValid);
}

TEST(TraceparentTest, NotSampledFlag) {
  auto parent = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(parent.has_value());
  EXPECT_FALSE(parent->sampled());
}

TEST(TraceparentTest, RefusesMalformedHeaders) {
  const char* bad[] = {
      "",
      "garbage",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",             // no flags
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",          // uppercase
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",          // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",          // zero span id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",          // version ff
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",    // version 00 has 4 fields
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",          // separators
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",          // not hex
      "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",           // short version
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",         // future version, no '-' after
  };
  for (const char* header : bad) EXPECT_FALSE(ParseTraceparent(header).has_value()) << header;
}

TEST(TraceparentTest, FutureVersionsAreReadByTheirFirstFields) {
  auto parent = ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
  ASSERT_TRUE(parent.has_value());
  EXPECT_EQ(ToHex(parent->span_id), "00f067aa0ba902b7");
}

TEST(TraceparentTest, TracestateIsKeptWhenPrintableAndShort) {
  EXPECT_EQ(SanitizeTracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(SanitizeTracestate(std::string(kMaxTraceStateBytes + 1, 'a')), "");
  EXPECT_EQ(SanitizeTracestate("a=b\nc=d"), "");
}

TEST(TraceIdsTest, RandomAndNeverZero) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const TraceId trace = NewTraceId();
    const SpanId span = NewSpanId();
    EXPECT_NE(trace, TraceId{});
    EXPECT_FALSE(IsZero(span));
    seen.insert(ToHex(trace));
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace protoserve
