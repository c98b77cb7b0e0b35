#include "core/infer_statistics.h"

#include <chrono>

namespace protoserve {

namespace {

uint64_t Nanos(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

void Touch(std::atomic<uint64_t>& last_inference_ms) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  last_inference_ms.store(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()),
                          std::memory_order_relaxed);
}

}  // namespace

void InferStatistics::OnExecuted(int64_t rows, Clock::duration compute) {
  stats_.execution_count.fetch_add(1, std::memory_order_relaxed);
  MutexLock lock(stats_.batch_mu);
  auto& bucket = stats_.by_batch_size[rows];
  bucket.count++;
  bucket.compute_ns += Nanos(compute);
}

void InferStatistics::OnCompleted(Api /*api*/, Clock::duration total, const BatchTiming& timing, int64_t rows) {
  stats_.success_count.fetch_add(1, std::memory_order_relaxed);
  stats_.success_ns.fetch_add(Nanos(total), std::memory_order_relaxed);
  stats_.queue_ns.fetch_add(Nanos(timing.queue), std::memory_order_relaxed);
  stats_.compute_input_ns.fetch_add(Nanos(timing.compute_input), std::memory_order_relaxed);
  stats_.compute_ns.fetch_add(Nanos(timing.compute), std::memory_order_relaxed);
  stats_.inference_count.fetch_add(static_cast<uint64_t>(rows), std::memory_order_relaxed);
  Touch(stats_.last_inference_ms);
}

void InferStatistics::OnFailed(Api /*api*/, StatusCode /*code*/, Clock::duration total) {
  stats_.fail_count.fetch_add(1, std::memory_order_relaxed);
  stats_.fail_ns.fetch_add(Nanos(total), std::memory_order_relaxed);
  Touch(stats_.last_inference_ms);
}

void InferStatistics::OnResponded(Clock::duration encode) {
  stats_.compute_output_ns.fetch_add(Nanos(encode), std::memory_order_relaxed);
}

}  // namespace protoserve
