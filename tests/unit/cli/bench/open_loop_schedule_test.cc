#include "cli/bench/open_loop_schedule.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace protoserve::cli::bench {
namespace {

using namespace std::chrono_literals;
using Clock = OpenLoopSchedule::Clock;

const Clock::time_point kStart = Clock::time_point() + 1000s;

TEST(OpenLoopScheduleTest, ArrivalsAreEvenlySpaced) {
  OpenLoopSchedule schedule(kStart, 1000);  // one per ms
  EXPECT_EQ(schedule.IntendedTime(0), kStart);
  for (uint64_t i = 0; i < 100; ++i) {
    const auto a = schedule.Claim();
    EXPECT_EQ(a.index, i);
    EXPECT_EQ(a.intended, kStart + i * 1ms);
  }
}

TEST(OpenLoopScheduleTest, NoDriftOverManyArrivals) {
  // 1/3 s is not a whole number of ns; times are computed from the index,
  // so rounding error does not accumulate.
  OpenLoopSchedule schedule(kStart, 3);
  EXPECT_EQ(schedule.IntendedTime(3'000'000), kStart + 1'000'000s);
  EXPECT_EQ(schedule.IntendedTime(1), kStart + 333'333'333ns);
  EXPECT_EQ(schedule.IntendedTime(2), kStart + 666'666'667ns);
}

TEST(OpenLoopScheduleTest, FractionalRates) {
  OpenLoopSchedule schedule(kStart, 0.5);  // one every 2 s
  EXPECT_EQ(schedule.IntendedTime(3), kStart + 6s);
}

TEST(OpenLoopScheduleTest, BacklogWhenOnTime) {
  OpenLoopSchedule schedule(kStart, 100);  // every 10 ms
  EXPECT_EQ(schedule.Backlog(kStart - 1ms), 0u);
  EXPECT_EQ(schedule.Backlog(kStart), 1u);  // arrival 0 is due at the start
  schedule.Claim();
  EXPECT_EQ(schedule.Backlog(kStart + 9ms), 0u);
  EXPECT_EQ(schedule.Backlog(kStart + 10ms), 1u);
}

TEST(OpenLoopScheduleTest, LateSenderCatchesUpWithoutSkippingOrRetiming) {
  OpenLoopSchedule schedule(kStart, 1000);
  schedule.Claim();  // arrival 0 sent on time
  // The sender stalls for 5 ms: arrivals 1..5 are due and unclaimed.
  const Clock::time_point now = kStart + 5ms;
  EXPECT_EQ(schedule.Backlog(now), 5u);
  // Catching up hands them out back to back with their original times (all
  // in the past, so the sender sends them at once and their latency counts
  // from these times), then resumes the regular spacing.
  for (uint64_t i = 1; i <= 5; ++i) {
    const auto a = schedule.Claim();
    EXPECT_EQ(a.index, i);
    EXPECT_EQ(a.intended, kStart + i * 1ms);
    EXPECT_LE(a.intended, now);
  }
  EXPECT_EQ(schedule.Backlog(now), 0u);
  const auto next = schedule.Claim();
  EXPECT_EQ(next.intended, kStart + 6ms);
  EXPECT_GT(next.intended, now);
}

TEST(OpenLoopScheduleTest, ConcurrentClaimsHandOutEachIndexOnce) {
  OpenLoopSchedule schedule(kStart, 1e6);
  std::vector<std::vector<uint64_t>> claimed(4);
  std::vector<std::thread> threads;
  for (auto& mine : claimed) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) mine.push_back(schedule.Claim().index);
    });
  }
  for (auto& t : threads) t.join();
  std::set<uint64_t> all;
  for (const auto& mine : claimed) all.insert(mine.begin(), mine.end());
  EXPECT_EQ(all.size(), 40000u);
  EXPECT_EQ(*all.rbegin(), 39999u);
}

TEST(OpenLoopScheduleTest, RejectsNonPositiveRate) {
  EXPECT_THROW(OpenLoopSchedule(kStart, 0), std::invalid_argument);
  EXPECT_THROW(OpenLoopSchedule(kStart, -1), std::invalid_argument);
}

}  // namespace
}  // namespace protoserve::cli::bench
