// Output of `protoserve-cli bench`: the runs as a terminal table, JSON, CSV,
// or a self-contained HTML page (inline SVG charts, no scripts, no network).
//
// JSON: {"runs":[{"mode","target","concurrency","rate","requests","successes",
//   "errors":{name:count},"duration_s","qps","latency_ms":{"p50","p90","p95",
//   "p99","p999","max","mean"},"request_bytes","response_bytes",
//   "client_cpu_cores","send_lag_ms":{"p99","max"},
//   "histogram":[{"lower_ms","upper_ms","count"}]}]}
// "rate" is null for closed-loop runs; "send_lag_ms" is present for
// open-loop runs only. Latencies are in ms, bytes are means per request.
// "histogram" is LogHistogram's (latency_stats.h): 10 bins per decade with
// fixed edges, so the histograms of different runs line up.
// Pure functions of their input.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "cli/bench/load_runner.h"

namespace protoserve::cli::bench {

nlohmann::ordered_json RunsToJson(const std::vector<RunResult>& runs);
void PrintTable(std::ostream& out, const std::vector<RunResult>& runs);
void PrintCsv(std::ostream& out, const std::vector<RunResult>& runs);

// "UNAVAILABLE=3;HTTP_503=1" (empty when there were no errors).
std::string ErrorsToString(const std::map<std::string, uint64_t>& errors);

// The HTML report; `title` heads the page (e.g. the command line).
std::string HtmlReport(const std::vector<RunResult>& runs, const std::string& title);

}  // namespace protoserve::cli::bench
