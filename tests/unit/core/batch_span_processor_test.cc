#include "core/batch_span_processor.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "support/fake_clock.h"

namespace protoserve {
namespace {

using namespace std::chrono_literals;

// Records each exported batch's size; can be held to stand for a collector
// that hangs, and failed to stand for one that answers 500.
class FakeExporter final : public SpanExporter {
 public:
  Status Export(std::vector<SpanData>& spans) override {
    std::unique_lock lock(mu_);
    batches_.push_back(spans.size());
    cv_.notify_all();
    cv_.wait(lock, [&] { return !hold_; });
    return fail_ ? Unavailable("collector answered 500") : Status::Ok();
  }
  void Hold(bool hold) {
    std::lock_guard lock(mu_);
    hold_ = hold;
    cv_.notify_all();
  }
  void Fail() {
    std::lock_guard lock(mu_);
    fail_ = true;
  }
  // Waits (bounded) until `n` batches were handed to Export.
  bool WaitForBatches(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return batches_.size() >= n; });
  }
  std::vector<size_t> batches() {
    std::lock_guard lock(mu_);
    return batches_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<size_t> batches_;
  bool hold_ = false;
  bool fail_ = false;
};

std::vector<SpanData> Spans(size_t n) {
  std::vector<SpanData> spans(n);
  for (size_t i = 0; i < n; ++i) spans[i].name = "span" + std::to_string(i);
  return spans;
}

struct Fixture {
  explicit Fixture(BatchSpanOptions options) {
    options.clock = &clock;
    auto owned = std::make_unique<FakeExporter>();
    exporter = owned.get();
    processor = std::make_unique<BatchSpanProcessor>(std::move(options), std::move(owned));
  }
  testing::FakeClock clock;
  FakeExporter* exporter = nullptr;
  std::unique_ptr<BatchSpanProcessor> processor;
};

BatchSpanOptions Options(size_t queue, size_t batch) {
  BatchSpanOptions options;
  options.schedule_delay = 5s;
  options.max_queue_size = queue;
  options.max_export_batch_size = batch;
  return options;
}

TEST(BatchSpanProcessorTest, ExportsAPartialBatchAfterTheScheduleDelay) {
  Fixture f(Options(100, 10));
  f.processor->Submit(Spans(3));
  EXPECT_TRUE(f.exporter->batches().empty());  // the fake clock has not moved: nothing can be due
  f.clock.Advance(5s);
  ASSERT_TRUE(f.exporter->WaitForBatches(1));
  EXPECT_EQ(f.exporter->batches(), std::vector<size_t>{3});
  f.processor->Shutdown();
  EXPECT_EQ(f.processor->exported(), 3u);
}

TEST(BatchSpanProcessorTest, AFullBatchGoesAtOnceInBatchesOfTheMaximum) {
  Fixture f(Options(100, 4));
  f.processor->Submit(Spans(9));
  ASSERT_TRUE(f.exporter->WaitForBatches(2));  // no clock movement needed
  f.processor->Shutdown();                     // the last partial batch goes at shutdown
  EXPECT_EQ(f.exporter->batches(), (std::vector<size_t>{4, 4, 1}));
  EXPECT_EQ(f.processor->exported(), 9u);
  EXPECT_EQ(f.processor->dropped(), 0u);
}

TEST(BatchSpanProcessorTest, AFullQueueDropsAndCountsWithoutBlocking) {
  uint64_t reported = 0;  // on_dropped runs on the submitting (this) thread
  BatchSpanOptions options = Options(4, 2);
  options.on_dropped = [&reported](uint64_t n) { reported += n; };
  Fixture f(std::move(options));
  f.exporter->Hold(true);  // a collector that hangs
  f.processor->Submit(Spans(2));
  ASSERT_TRUE(f.exporter->WaitForBatches(1));  // that batch is stuck in Export
  f.processor->Submit(Spans(4));               // fills the queue
  f.processor->Submit(Spans(3));               // no room: dropped at once
  EXPECT_EQ(f.processor->dropped(), 3u);
  EXPECT_EQ(reported, 3u);
  f.exporter->Hold(false);
  f.processor->Shutdown();
  EXPECT_EQ(f.processor->exported(), 6u);
}

TEST(BatchSpanProcessorTest, FailedExportsAreCountedNotRetried) {
  uint64_t failed = 0;
  BatchSpanOptions options = Options(100, 2);
  Fixture f(std::move(options));
  f.exporter->Fail();
  f.processor->Submit(Spans(2));
  ASSERT_TRUE(f.exporter->WaitForBatches(1));
  f.processor->Shutdown();
  failed = f.processor->failed();
  EXPECT_EQ(failed, 2u);
  EXPECT_EQ(f.processor->exported(), 0u);
  EXPECT_EQ(f.exporter->batches().size(), 1u);
}

TEST(BatchSpanProcessorTest, SpansAfterShutdownAreDropped) {
  Fixture f(Options(100, 10));
  f.processor->Shutdown();
  f.processor->Submit(Spans(2));
  EXPECT_EQ(f.processor->dropped(), 2u);
  EXPECT_TRUE(f.exporter->batches().empty());
}

}  // namespace
}  // namespace protoserve
