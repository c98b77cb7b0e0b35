// HtmlReport (declared in report.h): one self-contained page per bench run.
#include <cstdio>

#include "cli/bench/report.h"
#include "cli/bench/svg_chart.h"

namespace protoserve::cli::bench {

namespace {

std::string Fmt(const char* format, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, v);
  return buffer;
}

std::string RunLabel(const RunResult& r) {
  return r.plan.rate > 0 ? "rate " + Fmt("%.0f", r.plan.rate) + " c=" + std::to_string(r.plan.concurrency)
                         : "c=" + std::to_string(r.plan.concurrency);
}

std::string SummaryTable(const std::vector<RunResult>& runs) {
  std::string html =
      "<table><tr><th>mode</th><th>run</th><th>requests</th><th>errors</th><th>qps</th><th>p50 ms</th>"
      "<th>p90 ms</th><th>p95 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>mean ms</th>"
      "<th>req bytes</th><th>resp bytes</th><th>client CPU (cores)</th></tr>\n";
  for (const RunResult& r : runs) {
    const LatencySummary& l = r.latency;
    html += "<tr><td>" + XmlEscape(r.mode) + "</td><td>" + XmlEscape(RunLabel(r)) + "</td><td>" +
            std::to_string(r.requests) + "</td><td>" + XmlEscape(ErrorsToString(r.errors)) + "</td>";
    for (double v : {r.qps}) html += "<td>" + Fmt("%.1f", v) + "</td>";
    for (double v : {l.p50, l.p90, l.p95, l.p99, l.p999, l.max, l.mean}) html += "<td>" + Fmt("%.3f", v) + "</td>";
    for (double v : {r.request_bytes, r.response_bytes}) html += "<td>" + Fmt("%.0f", v) + "</td>";
    html += "<td>" + Fmt("%.2f", r.client_cpu_cores) + "</td></tr>\n";
  }
  return html + "</table>\n";
}

std::string SweepChart(const std::vector<RunResult>& runs) {
  Series p50{"p50", "#1f77b4", {}}, p99{"p99", "#d62728", {}, "6,3"};
  for (const RunResult& r : runs) {
    p50.points.push_back({r.qps, r.latency.p50, RunLabel(r)});
    p99.points.push_back({r.qps, r.latency.p99, RunLabel(r)});
  }
  Axes axes{"Latency vs throughput", "throughput (successful requests/s)", "latency (ms)", 720, 400};
  return LineChart(axes, {p50, p99});
}

std::string HistogramChart(const RunResult& r) {
  std::vector<Bar> bars;
  for (const HistogramBin& bin : r.histogram) bars.push_back({Fmt("%.3g", bin.lower_ms), static_cast<double>(bin.count)});
  Axes axes{r.mode + " " + RunLabel(r) + ": latency histogram (log-spaced bins)", "latency (ms, bin start)",
            "requests", 720, 300};
  return BarChart(axes, bars, "#2ca02c");
}

}  // namespace

std::string HtmlReport(const std::vector<RunResult>& runs, const std::string& title) {
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + XmlEscape(title) +
      "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222}"
      "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
      "th{background:#f4f4f4}figure{margin:16px 0}</style></head><body>\n<h1>protoserve-cli bench</h1>\n<p><code>" +
      XmlEscape(title) + "</code></p>\n";
  html += SummaryTable(runs);
  html += "<p>Latency is measured from the intended send time to the response, for successful calls only "
          "(exact percentiles, nearest rank). Client CPU is the load generator's own CPU time per second.</p>\n";
  html += "<h2>Sweep</h2>\n<figure>" + SweepChart(runs) + "</figure>\n<h2>Latency histograms</h2>\n";
  for (const RunResult& r : runs) html += "<figure>" + HistogramChart(r) + "</figure>\n";
  return html + "</body></html>\n";
}

}  // namespace protoserve::cli::bench
