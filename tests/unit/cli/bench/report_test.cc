#include "cli/bench/report.h"

#include <gtest/gtest.h>

#include <sstream>

#include "cli/bench/chart_command.h"
#include "cli/bench/svg_chart.h"

namespace protoserve::cli::bench {
namespace {

RunResult FakeRun(int concurrency, double rate = 0) {
  RunResult r;
  r.mode = "grpc-recommend";
  r.target = "127.0.0.1:8001";
  r.plan.concurrency = concurrency;
  r.plan.rate = rate;
  r.requests = 100;
  r.successes = 98;
  r.errors = {{"UNAVAILABLE", 2}};
  r.duration_s = 1;
  r.qps = 98;
  r.latency = {98, 1, 2, 3, 4, 5, 6, 0.5, 1.5};
  r.histogram = {{0.5, 1, 50}, {1, 6, 48}};
  r.request_bytes = 143;
  r.response_bytes = 188;
  return r;
}

TEST(ReportTest, JsonHasTheDocumentedFields) {
  const auto j = RunsToJson({FakeRun(1), FakeRun(8, 500)});
  ASSERT_EQ(j["runs"].size(), 2u);
  const auto& run = j["runs"][0];
  for (const char* key : {"mode", "target", "concurrency", "rate", "requests", "errors", "duration_s", "qps",
                          "latency_ms", "request_bytes", "response_bytes"}) {
    EXPECT_TRUE(run.contains(key)) << key;
  }
  for (const char* key : {"p50", "p90", "p95", "p99", "p999", "max", "mean"}) {
    EXPECT_TRUE(run["latency_ms"].contains(key)) << key;
  }
  EXPECT_TRUE(run["rate"].is_null());
  EXPECT_FALSE(run.contains("send_lag_ms"));
  EXPECT_EQ(run["errors"]["UNAVAILABLE"], 2);
  EXPECT_EQ(run["latency_ms"]["p999"], 5.0);
  EXPECT_EQ(j["runs"][1]["rate"], 500.0);
  EXPECT_TRUE(j["runs"][1].contains("send_lag_ms"));
  ASSERT_EQ(run["histogram"].size(), 2u);
  EXPECT_EQ(run["histogram"][1]["lower_ms"], 1.0);
  EXPECT_EQ(run["histogram"][1]["upper_ms"], 6.0);
  EXPECT_EQ(run["histogram"][1]["count"], 48);
}

TEST(ReportTest, CsvHasOneRowPerRun) {
  std::ostringstream out;
  PrintCsv(out, {FakeRun(1), FakeRun(4)});
  std::string header, row;
  std::istringstream lines(out.str());
  std::getline(lines, header);
  EXPECT_EQ(header.rfind("mode,target,concurrency,rate,requests,", 0), 0u);
  int rows = 0;
  while (std::getline(lines, row)) {
    ++rows;
    EXPECT_EQ(std::count(row.begin(), row.end(), ','), std::count(header.begin(), header.end(), ',')) << row;
    EXPECT_NE(row.find("UNAVAILABLE=2"), std::string::npos);
  }
  EXPECT_EQ(rows, 2);
}

TEST(ReportTest, TableMentionsErrors) {
  std::ostringstream out;
  PrintTable(out, {FakeRun(1)});
  EXPECT_NE(out.str().find("grpc-recommend"), std::string::npos);
  EXPECT_NE(out.str().find("UNAVAILABLE=2"), std::string::npos);
}

TEST(ReportTest, HtmlIsSelfContainedWithCharts) {
  const std::string html = HtmlReport({FakeRun(1), FakeRun(8)}, "bench <test>");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("Latency vs throughput"), std::string::npos);
  EXPECT_NE(html.find("bench &lt;test&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no external resources
  // One sweep chart and one histogram per run.
  size_t svgs = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) ++svgs;
  EXPECT_EQ(svgs, 3u);
}

TEST(SvgChartTest, NiceSteps) {
  EXPECT_DOUBLE_EQ(NiceStep(10, 5), 2);
  EXPECT_DOUBLE_EQ(NiceStep(9, 5), 2);
  EXPECT_DOUBLE_EQ(NiceStep(23000, 5), 5000);
  EXPECT_DOUBLE_EQ(NiceStep(0.7, 5), 0.2);
  EXPECT_DOUBLE_EQ(NiceStep(0, 5), 1);
}

TEST(SvgChartTest, ChartsEscapeText) {
  const std::string line = LineChart({"a<b", "x&y", "y", 300, 200}, {{"s\"1", "red", {{1, 2, "c=1"}, {2, 3, ""}}}});
  EXPECT_NE(line.find("a&lt;b"), std::string::npos);
  EXPECT_NE(line.find("x&amp;y"), std::string::npos);
  EXPECT_NE(line.find("s&quot;1"), std::string::npos);
  EXPECT_NE(line.find("<polyline"), std::string::npos);
  const std::string bars = BarChart({"h", "ms", "n", 300, 200}, {{"0.1", 3}, {"0.2", 0}}, "green");
  EXPECT_NE(bars.find("<rect"), std::string::npos);
  EXPECT_EQ(bars.find("nan"), std::string::npos);
  // Empty input still draws valid axes.
  EXPECT_NE(LineChart({"t", "x", "y"}, {}).find("</svg>"), std::string::npos);
  EXPECT_NE(BarChart({"t", "x", "y"}, {}, "blue").find("</svg>"), std::string::npos);
}

TEST(SvgChartTest, TickLabels) {
  EXPECT_EQ(TickLabel(0.25), "0.25");
  EXPECT_EQ(TickLabel(500), "500");
  EXPECT_EQ(TickLabel(5000), "5k");
  EXPECT_EQ(TickLabel(20000), "20k");
  EXPECT_EQ(TickLabel(1.5e6), "1.5M");
}

TEST(SvgChartTest, LogAxesTickDecadesAndSkipNonPositivePoints) {
  Axes axes{"bytes", "elements", "bytes", 640, 360};
  axes.log_x = axes.log_y = true;
  const std::string svg =
      LineChart(axes, {{"json", "red", {{32, 700, ""}, {131072, 2.6e6, ""}, {0, 5, "dropped"}}, "4,2"}});
  EXPECT_NE(svg.find(">10<"), std::string::npos);      // x decades from 10 ...
  EXPECT_NE(svg.find(">1M<"), std::string::npos);      // ... to 1M
  EXPECT_NE(svg.find(">100<"), std::string::npos);     // y decades from 100 ...
  EXPECT_NE(svg.find(">10M<"), std::string::npos);     // ... to 10M
  EXPECT_NE(svg.find("(log scale)"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray=\"4,2\""), std::string::npos);
  EXPECT_EQ(svg.find("dropped"), std::string::npos);  // x = 0 has no place on a log axis
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(ChartCommandTest, DrawsLineAndBarSpecs) {
  const auto line = ChartFromJson(nlohmann::json::parse(
      R"({"type":"line","title":"p50 vs qps","log_y":true,
          "series":[{"name":"protoserve gRPC","color":"#1f77b4","points":[{"x":100,"y":0.2,"label":"c=1"}]}]})"));
  EXPECT_NE(line.find("p50 vs qps"), std::string::npos);
  EXPECT_NE(line.find("protoserve gRPC"), std::string::npos);
  EXPECT_NE(line.find("c=1"), std::string::npos);
  const auto bar = ChartFromJson(nlohmann::json::parse(
      R"({"type":"bar","title":"qps","bars":[{"label":"on","value":3668},{"label":"off","value":3122}]})"));
  EXPECT_NE(bar.find(">on<"), std::string::npos);
  EXPECT_NE(bar.find(">3668<"), std::string::npos);  // centered labels show values
  // ... with room above the tallest bar: the axis goes past 3668 * 1.12 (to 5k).
  EXPECT_NE(bar.find(">5k<"), std::string::npos);
  EXPECT_THROW(ChartFromJson(nlohmann::json::parse(R"({"type":"pie","bars":[]})")), std::invalid_argument);
  EXPECT_THROW(ChartFromJson(nlohmann::json::parse(R"({"type":"line"})")), std::invalid_argument);
  EXPECT_THROW(ChartFromJson(nlohmann::json::parse(R"({"type":"bar","bars":[{"label":"x"}]})")),
               std::invalid_argument);
}

}  // namespace
}  // namespace protoserve::cli::bench
