// ProcessMetrics: the standard `process_*` metrics of the Prometheus client
// libraries (client_golang's process collector), read from /proc/self at
// each scrape: process_cpu_seconds_total (a counter), resident and virtual
// memory, open file descriptors, threads and start time (gauges).
//
// A Collectable rather than gauges set before each scrape: the values are
// read and typed at collection, so two concurrent scrapes never race on
// shared gauges, and the CPU time is a counter as Prometheus' linter
// (`promtool check metrics`) requires.
// Thread-safety: Collect may be called from any thread, concurrently.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace protoserve {

class ProcessMetrics : public prometheus::Collectable {
 public:
  ProcessMetrics();

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const double start_time_seconds_;  // since the Unix epoch, read once
};

}  // namespace protoserve
