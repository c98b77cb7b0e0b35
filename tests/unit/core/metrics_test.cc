// Metrics: which series a loaded version exposes before any traffic (only
// those dashboards and alerts need), that the others appear at their first
// observation and count exactly even when threads race to create them, and
// that the process metrics are typed as Prometheus' linter expects.
#include "core/metrics.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace protoserve {
namespace {

using namespace std::chrono_literals;

// The sample lines (no comments) of an exposition whose name starts with `prefix`.
std::vector<std::string> Samples(const std::string& text, const std::string& prefix) {
  std::vector<std::string> lines;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    if (line.rfind(prefix, 0) == 0) lines.push_back(line);
    at = end + 1;
  }
  return lines;
}

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST(MetricsTest, AVersionStartsWithTheSeriesDashboardsAndAlertsNeed) {
  Metrics metrics;
  ModelMetrics version(&metrics, "m", "1");
  const std::string text = metrics.Serialize();
  // OK and the server-side errors, on the two client-facing APIs: 2 x 5.
  EXPECT_EQ(Samples(text, "protoserve_requests_total{").size(), 2 * kPrecreatedCodes.size()) << text;
  for (const char* api : {"grpc", "http"}) {
    for (const char* code : {"OK", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE"}) {
      EXPECT_TRUE(Has(text, std::string("protoserve_requests_total{api=\"") + api + "\",code=\"" + code +
                                R"(",model="m",version="1"} 0)"))
          << api << " " << code;
    }
  }
  EXPECT_TRUE(Has(text, R"(protoserve_queue_depth{model="m",version="1"} 0)"));
  // Client errors, the shadow API and the histograms wait for their first event.
  EXPECT_FALSE(Has(text, R"(protoserve_requests_total{api="grpc",code="INVALID_ARGUMENT",model="m",version="1"} 0)"));
  EXPECT_TRUE(Samples(text, "protoserve_request_duration_seconds").empty());
  EXPECT_TRUE(Samples(text, "protoserve_queue_duration_seconds").empty());
  EXPECT_TRUE(Samples(text, "protoserve_compute_duration_seconds").empty());
  EXPECT_TRUE(Samples(text, "protoserve_batch_size").empty());
}

TEST(MetricsTest, OtherSeriesAppearWhenObserved) {
  Metrics metrics;
  ModelMetrics version(&metrics, "m", "1");
  version.OnFailed(Api::kShadow, StatusCode::kInvalidArgument, 2ms);
  version.OnCompleted(Api::kHttp, 1ms, BatchTiming{}, 1);
  version.OnExecuted(3, 1ms);
  const std::string text = metrics.Serialize();
  EXPECT_TRUE(Has(text, R"(protoserve_requests_total{api="shadow",code="INVALID_ARGUMENT",model="m",version="1"} 1)"));
  EXPECT_TRUE(Has(text, R"(protoserve_requests_total{api="http",code="OK",model="m",version="1"} 1)"));
  EXPECT_TRUE(Has(text, R"(protoserve_request_duration_seconds_count{api="shadow",model="m",version="1"} 1)"));
  EXPECT_TRUE(Has(text, R"(protoserve_request_duration_seconds_count{api="http",model="m",version="1"} 1)"));
  EXPECT_TRUE(Samples(text, R"(protoserve_request_duration_seconds_count{api="grpc")").empty());
  EXPECT_TRUE(Has(text, R"(protoserve_queue_duration_seconds_count{model="m",version="1"} 1)"));
  EXPECT_TRUE(Has(text, R"(protoserve_batch_size_sum{model="m",version="1"} 3)"));
  EXPECT_TRUE(Has(text, R"(protoserve_compute_duration_seconds_count{model="m",version="1"} 1)"));
  // A code outside gRPC's range counts as UNKNOWN, as before.
  version.OnFailed(Api::kGrpc, static_cast<StatusCode>(99), 1ms);
  EXPECT_TRUE(
      Has(metrics.Serialize(), R"(protoserve_requests_total{api="grpc",code="UNKNOWN",model="m",version="1"} 1)"));
}

TEST(MetricsTest, ThreadsRacingToCreateASeriesCountEveryEvent) {
  Metrics metrics;
  ModelMetrics version(&metrics, "m", "1");
  constexpr int kThreads = 4, kEach = 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        version.OnFailed(Api::kGrpc, StatusCode::kCancelled, 1ms);
        version.OnExecuted(1, 1ms);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const std::string text = metrics.Serialize();
  const std::string total = std::to_string(kThreads * kEach);
  EXPECT_TRUE(Has(text, R"(protoserve_requests_total{api="grpc",code="CANCELLED",model="m",version="1"} )" + total));
  EXPECT_TRUE(Has(text, R"(protoserve_batch_size_count{model="m",version="1"} )" + total));
  EXPECT_TRUE(Has(text, R"(protoserve_request_duration_seconds_count{api="grpc",model="m",version="1"} )" + total));
}

TEST(MetricsTest, ProcessMetricsAreTypedForTheLinter) {
  Metrics metrics;
  const std::string text = metrics.Serialize();
  EXPECT_TRUE(Has(text, "# TYPE process_cpu_seconds_total counter")) << text;
  for (const char* gauge : {"process_open_fds", "process_resident_memory_bytes", "process_start_time_seconds",
                            "process_threads", "process_virtual_memory_bytes"}) {
    EXPECT_TRUE(Has(text, std::string("# TYPE ") + gauge + " gauge")) << gauge;
  }
  std::smatch match;
  ASSERT_TRUE(std::regex_search(text, match, std::regex(R"(\nprocess_threads (\d+)\n)")));
  EXPECT_GE(std::stoi(match[1]), 1);
  ASSERT_TRUE(std::regex_search(text, match, std::regex(R"(\nprocess_start_time_seconds (\S+)\n)")));
  EXPECT_GT(std::stod(match[1]), 1.6e9);  // after 2020: read from /proc, not left at 0
  ASSERT_TRUE(std::regex_search(text, match, std::regex(R"(\nprocess_resident_memory_bytes (\S+)\n)")));
  EXPECT_GT(std::stod(match[1]), 0);
}

}  // namespace
}  // namespace protoserve
