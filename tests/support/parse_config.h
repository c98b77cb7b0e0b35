// Test support: a config.pbtxt text parsed for a model called "m"; a parse
// error fails the calling test (and gives an empty config).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/model_config.h"

namespace protoserve::testing {

inline ModelConfig ParseConfigOrFail(const std::string& text) {
  auto parsed = ParseModelConfig(text, "m");
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  return parsed.ok() ? *parsed : ModelConfig();
}

}  // namespace protoserve::testing
