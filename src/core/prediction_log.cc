#include "core/prediction_log.h"

#include <spdlog/spdlog.h>

namespace protoserve {

PredictionLogWriter::PredictionLogWriter(std::unique_ptr<LogSink> sink, LogWriterOptions options, Metrics* metrics)
    : sink_(std::move(sink)),
      options_(options),
      clock_(options.clock ? *options.clock : SteadySchedulerClock()) {
  if (metrics) {
    auto& family = prometheus::BuildCounter()
                       .Name("protoserve_prediction_log_entries_total")
                       .Help("Prediction log entries by sink and result: written, dropped (queue full), failed "
                             "(the sink refused the batch)")
                       .Register(*metrics->registry());
    written_counter_ = &family.Add({{"sink", sink_->name()}, {"result", "written"}});
    dropped_counter_ = &family.Add({{"sink", sink_->name()}, {"result", "dropped"}});
    failed_counter_ = &family.Add({{"sink", sink_->name()}, {"result", "failed"}});
  }
  thread_ = std::thread([this] { Run(); });
}

PredictionLogWriter::~PredictionLogWriter() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

bool PredictionLogWriter::Push(LogEntry entry) {
  {
    MutexLock lock(mu_);
    if (!stopping_ && queue_.size() < options_.capacity) {
      queue_.push_back(std::move(entry));
      ++pushed_;
      const bool full_batch = queue_.size() == options_.max_batch;
      lock.Unlock();
      if (full_batch) work_cv_.notify_one();
      return true;
    }
  }
  dropped_.fetch_add(1, std::memory_order_relaxed);
  if (dropped_counter_) dropped_counter_->Increment();
  return false;
}

void PredictionLogWriter::Flush() {
  MutexLock lock(mu_);
  const uint64_t target = pushed_;
  ++flush_waiters_;
  work_cv_.notify_one();
  while (finished_ < target) done_cv_.wait(lock.native());
  --flush_waiters_;
}

void PredictionLogWriter::Run() {
  // Retention runs once at start (a restarted server prunes at once), then every interval.
  Clock::time_point next_maintenance = clock_.Now();
  Clock::time_point next_flush = clock_.Now() + options_.flush_interval;
  std::vector<LogEntry> batch;
  for (;;) {
    bool stop = false;
    {
      MutexLock lock(mu_);
      const Clock::time_point wake = std::min(next_flush, next_maintenance);
      while (queue_.size() < options_.max_batch && !stopping_ && (flush_waiters_ == 0 || queue_.empty()) &&
             clock_.Now() < wake) {
        clock_.WaitUntil(work_cv_, lock.native(), wake);
      }
      if (clock_.Now() >= next_flush) next_flush = clock_.Now() + options_.flush_interval;
      stop = queue_.empty() && stopping_;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) {
      const auto n = static_cast<int64_t>(batch.size());
      if (Status s = sink_->Write(batch); s.ok()) {
        written_.fetch_add(n);
        if (written_counter_) written_counter_->Increment(static_cast<double>(n));
      } else {
        failed_.fetch_add(n);
        if (failed_counter_) failed_counter_->Increment(static_cast<double>(n));
        spdlog::warn("prediction log ({}): {} entries not written: {}", sink_->name(), n, s.message());
      }
    }
    // The next run is due an interval after this one started (read before
    // Maintain: time may move while it runs, and a test that sees it done
    // advances the clock at once).
    if (const Clock::time_point now = clock_.Now(); now >= next_maintenance) {
      next_maintenance = now + options_.maintenance_interval;
      sink_->Maintain(std::chrono::system_clock::now());
    }
    {
      MutexLock lock(mu_);
      finished_ += batch.size();
    }
    batch.clear();
    done_cv_.notify_all();
    if (stop) return;
  }
}

}  // namespace protoserve
