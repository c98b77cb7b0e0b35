// Options of `protoserve-cli bench` and the parsers for their text forms.
// The parsers are pure and throw std::invalid_argument with a message that
// names the flag's expected form.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cli/bench/payloads.h"

namespace protoserve::cli::bench {

struct BenchOptions {
  std::string mode = "grpc-recommend";  // see kModes
  std::string target = "127.0.0.1:8001";
  std::string http_target = "127.0.0.1:8000";
  PayloadOptions payload;
  std::string concurrency;  // "1,2,4"; empty: 1 (closed loop) or 64 (open loop)
  std::string rate;         // "500" or "100,200,400" requests/s; empty: closed loop
  std::string duration = "10s";
  std::string warmup = "2s";
  uint64_t requests = 0;  // > 0: this many recorded requests per run instead of --duration
  int connections = 0;    // 0: gRPC 1 channel; REST one connection per concurrent request
  int http_threads = 2;
  std::vector<std::string> metadata;  // "key=value"
  double timeout_secs = 10;
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  std::string format = "table";
  std::string html;
  bool progress = true;
  // `bench chart SPEC`: draw a chart instead of running load.
  std::string chart_spec, chart_out;
};

inline const std::vector<std::string> kModes = {"grpc-recommend", "grpc-stream", "grpc-infer", "rest-recommend",
                                                "rest-infer"};

// "10s", "500ms", "250us", "2m", "1.5" (seconds). Must be >= 0.
std::chrono::nanoseconds ParseDuration(const std::string& text);
// "1,2,4,8": positive integers.
std::vector<int> ParseIntList(const std::string& text);
// "100,250.5": positive numbers.
std::vector<double> ParseRateList(const std::string& text);
// "Key=value" -> {"key", "value"} (gRPC metadata keys are lowercase).
std::pair<std::string, std::string> ParseMetadata(const std::string& text);

}  // namespace protoserve::cli::bench
