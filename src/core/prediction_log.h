// The prediction log: what was predicted (and later, what users did), written
// off the request path.
//
// A PredictionLogWriter owns one LogSink (SQLite, CloudEvents over HTTP, a
// test fake) and one writer thread. The request path calls Push(), which
// never blocks on the sink: it appends to a bounded queue under a short lock,
// or, when the queue is full, drops the entry and counts it
// (protoserve_prediction_log_entries_total{sink,result="dropped"}). The
// writer thread takes up to `max_batch` entries at a time and hands them to
// the sink in one Write() (one SQLite transaction) when `max_batch` are
// queued or every `flush_interval` (so a prediction pays no thread wake-up:
// the writer is only woken when a whole batch waits), and asks the sink to
// apply its retention every `maintenance_interval` of the injected clock.
//
// Thread-safety: Push() and the counters may be called from any thread.
#pragma once

#include <prometheus/counter.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "core/metrics.h"
#include "core/request_observer.h"
#include "core/scheduler.h"
#include "core/thread_annotations.h"
#include "core/wall_time.h"

namespace protoserve {

// What one answered prediction produced, in a bounded form.
struct OutputSummary {
  enum class Kind { kNone, kItems, kClass, kValue, kDigest };
  Kind kind = Kind::kNone;
  std::vector<std::string> items;  // kItems: returned item ids, best first
  std::string label;               // kClass: the argmax class label (or its index as text)
  int64_t class_index = -1;        // kClass
  float score = 0;                 // kClass: the argmax score; kValue: the value
  std::string digest;              // kDigest: dtype, shape and FNV-1a 64 of the bytes
  int64_t rows = 1;                // rows of the prediction (feedback joins single rows only)
};

struct PredictionRecord {
  std::string request_id;
  WallTime time;
  std::string model;
  int64_t version = 0;
  Api api = Api::kGrpc;
  std::string routing_key;  // the user id for the Recommender, else the KServe routing key
  OutputSummary output;
  std::chrono::microseconds latency{0};  // facade entry -> answer
};

struct FeedbackRecord {
  std::string request_id;
  WallTime time;  // the event's time (the client's, or when received)
  std::string model;
  int64_t version = 0;
  std::string user_id;
  std::vector<std::string> clicked;  // recommender feedback
  std::vector<std::string> bought;
  std::string label;  // classifier feedback
  bool has_value = false;
  double value = 0;  // regressor feedback
  // The join's outcome: matched items (recommender) or 1/0 correct (classifier).
  int64_t matched = 0;
};

using LogEntry = std::variant<PredictionRecord, FeedbackRecord>;

// Where a writer puts its batches. Called from the writer thread only.
class LogSink {
 public:
  virtual ~LogSink() = default;
  // A short name for metrics and logs ("sqlite", "cloudevents").
  virtual const char* name() const = 0;
  // Writes `batch` (oldest first). An error is logged and the batch counted as failed.
  virtual Status Write(std::span<const LogEntry> batch) = 0;
  // Applies retention (e.g. deletes rows older than a max age); `now` is wall time.
  virtual void Maintain(WallTime /*now*/) {}
};

struct LogWriterOptions {
  size_t capacity = 65536;  // queued entries; more are dropped
  size_t max_batch = 512;   // entries per Write(); a full batch wakes the writer
  // Entries wait at most this long (on the injected clock) before they are written.
  Clock::duration flush_interval = std::chrono::milliseconds(200);
  // How often the sink's retention runs, on the injected clock.
  Clock::duration maintenance_interval = std::chrono::seconds(60);
  const SchedulerClock* clock = nullptr;  // null: the steady clock
};

class PredictionLogWriter {
 public:
  // `metrics` may be null. Starts the writer thread.
  PredictionLogWriter(std::unique_ptr<LogSink> sink, LogWriterOptions options, Metrics* metrics);
  // Writes what is queued, then stops the thread.
  ~PredictionLogWriter();
  PredictionLogWriter(const PredictionLogWriter&) = delete;
  PredictionLogWriter& operator=(const PredictionLogWriter&) = delete;

  // Never blocks on the sink; false (and counted) when the queue is full or stopped.
  bool Push(LogEntry entry);
  // Blocks until everything pushed before the call was handed to the sink.
  void Flush();

  int64_t written() const { return written_.load(); }
  int64_t dropped() const { return dropped_.load(); }
  int64_t failed() const { return failed_.load(); }
  const char* sink_name() const { return sink_->name(); }

 private:
  void Run();

  const std::unique_ptr<LogSink> sink_;
  const LogWriterOptions options_;
  const SchedulerClock& clock_;
  std::atomic<int64_t> written_{0}, dropped_{0}, failed_{0};
  prometheus::Counter* written_counter_ = nullptr;
  prometheus::Counter* dropped_counter_ = nullptr;
  prometheus::Counter* failed_counter_ = nullptr;

  Mutex mu_;
  std::condition_variable work_cv_;  // the writer waits on mu_: a full batch, a flush, stopping
  std::condition_variable done_cv_;  // Flush() waits on mu_: a batch was handed to the sink
  std::deque<LogEntry> queue_ GUARDED_BY(mu_);
  int flush_waiters_ GUARDED_BY(mu_) = 0;
  uint64_t pushed_ GUARDED_BY(mu_) = 0;    // entries accepted so far
  uint64_t finished_ GUARDED_BY(mu_) = 0;  // entries handed to the sink so far
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace protoserve
