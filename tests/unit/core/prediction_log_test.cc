// The prediction log writer: batches reach the sink off the caller's thread,
// a full queue drops (and counts) instead of blocking, retention runs on the
// injected clock, and the destructor writes what is queued.
#include "core/prediction_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "support/fake_clock.h"

namespace protoserve {
namespace {

using testing::FakeClock;

// Records batches; Write() can be held (gate) to fill the queue behind it.
class FakeSink : public LogSink {
 public:
  const char* name() const override { return "fake"; }
  Status Write(std::span<const LogEntry> batch) override {
    std::unique_lock lock(mu_);
    ++writes_started_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !held_; });
    entries_ += batch.size();
    return fail_ ? Internal("refused") : Status::Ok();
  }
  void Maintain(WallTime) override {
    std::lock_guard lock(mu_);
    ++maintained_;
    cv_.notify_all();
  }
  void Hold(bool held) {
    std::lock_guard lock(mu_);
    held_ = held;
    cv_.notify_all();
  }
  void WaitForWrites(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return writes_started_ >= n; });
  }
  void WaitForMaintenance(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return maintained_ >= n; });
  }
  size_t entries() {
    std::lock_guard lock(mu_);
    return entries_;
  }
  void set_fail(bool fail) {
    std::lock_guard lock(mu_);
    fail_ = fail;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  bool fail_ = false;
  int writes_started_ = 0;
  int maintained_ = 0;
  size_t entries_ = 0;
};

LogEntry Entry(int i) {
  PredictionRecord record;
  record.request_id = "r" + std::to_string(i);
  return record;
}

TEST(PredictionLogWriterTest, FlushHandsEverythingToTheSinkInBatches) {
  FakeClock clock;
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  PredictionLogWriter writer(std::move(sink), {.capacity = 100, .max_batch = 8, .clock = &clock}, nullptr);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(writer.Push(Entry(i)));
  writer.Flush();
  EXPECT_EQ(fake->entries(), 20u);
  EXPECT_EQ(writer.written(), 20);
  EXPECT_EQ(writer.dropped(), 0);
}

TEST(PredictionLogWriterTest, AFullQueueDropsAndCountsNeverBlocks) {
  FakeClock clock;
  Metrics metrics;
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  fake->Hold(true);
  PredictionLogWriter writer(std::move(sink), {.capacity = 4, .max_batch = 1, .clock = &clock}, &metrics);
  // The first entry is taken by the writer, which then waits in the held sink.
  ASSERT_TRUE(writer.Push(Entry(0)));
  fake->WaitForWrites(1);
  int accepted = 0;
  for (int i = 1; i <= 10; ++i) accepted += writer.Push(Entry(i)) ? 1 : 0;
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(writer.dropped(), 6);
  EXPECT_NE(metrics.Serialize().find("protoserve_prediction_log_entries_total{result=\"dropped\",sink=\"fake\"} 6"),
            std::string::npos)
      << metrics.Serialize();
  fake->Hold(false);
  writer.Flush();
  EXPECT_EQ(fake->entries(), 5u);
  EXPECT_EQ(writer.written(), 5);
}

TEST(PredictionLogWriterTest, RefusedBatchesAreCountedAsFailed) {
  auto sink = std::make_unique<FakeSink>();
  sink->set_fail(true);
  PredictionLogWriter writer(std::move(sink), {.capacity = 10, .max_batch = 10}, nullptr);
  writer.Push(Entry(1));
  writer.Push(Entry(2));
  writer.Flush();
  EXPECT_EQ(writer.failed(), 2);
  EXPECT_EQ(writer.written(), 0);
}

TEST(PredictionLogWriterTest, RetentionRunsAtStartAndEveryIntervalOfTheClock) {
  FakeClock clock;
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  PredictionLogWriter writer(std::move(sink),
                             {.capacity = 10, .maintenance_interval = std::chrono::seconds(60), .clock = &clock},
                             nullptr);
  fake->WaitForMaintenance(1);
  clock.Advance(std::chrono::seconds(61));
  fake->WaitForMaintenance(2);
}

// Counts into a number that outlives the sink (the writer owns its sink).
class CountingSink : public LogSink {
 public:
  explicit CountingSink(std::atomic<size_t>* total) : total_(total) {}
  const char* name() const override { return "counting"; }
  Status Write(std::span<const LogEntry> batch) override {
    *total_ += batch.size();
    return Status::Ok();
  }

 private:
  std::atomic<size_t>* total_;
};

TEST(PredictionLogWriterTest, DestructorWritesWhatIsQueued) {
  FakeClock clock;  // never advanced: only a full batch, a flush or the destructor writes
  std::atomic<size_t> total{0};
  {
    PredictionLogWriter writer(std::make_unique<CountingSink>(&total),
                               {.capacity = 100, .max_batch = 1000, .clock = &clock}, nullptr);
    for (int i = 0; i < 7; ++i) writer.Push(Entry(i));
  }
  EXPECT_EQ(total.load(), 7u);
}

}  // namespace
}  // namespace protoserve
