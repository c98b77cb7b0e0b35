// VersionHealth: per model version, since the process started, what a
// rollout's error and latency guards read — answered requests, requests
// that failed through the server's fault, and a latency histogram fine
// enough for a p99 (log buckets 10% wide, 10 µs .. 100 s). A request
// observer (request_observer.h) of every loaded version feeds it; shadow
// (mirrored) requests are not counted. Counts of a window are the
// difference of two readings (HealthCounts::Minus).
//
// Errors are the codes that are the server's (or the version's) doing:
// everything but OK, INVALID_ARGUMENT, NOT_FOUND, CANCELLED, UNAUTHENTICATED
// and PERMISSION_DENIED, which a client causes whatever version answers.
//
// Thread-safety: all methods may be called concurrently; the observers it
// hands out record with a few relaxed atomic increments.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "core/request_observer.h"
#include "core/thread_annotations.h"

namespace protoserve {

inline constexpr int kLatencyBuckets = 170;  // 10 µs * 1.1^170 ~ 110 s

struct HealthCounts {
  int64_t ok = 0;
  int64_t errors = 0;
  std::array<int64_t, kLatencyBuckets> latency{};  // OK answers per bucket

  int64_t requests() const { return ok + errors; }
  double error_rate() const { return requests() == 0 ? 0.0 : static_cast<double>(errors) / requests(); }
  // The upper bound (seconds) of the bucket holding the q-quantile of OK
  // answers' latency; 0 when there are none.
  double LatencyQuantile(double q) const;
  HealthCounts Minus(const HealthCounts& earlier) const;
};

// The bucket of a latency, and a bucket's upper bound in seconds.
int LatencyBucket(Clock::duration latency);
double LatencyBucketUpperSeconds(int bucket);
// Whether `code` counts as an error of the version (see above).
bool IsServerError(StatusCode code);

class VersionHealth {
 public:
  VersionHealth() = default;
  // One observer per loaded version; a reloaded version keeps its counts.
  RequestObserverFactory ObserverFactory();
  HealthCounts Counts(const std::string& model, int64_t version) const;

 private:
  struct Cell;
  class Observer;
  std::shared_ptr<Cell> CellFor(const std::string& model, int64_t version);

  mutable Mutex mu_;
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<Cell>> cells_ GUARDED_BY(mu_);
};

}  // namespace protoserve
