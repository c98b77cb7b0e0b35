#include "core/batch_span_processor.h"

#include <algorithm>

namespace protoserve {

BatchSpanProcessor::BatchSpanProcessor(BatchSpanOptions options, std::unique_ptr<SpanExporter> exporter)
    : options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : SteadySchedulerClock()),
      exporter_(std::move(exporter)) {
  // The first schedule delay counts from construction, not from when the thread runs.
  thread_ = std::thread([this, first = clock_.Now() + options_.schedule_delay] { Run(first); });
}

BatchSpanProcessor::~BatchSpanProcessor() { Shutdown(); }

void BatchSpanProcessor::Submit(std::vector<SpanData> spans) {
  uint64_t dropped = 0;
  bool wake = false;
  {
    MutexLock lock(mu_);
    for (SpanData& span : spans) {
      if (stopping_ || queue_.size() >= options_.max_queue_size) {
        ++dropped;
        continue;
      }
      queue_.push_back(std::move(span));
    }
    wake = queue_.size() >= std::max<size_t>(1, options_.max_export_batch_size);
  }
  if (wake) cv_.notify_one();
  if (dropped > 0) {
    dropped_.fetch_add(dropped, std::memory_order_relaxed);
    if (options_.on_dropped) options_.on_dropped(dropped);
  }
}

void BatchSpanProcessor::Shutdown() {
  {
    MutexLock lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchSpanProcessor::ExportBatch(std::vector<SpanData> batch) {
  const uint64_t count = batch.size();
  if (exporter_->Export(batch).ok()) {
    exported_.fetch_add(count, std::memory_order_relaxed);
    if (options_.on_exported) options_.on_exported(count);
  } else {
    failed_.fetch_add(count, std::memory_order_relaxed);
    if (options_.on_failed) options_.on_failed(count);
  }
}

void BatchSpanProcessor::Run(Clock::time_point first_export) {
  const size_t max_batch = std::max<size_t>(1, options_.max_export_batch_size);
  MutexLock lock(mu_);
  auto next_export = first_export;
  while (true) {
    const bool full = queue_.size() >= max_batch;
    if (!full && !stopping_ && clock_.Now() < next_export) {
      clock_.WaitUntil(cv_, lock.native(), next_export);
      continue;  // re-check: woken early, a full batch, or stopping
    }
    if (queue_.empty()) {
      if (stopping_) return;
      next_export = clock_.Now() + options_.schedule_delay;
      continue;
    }
    // One batch per turn; when stopping, everything queued (bounded by max_queue_size).
    std::vector<SpanData> batch;
    const size_t count = std::min(queue_.size(), max_batch);
    batch.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.Unlock();
    ExportBatch(std::move(batch));
    lock.Lock();
    // A full queue keeps exporting at once; otherwise wait a schedule delay.
    if (queue_.size() < max_batch) next_export = clock_.Now() + options_.schedule_delay;
  }
}

}  // namespace protoserve
