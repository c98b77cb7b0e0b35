// FeedbackLoop's pure parts: the per-model sample rate and the sampling
// decision (a hash of the request id: the same answer on every replica).
// The join itself is exercised end to end in tests/e2e/test_feedback.py.
#include "core/feedback_loop.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

TEST(FeedbackLoopTest, SampleRateDefaultsByApiAndReadsTheConfig) {
  ModelConfig config;
  EXPECT_EQ(SampleRate(config, true), 1.0);
  EXPECT_EQ(SampleRate(config, false), 0.0);
  (*config.mutable_parameters())[kSampleRateParameter].set_string_value("0.25");
  EXPECT_EQ(SampleRate(config, true), 0.25);
  EXPECT_EQ(SampleRate(config, false), 0.25);
  (*config.mutable_parameters())[kSampleRateParameter].set_string_value("7");
  EXPECT_EQ(SampleRate(config, false), 1.0);  // clamped
  (*config.mutable_parameters())[kSampleRateParameter].set_string_value("lots");
  EXPECT_EQ(SampleRate(config, false), 0.0);  // unparsable: the default
}

TEST(FeedbackLoopTest, SamplingIsDeterministicAndNearTheRate) {
  int sampled = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string id = "request-" + std::to_string(i);
    const bool once = Sampled(id, 0.3);
    EXPECT_EQ(once, Sampled(id, 0.3));
    sampled += once ? 1 : 0;
  }
  EXPECT_GT(sampled, 2700);
  EXPECT_LT(sampled, 3300);
  EXPECT_TRUE(Sampled("x", 1.0));
  EXPECT_FALSE(Sampled("x", 0.0));
}

}  // namespace
}  // namespace protoserve
