// LoadRunner: drives one benchmark run over a Transport and measures it.
//
// Closed loop (rate == 0): `concurrency` slots each send their next request as
// soon as the previous one is answered. Open loop (rate > 0): requests are
// sent on the fixed schedule of OpenLoopSchedule, each on a free slot;
// `concurrency` then bounds the requests in flight, and a request that waits
// for a free slot is still timed from its intended send time.
//
// The run first warms up for `warmup` (sent, not recorded), then records every
// request *sent* in the measured window: for `duration`, or exactly
// `requests` requests when that is > 0. Requests in flight at the end are
// awaited and recorded. Latency is recorded for successful calls only; failed
// calls are counted by status name. qps = successful calls / measured wall
// time (window start to the last recorded completion).
//
// Thread-safety: Run() is called once, from one thread; it blocks for the
// whole run. The transport's threads report completions concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli/bench/latency_stats.h"
#include "cli/bench/transport.h"

namespace protoserve::cli::bench {

struct RunPlan {
  int concurrency = 1;
  double rate = 0;  // requests/s; 0 = closed loop
  std::chrono::nanoseconds warmup{0};
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};  // ignored when requests > 0
  uint64_t requests = 0;
};

struct RunResult {
  std::string mode;
  std::string target;
  RunPlan plan;
  uint64_t requests = 0;   // recorded calls, successful or not
  uint64_t successes = 0;  // recorded successful calls
  std::map<std::string, uint64_t> errors;  // status name -> count
  double duration_s = 0;
  double qps = 0;
  LatencySummary latency;
  std::vector<HistogramBin> histogram;  // of the successful calls' latencies
  double request_bytes = 0;   // mean per recorded call
  double response_bytes = 0;  // mean per successful call
  // CPU time of this whole process (all threads) per second of the measured
  // window: 1.0 = one core busy. The cost of the load generator itself.
  double client_cpu_cores = 0;
  // Open loop: how late sends were against their schedule (p99, max), in ms.
  // Large values mean the client (or too small a --concurrency) was the limit.
  double send_lag_p99_ms = 0;
  double send_lag_max_ms = 0;
};

// Live counters for a progress line, sampled a few times per second.
struct Progress {
  double elapsed_s = 0;  // since the measured window began (< 0 in warmup)
  uint64_t completed = 0;
  uint64_t errors = 0;
  double qps = 0;  // successes per second so far in the window
};

class LoadRunner {
 public:
  using ProgressFn = std::function<void(const Progress&)>;

  // `transport` must outlive the runner. `progress`, if set, is called every
  // 250 ms of the measured window from a monitor thread.
  LoadRunner(Transport* transport, RunPlan plan, ProgressFn progress = nullptr);
  ~LoadRunner();

  // Opens the transport, runs the plan, closes the transport.
  RunResult Run();

 private:
  class Impl;
  Transport* transport_;
  RunPlan plan_;
  ProgressFn progress_;
};

}  // namespace protoserve::cli::bench
