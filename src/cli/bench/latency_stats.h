// Latency statistics of one benchmark run, computed exactly.
//
// A run keeps every successful call's latency (nanoseconds, steady clock) in a
// plain vector; Summarize() sorts it once at the end. Percentiles are
// nearest-rank over the sorted samples (the value at rank ceil(q/100 * n),
// as HdrHistogram and ghz report them): every reported value is a latency
// that was actually observed, exact to the clock's 1 ns resolution, p0 is the
// minimum and p100 the maximum. 100k samples cost 800 KB and a few ms to
// sort, far cheaper than the run that produced them.
//
// Pure functions and values; no threads, no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace protoserve::cli::bench {

// Nearest-rank percentile `q` in [0, 100] of ascending `sorted` samples.
// Returns 0 for no samples.
int64_t Percentile(std::span<const int64_t> sorted, double q);

struct LatencySummary {
  uint64_t count = 0;
  // All in milliseconds; 0 when count == 0.
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0, max = 0, min = 0, mean = 0;
};

// Sorts `samples_ns` in place and summarises them.
LatencySummary Summarize(std::vector<int64_t>& samples_ns);

// One bar of a latency histogram: samples in [lower_ms, upper_ms).
struct HistogramBin {
  double lower_ms = 0;
  double upper_ms = 0;
  uint64_t count = 0;
};

// A histogram of ascending `sorted` samples over logarithmically spaced bins
// with fixed edges, 10^(k / bins_per_decade) ns for integer k (so 0.1 ms,
// 1 ms, 10 ms are always edges): latency tails are long, so log spacing keeps
// both the body and the tail visible, and fixed edges make the histograms of
// different runs comparable bin for bin. Bins run from the one holding the
// minimum to the one holding the maximum, empty ones included. Samples below
// 1 ns count as 1 ns.
std::vector<HistogramBin> LogHistogram(std::span<const int64_t> sorted, int bins_per_decade);

}  // namespace protoserve::cli::bench
