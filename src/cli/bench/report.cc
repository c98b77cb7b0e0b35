#include "cli/bench/report.h"

#include <cstdio>

namespace protoserve::cli::bench {

namespace {

uint64_t ErrorCount(const RunResult& r) { return r.requests - r.successes; }

std::string Fixed(double v, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, v);
  return buffer;
}

}  // namespace

std::string ErrorsToString(const std::map<std::string, uint64_t>& errors) {
  std::string out;
  for (const auto& [name, count] : errors) {
    if (!out.empty()) out += ';';
    out += name + "=" + std::to_string(count);
  }
  return out;
}

nlohmann::ordered_json RunsToJson(const std::vector<RunResult>& runs) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const RunResult& r : runs) {
    nlohmann::ordered_json run = {
        {"mode", r.mode},
        {"target", r.target},
        {"concurrency", r.plan.concurrency},
        {"rate", r.plan.rate > 0 ? nlohmann::ordered_json(r.plan.rate) : nlohmann::ordered_json(nullptr)},
        {"requests", r.requests},
        {"successes", r.successes},
        {"errors", r.errors},
        {"duration_s", r.duration_s},
        {"qps", r.qps},
        {"latency_ms",
         {{"p50", r.latency.p50}, {"p90", r.latency.p90}, {"p95", r.latency.p95}, {"p99", r.latency.p99},
          {"p999", r.latency.p999}, {"max", r.latency.max}, {"mean", r.latency.mean}}},
        {"request_bytes", r.request_bytes},
        {"response_bytes", r.response_bytes},
        {"client_cpu_cores", r.client_cpu_cores},
    };
    if (r.plan.rate > 0) run["send_lag_ms"] = {{"p99", r.send_lag_p99_ms}, {"max", r.send_lag_max_ms}};
    nlohmann::ordered_json histogram = nlohmann::ordered_json::array();
    for (const HistogramBin& bin : r.histogram) {
      histogram.push_back({{"lower_ms", bin.lower_ms}, {"upper_ms", bin.upper_ms}, {"count", bin.count}});
    }
    run["histogram"] = std::move(histogram);
    list.push_back(std::move(run));
  }
  return {{"runs", list}};
}

void PrintTable(std::ostream& out, const std::vector<RunResult>& runs) {
  char line[512];
  std::snprintf(line, sizeof(line), "%-15s %5s %8s %9s %7s %10s %8s %8s %8s %8s %8s %8s %8s %8s %8s %6s\n", "mode",
                "conc", "rate", "requests", "errors", "qps", "p50ms", "p90ms", "p95ms", "p99ms", "p99.9ms", "maxms",
                "meanms", "reqB", "respB", "cpu");
  out << line;
  for (const RunResult& r : runs) {
    const LatencySummary& l = r.latency;
    std::snprintf(line, sizeof(line),
                  "%-15s %5d %8s %9llu %7llu %10.1f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.0f %8.0f %6.2f\n",
                  r.mode.c_str(), r.plan.concurrency, r.plan.rate > 0 ? Fixed(r.plan.rate, 0).c_str() : "-",
                  static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(ErrorCount(r)), r.qps,
                  l.p50, l.p90, l.p95, l.p99, l.p999, l.max, l.mean, r.request_bytes, r.response_bytes,
                  r.client_cpu_cores);
    out << line;
  }
  for (const RunResult& r : runs) {
    if (!r.errors.empty()) {
      out << "errors at concurrency " << r.plan.concurrency << ": " << ErrorsToString(r.errors) << "\n";
    }
    if (r.plan.rate > 0 && r.send_lag_p99_ms > 1) {
      out << "note: at rate " << Fixed(r.plan.rate, 0) << " sends lagged their schedule (p99 "
          << Fixed(r.send_lag_p99_ms, 2) << " ms): the client or --concurrency " << r.plan.concurrency
          << " limited the rate; latencies include that wait\n";
    }
  }
  out << "latency: ms from the (intended) send to the response, successful calls; cpu: cores used by this client\n";
}

void PrintCsv(std::ostream& out, const std::vector<RunResult>& runs) {
  out << "mode,target,concurrency,rate,requests,successes,errors,duration_s,qps,p50_ms,p90_ms,p95_ms,p99_ms,p999_ms,"
         "max_ms,mean_ms,request_bytes,response_bytes,client_cpu_cores\n";
  for (const RunResult& r : runs) {
    const LatencySummary& l = r.latency;
    out << r.mode << ',' << r.target << ',' << r.plan.concurrency << ','
        << (r.plan.rate > 0 ? Fixed(r.plan.rate, 3) : "") << ',' << r.requests << ',' << r.successes << ','
        << ErrorsToString(r.errors) << ',' << Fixed(r.duration_s, 6) << ',' << Fixed(r.qps, 3) << ','
        << Fixed(l.p50, 6) << ',' << Fixed(l.p90, 6) << ',' << Fixed(l.p95, 6) << ',' << Fixed(l.p99, 6) << ','
        << Fixed(l.p999, 6) << ',' << Fixed(l.max, 6) << ',' << Fixed(l.mean, 6) << ',' << Fixed(r.request_bytes, 1)
        << ',' << Fixed(r.response_bytes, 1) << ',' << Fixed(r.client_cpu_cores, 3) << '\n';
  }
}

}  // namespace protoserve::cli::bench
