#include "cli/bench/latency_stats.h"

#include <algorithm>
#include <cmath>

namespace protoserve::cli::bench {

namespace {
constexpr double kNsPerMs = 1e6;
}  // namespace

int64_t Percentile(std::span<const int64_t> sorted, double q) {
  if (sorted.empty()) return 0;
  q = std::clamp(q, 0.0, 100.0);
  // Rank ceil(q/100 * n), 1-based; rank 0 (q == 0) means the minimum.
  // The small epsilon keeps e.g. 0.99 * 100 = 98.99999999999999 from
  // rounding to rank 100.
  const double exact = q / 100.0 * static_cast<double>(sorted.size());
  auto rank = static_cast<size_t>(std::ceil(exact - 1e-9));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

LatencySummary Summarize(std::vector<int64_t>& samples_ns) {
  LatencySummary s;
  if (samples_ns.empty()) return s;
  std::sort(samples_ns.begin(), samples_ns.end());
  const std::span<const int64_t> sorted(samples_ns);
  auto ms = [&](double q) { return static_cast<double>(Percentile(sorted, q)) / kNsPerMs; };
  s.count = samples_ns.size();
  s.p50 = ms(50);
  s.p90 = ms(90);
  s.p95 = ms(95);
  s.p99 = ms(99);
  s.p999 = ms(99.9);
  s.max = static_cast<double>(sorted.back()) / kNsPerMs;
  s.min = static_cast<double>(sorted.front()) / kNsPerMs;
  long double sum = 0;
  for (int64_t v : sorted) sum += v;
  s.mean = static_cast<double>(sum / sorted.size()) / kNsPerMs;
  return s;
}

std::vector<HistogramBin> LogHistogram(std::span<const int64_t> sorted, int bins_per_decade) {
  std::vector<HistogramBin> out;
  if (sorted.empty() || bins_per_decade <= 0) return out;
  const double per_decade = bins_per_decade;
  // The epsilon puts a sample that sits on an edge (e.g. exactly 1 ms) in the
  // bin that starts there despite log10's rounding.
  auto bin_of = [&](int64_t ns) {
    return static_cast<int64_t>(std::floor(std::log10(std::max<double>(1.0, static_cast<double>(ns))) * per_decade + 1e-9));
  };
  const int64_t first = bin_of(sorted.front());
  out.resize(bin_of(sorted.back()) - first + 1);
  for (size_t i = 0; i < out.size(); ++i) {
    const double k = static_cast<double>(first + static_cast<int64_t>(i));
    out[i].lower_ms = std::pow(10.0, k / per_decade) / kNsPerMs;
    out[i].upper_ms = std::pow(10.0, (k + 1) / per_decade) / kNsPerMs;
  }
  for (int64_t v : sorted) out[bin_of(v) - first].count++;
  return out;
}

}  // namespace protoserve::cli::bench
