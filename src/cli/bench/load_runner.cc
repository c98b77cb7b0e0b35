#include "cli/bench/load_runner.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "cli/bench/open_loop_schedule.h"

namespace protoserve::cli::bench {

namespace {

using Clock = std::chrono::steady_clock;

// 10 bins per decade: each bin ~26% wider than the one before, fine enough to
// show a distribution's shape, coarse enough that a run's bins stay few.
constexpr int kHistogramBinsPerDecade = 10;

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// What one slot recorded. A slot has one call in flight at a time and the
// transport orders its completions after its Start(), so a slot's state is
// only ever touched by one thread at a time; no lock needed.
struct alignas(64) SlotState {
  Clock::time_point intended;  // send time the latency is measured from
  bool measured = false;
  std::vector<int64_t> latencies_ns;
  std::map<std::string, uint64_t> errors;
  uint64_t calls = 0, successes = 0, request_bytes = 0, response_bytes = 0;
  Clock::time_point last_done{};
};

}  // namespace

class LoadRunner::Impl final : public CallSink {
 public:
  Impl(Transport* transport, const RunPlan& plan, const ProgressFn& progress)
      : transport_(transport), plan_(plan), progress_(progress), slots_(std::max(1, plan.concurrency)) {}

  RunResult Run();
  void OnCallDone(int slot, CallResult result) override;

 private:
  void RunClosedLoop();
  void RunOpenLoop();
  void Issue(int slot);
  void IssueOne(int slot);
  void MonitorLoop();
  RunResult Collect(Clock::time_point end, double cpu_end);

  // A transport may report a completion inside Start(); the closed loop's
  // next Issue() for it is then deferred to the outer Issue() on this thread
  // instead of recursing without bound.
  static thread_local int issue_depth_;
  static thread_local std::vector<std::pair<Impl*, int>> deferred_;

  Transport* const transport_;
  const RunPlan plan_;
  const ProgressFn progress_;
  std::vector<SlotState> slots_;
  Clock::time_point start_, measure_start_, measure_end_;
  std::atomic<uint64_t> measured_claimed_{0};  // closed loop with plan_.requests
  std::atomic<uint64_t> live_completed_{0}, live_errors_{0}, live_successes_{0};
  std::vector<int64_t> send_lag_ns_;  // open loop; dispatcher thread only
  double cpu_start_ = -1;             // by the monitor at the window start; read after it is joined

  std::mutex mu_;
  std::condition_variable cv_;
  int idle_slots_ = 0;           // guarded by mu_: closed loop: slots that stopped issuing
  std::vector<int> free_slots_;  // guarded by mu_: open loop: slots with no call in flight
  bool finished_ = false;        // guarded by mu_: tells the monitor to stop
};

thread_local int LoadRunner::Impl::issue_depth_ = 0;
thread_local std::vector<std::pair<LoadRunner::Impl*, int>> LoadRunner::Impl::deferred_;

RunResult LoadRunner::Impl::Run() {
  transport_->Open(static_cast<int>(slots_.size()), this);
  start_ = Clock::now();
  measure_start_ = start_ + plan_.warmup;
  measure_end_ = measure_start_ + plan_.duration;
  std::thread monitor([this] { MonitorLoop(); });
  if (plan_.rate > 0) {
    RunOpenLoop();
  } else {
    RunClosedLoop();
  }
  const Clock::time_point end = Clock::now();
  const double cpu_end = CpuSeconds();
  {
    std::lock_guard lock(mu_);
    finished_ = true;
  }
  cv_.notify_all();
  monitor.join();
  transport_->Close();
  return Collect(end, cpu_end);
}

void LoadRunner::Impl::RunClosedLoop() {
  for (int slot = 0; slot < static_cast<int>(slots_.size()); ++slot) Issue(slot);
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return idle_slots_ == static_cast<int>(slots_.size()); });
}

void LoadRunner::Impl::Issue(int slot) {
  if (issue_depth_ > 0) {
    deferred_.emplace_back(this, slot);
    return;
  }
  ++issue_depth_;
  IssueOne(slot);
  while (!deferred_.empty()) {
    auto [runner, next] = deferred_.back();
    deferred_.pop_back();
    runner->IssueOne(next);
  }
  --issue_depth_;
}

void LoadRunner::Impl::IssueOne(int slot) {
  const Clock::time_point now = Clock::now();
  const bool measured = now >= measure_start_;
  bool more = true;
  if (plan_.requests > 0) {
    more = !measured || measured_claimed_.fetch_add(1, std::memory_order_relaxed) < plan_.requests;
  } else {
    more = now < measure_end_;
  }
  if (!more) {
    {
      std::lock_guard lock(mu_);
      ++idle_slots_;
    }
    cv_.notify_all();
    return;
  }
  slots_[slot].intended = now;
  slots_[slot].measured = measured;
  transport_->Start(slot);
}

