#include "core/trace_sampler.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

TraceParent Parent(bool sampled) {
  TraceParent parent;
  parent.trace_id = NewTraceId();
  parent.span_id = NewSpanId();
  parent.flags = sampled ? kTraceFlagSampled : 0;
  return parent;
}

// The share of `n` random new traces `sampler` samples.
double Share(const TraceSampler& sampler, int n) {
  int sampled = 0;
  for (int i = 0; i < n; ++i) sampled += sampler.ShouldSample(nullptr, NewTraceId());
  return static_cast<double>(sampled) / n;
}

TEST(SamplerConfigTest, ParsesTheSdkNames) {
  EXPECT_EQ(ParseSamplerConfig("", "")->kind, SamplerKind::kParentBasedAlwaysOn);
  EXPECT_EQ(ParseSamplerConfig("always_off", "")->kind, SamplerKind::kAlwaysOff);
  auto ratio = ParseSamplerConfig("parentbased_traceidratio", "0.25");
  ASSERT_TRUE(ratio.ok());
  EXPECT_EQ(ratio->kind, SamplerKind::kParentBasedTraceIdRatio);
  EXPECT_DOUBLE_EQ(ratio->ratio, 0.25);
  EXPECT_DOUBLE_EQ(ParseSamplerConfig("traceidratio", "")->ratio, 1.0);  // the SDKs' default
  EXPECT_EQ(ParseSamplerConfig("sometimes", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSamplerConfig("traceidratio", "1.5").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSamplerConfig("traceidratio", "half").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSamplerConfig("traceidratio", "-0.1").status().code(), StatusCode::kInvalidArgument);
}

TEST(TraceSamplerTest, AlwaysOnAndOffIgnoreTheParent) {
  const TraceParent unsampled = Parent(false);
  const TraceParent sampled = Parent(true);
  EXPECT_TRUE(TraceSampler({SamplerKind::kAlwaysOn, 1}).ShouldSample(&unsampled, unsampled.trace_id));
  EXPECT_FALSE(TraceSampler({SamplerKind::kAlwaysOff, 1}).ShouldSample(&sampled, sampled.trace_id));
}

TEST(TraceSamplerTest, ParentBasedFollowsTheCallersFlag) {
  const TraceParent unsampled = Parent(false);
  const TraceParent sampled = Parent(true);
  for (SamplerKind kind : {SamplerKind::kParentBasedAlwaysOn, SamplerKind::kParentBasedAlwaysOff,
                           SamplerKind::kParentBasedTraceIdRatio}) {
    const TraceSampler sampler({kind, 0.0});
    EXPECT_TRUE(sampler.ShouldSample(&sampled, sampled.trace_id)) << SamplerName(kind);
    EXPECT_FALSE(sampler.ShouldSample(&unsampled, unsampled.trace_id)) << SamplerName(kind);
  }
  // Without a parent: the root sampler decides.
  EXPECT_TRUE(TraceSampler({SamplerKind::kParentBasedAlwaysOn, 0}).ShouldSample(nullptr, NewTraceId()));
  EXPECT_FALSE(TraceSampler({SamplerKind::kParentBasedAlwaysOff, 0}).ShouldSample(nullptr, NewTraceId()));
}

TEST(TraceSamplerTest, RatioSamplesItsShareOfTraceIds) {
  EXPECT_EQ(Share(TraceSampler({SamplerKind::kTraceIdRatio, 0.0}), 2000), 0.0);
  EXPECT_EQ(Share(TraceSampler({SamplerKind::kTraceIdRatio, 1.0}), 2000), 1.0);
  const double quarter = Share(TraceSampler({SamplerKind::kTraceIdRatio, 0.25}), 20000);
  EXPECT_NEAR(quarter, 0.25, 0.02);  // ~7 standard deviations
}

TEST(TraceSamplerTest, RatioDecidesAlikeForOneTraceId) {
  // The decision is a function of the trace id: every server in a trace agrees.
  const TraceSampler sampler({SamplerKind::kTraceIdRatio, 0.5});
  TraceId low{};
  low[15] = 1;  // last 8 bytes ~0: below any threshold above 0
  TraceId high{};
  for (size_t i = 8; i < 16; ++i) high[i] = 0xff;
  EXPECT_TRUE(sampler.ShouldSample(nullptr, low));
  EXPECT_FALSE(sampler.ShouldSample(nullptr, high));
}

}  // namespace
}  // namespace protoserve
