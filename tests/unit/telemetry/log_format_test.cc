#include "telemetry/log_format.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/log_context.h"

namespace protoserve {
namespace {

// Lines a logger with `format` writes.
struct Capture {
  explicit Capture(LogFormat format)
      : sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(out)), logger("capture", sink) {
    logger.set_formatter(MakeLogFormatter(format));
  }
  std::ostringstream out;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink;
  spdlog::logger logger;
};

TEST(LogFormatTest, JsonLinesCarryTheRequestsIds) {
  Capture capture(LogFormat::kJson);
  {
    ScopedLogContext ids("req-7", "4bf92f3577b34da6a3ce929d0e0e4736");
    capture.logger.info("HTTP 127.0.0.1 \"POST /v2/models/m/infer\" 200 {}B", 42);
  }
  capture.logger.warn("not about a request: \"quoted\"\n\ttabs");
  std::istringstream lines(capture.out.str());
  std::string first, second;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  const auto a = nlohmann::json::parse(first);
  EXPECT_EQ(a["level"], "info");
  EXPECT_EQ(a["message"], "HTTP 127.0.0.1 \"POST /v2/models/m/infer\" 200 42B");
  EXPECT_EQ(a["request_id"], "req-7");
  EXPECT_EQ(a["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(a["time"].get<std::string>().back(), 'Z');
  const auto b = nlohmann::json::parse(second);  // escaped by the library: still one line
  EXPECT_EQ(b["message"], "not about a request: \"quoted\"\n\ttabs");
  EXPECT_FALSE(b.contains("request_id"));
  EXPECT_FALSE(b.contains("trace_id"));
}

TEST(LogFormatTest, InvalidUtf8IsReplacedNotThrown) {
  Capture capture(LogFormat::kJson);
  capture.logger.info("bad \xff byte");
  EXPECT_NO_THROW(nlohmann::json::parse(capture.out.str()));
}

TEST(LogFormatTest, TextLinesEndWithTheIds) {
  Capture capture(LogFormat::kText);
  {
    ScopedLogContext ids("req-7", "4bf92f3577b34da6a3ce929d0e0e4736");
    capture.logger.info("hello");
  }
  capture.logger.info("plain");
  const std::string text = capture.out.str();
  EXPECT_NE(text.find(" info hello request_id=req-7 trace_id=4bf92f3577b34da6a3ce929d0e0e4736\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find(" info plain\n"), std::string::npos) << text;
}

TEST(LogFormatTest, TraceIdOfATraceresponse) {
  EXPECT_EQ(TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(TraceIdOf(""), "");
  EXPECT_EQ(TraceIdOf("00-short"), "");
  EXPECT_EQ(ParseLogFormat("yaml").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace protoserve
