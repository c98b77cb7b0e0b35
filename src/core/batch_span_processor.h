// BatchSpanProcessor: takes finished spans from request threads and hands
// them, in batches, to a SpanExporter on a thread of its own: the
// OpenTelemetry SDK's batch span processor (OTEL_BSP_* settings).
//
// Submit() never blocks on the exporter and never waits for room: past
// `max_queue_size` queued spans, new ones are dropped and counted (a slow or
// dead collector costs memory up to the bound, and no request time). The
// export thread wakes when `max_export_batch_size` spans are queued, or
// `schedule_delay` after its last export, and exports batches of at most
// `max_export_batch_size`; the exporter bounds each export's time itself
// (OTEL_BSP_EXPORT_TIMEOUT). Shutdown() exports what is queued once, then
// joins.
//
// Thread-safety: Submit() and the counters may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "core/scheduler.h"
#include "core/span_data.h"
#include "core/status.h"
#include "core/thread_annotations.h"

namespace protoserve {

class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  // Called on the processor's thread only, one batch at a time. Returns
  // within the exporter's own timeout.
  virtual Status Export(std::vector<SpanData>& spans) = 0;
};

struct BatchSpanOptions {
  Clock::duration schedule_delay = std::chrono::milliseconds(5000);  // OTEL_BSP_SCHEDULE_DELAY
  size_t max_queue_size = 2048;                                      // OTEL_BSP_MAX_QUEUE_SIZE
  size_t max_export_batch_size = 512;                                // OTEL_BSP_MAX_EXPORT_BATCH_SIZE
  // Told of spans dropped (queue full) or exported/failed, with their number;
  // optional (the Prometheus counters, telemetry/trace_metrics.h).
  std::function<void(uint64_t)> on_dropped;
  std::function<void(uint64_t)> on_exported;
  std::function<void(uint64_t)> on_failed;
  const SchedulerClock* clock = nullptr;  // null: steady_clock
};

class BatchSpanProcessor {
 public:
  // `exporter` must not be null. Starts the export thread.
  BatchSpanProcessor(BatchSpanOptions options, std::unique_ptr<SpanExporter> exporter);
  ~BatchSpanProcessor();  // Calls Shutdown().

  // Queues `spans` (all of one request or batch); what does not fit is dropped.
  void Submit(std::vector<SpanData> spans);
  // Stops accepting, exports what is queued, joins the thread.
  void Shutdown();

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t exported() const { return exported_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  // `first_export`: when the first (partial) batch is due.
  void Run(Clock::time_point first_export);
  void ExportBatch(std::vector<SpanData> batch);

  const BatchSpanOptions options_;
  const SchedulerClock& clock_;
  const std::unique_ptr<SpanExporter> exporter_;

  Mutex mu_;
  std::condition_variable cv_;  // waits on mu_: a full batch queued, or stopping
  std::deque<SpanData> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> exported_{0};
  std::atomic<uint64_t> failed_{0};
  std::thread thread_;  // touched only by the constructor and Shutdown
};

}  // namespace protoserve