void LoadRunner::Impl::RunOpenLoop() {
  // Sleeps end within ~50 us by default on Linux (timer slack); ask for less,
  // so send lag reflects the system under test rather than the timer.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  for (int slot = static_cast<int>(slots_.size()) - 1; slot >= 0; --slot) free_slots_.push_back(slot);
  OpenLoopSchedule schedule(start_, plan_.rate);
  uint64_t measured_sent = 0;
  for (;;) {
    const OpenLoopSchedule::Arrival arrival = schedule.Claim();
    const bool measured = arrival.intended >= measure_start_;
    if (plan_.requests > 0 ? (measured && measured_sent >= plan_.requests) : arrival.intended >= measure_end_) break;
    if (measured) ++measured_sent;
    std::this_thread::sleep_until(arrival.intended);  // returns at once when late: catch up
    int slot;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !free_slots_.empty(); });
      slot = free_slots_.back();
      free_slots_.pop_back();
    }
    if (measured) send_lag_ns_.push_back((Clock::now() - arrival.intended).count());
    slots_[slot].intended = arrival.intended;
    slots_[slot].measured = measured;
    transport_->Start(slot);
  }
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return free_slots_.size() == slots_.size(); });
}

void LoadRunner::Impl::OnCallDone(int slot, CallResult result) {
  const Clock::time_point now = Clock::now();
  SlotState& state = slots_[slot];
  if (state.measured) {
    ++state.calls;
    state.request_bytes += result.request_bytes;
    state.last_done = now;
    if (result.error.empty()) {
      ++state.successes;
      state.response_bytes += result.response_bytes;
      state.latencies_ns.push_back((now - state.intended).count());
      live_successes_.fetch_add(1, std::memory_order_relaxed);
    } else {
      ++state.errors[result.error];
      live_errors_.fetch_add(1, std::memory_order_relaxed);
    }
    live_completed_.fetch_add(1, std::memory_order_relaxed);
  }
  if (plan_.rate > 0) {
    {
      std::lock_guard lock(mu_);
      free_slots_.push_back(slot);
    }
    cv_.notify_all();
  } else {
    Issue(slot);
  }
}

void LoadRunner::Impl::MonitorLoop() {
  std::unique_lock lock(mu_);
  if (cv_.wait_until(lock, measure_start_, [&] { return finished_; })) return;
  cpu_start_ = CpuSeconds();
  while (!cv_.wait_for(lock, std::chrono::milliseconds(250), [&] { return finished_; })) {
    if (!progress_) continue;
    Progress p;
    p.elapsed_s = std::chrono::duration<double>(Clock::now() - measure_start_).count();
    p.completed = live_completed_.load(std::memory_order_relaxed);
    p.errors = live_errors_.load(std::memory_order_relaxed);
    p.qps = p.elapsed_s > 0 ? live_successes_.load(std::memory_order_relaxed) / p.elapsed_s : 0;
    lock.unlock();  // completions take mu_ (open loop); do not make them wait for the terminal
    progress_(p);
    lock.lock();
  }
}

RunResult LoadRunner::Impl::Collect(Clock::time_point end, double cpu_end) {
  RunResult r;
  r.plan = plan_;
  std::vector<int64_t> latencies;
  uint64_t request_bytes = 0, response_bytes = 0;
  Clock::time_point last_done = measure_start_;
  for (SlotState& s : slots_) {
    r.requests += s.calls;
    r.successes += s.successes;
    request_bytes += s.request_bytes;
    response_bytes += s.response_bytes;
    for (const auto& [code, n] : s.errors) r.errors[code] += n;
    latencies.insert(latencies.end(), s.latencies_ns.begin(), s.latencies_ns.end());
    if (s.calls > 0) last_done = std::max(last_done, s.last_done);
  }
  r.duration_s = std::chrono::duration<double>(last_done - measure_start_).count();
  r.qps = r.duration_s > 0 ? r.successes / r.duration_s : 0;
  r.latency = Summarize(latencies);
  r.histogram = LogHistogram(latencies, kHistogramBinsPerDecade);
  r.request_bytes = r.requests ? static_cast<double>(request_bytes) / r.requests : 0;
  r.response_bytes = r.successes ? static_cast<double>(response_bytes) / r.successes : 0;
  const double window_s = std::chrono::duration<double>(end - measure_start_).count();
  r.client_cpu_cores = window_s > 0 && cpu_start_ >= 0 ? (cpu_end - cpu_start_) / window_s : 0;
  if (!send_lag_ns_.empty()) {
    std::sort(send_lag_ns_.begin(), send_lag_ns_.end());
    r.send_lag_p99_ms = Percentile(send_lag_ns_, 99) / 1e6;
    r.send_lag_max_ms = send_lag_ns_.back() / 1e6;
  }
  return r;
}

LoadRunner::LoadRunner(Transport* transport, RunPlan plan, ProgressFn progress)
    : transport_(transport), plan_(plan), progress_(std::move(progress)) {}

LoadRunner::~LoadRunner() = default;

RunResult LoadRunner::Run() {
  Impl impl(transport_, plan_, progress_);
  return impl.Run();
}

}  // namespace protoserve::cli::bench
