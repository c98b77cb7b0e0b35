#include "telemetry/log_format.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "core/log_context.h"
#include "core/wall_time.h"

namespace protoserve {

namespace {

// %& in the text pattern: " request_id=... trace_id=..." when set.
class RequestIdsFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    const LogContext& context = CurrentLogContext();
    if (!context.request_id.empty()) Append(" request_id=", context.request_id, dest);
    if (!context.trace_id.empty()) Append(" trace_id=", context.trace_id, dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<RequestIdsFlag>(); }

 private:
  static void Append(std::string_view key, std::string_view value, spdlog::memory_buf_t& dest) {
    dest.append(key.data(), key.data() + key.size());
    dest.append(value.data(), value.data() + value.size());
  }
};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    // Fields in this order; the message last (a reader scanning for text in
    // it, e.g. "listening on HOST:PORT", meets no field after it).
    nlohmann::ordered_json line;
    line["time"] = Rfc3339(msg.time);
    const auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string(level.data(), level.size());
    const LogContext& context = CurrentLogContext();
    if (!context.request_id.empty()) line["request_id"] = context.request_id;
    if (!context.trace_id.empty()) line["trace_id"] = context.trace_id;
    line["message"] = std::string(msg.payload.data(), msg.payload.size());
    // Invalid UTF-8 (a client's bytes in a message) is replaced, not thrown.
    const std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

StatusOr<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return InvalidArgument("--log-format=" + std::string(name) + ": text or json");
}

std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format) {
  if (format == LogFormat::kJson) return std::make_unique<JsonFormatter>();
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<RequestIdsFlag>('&').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v%&");
  return formatter;
}

void SetLogFormat(LogFormat format) { spdlog::set_formatter(MakeLogFormatter(format)); }

}  // namespace protoserve
