// InferStatistics: a model version's cumulative statistics as Triton's
// ModelStatistics reports them (KServe ModelStatistics RPC and REST
// /v2/models/<name>/stats), kept as a request observer.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>

#include "core/request_observer.h"
#include "core/thread_annotations.h"

namespace protoserve {

struct InferStats {
  std::atomic<uint64_t> success_count{0};
  std::atomic<uint64_t> fail_count{0};
  std::atomic<uint64_t> inference_count{0};  // rows inferred
  std::atomic<uint64_t> execution_count{0};  // batches executed
  std::atomic<uint64_t> success_ns{0};       // request received -> response
  std::atomic<uint64_t> fail_ns{0};
  std::atomic<uint64_t> queue_ns{0};
  std::atomic<uint64_t> compute_input_ns{0};   // batch input gathering
  std::atomic<uint64_t> compute_ns{0};         // backend execution
  std::atomic<uint64_t> compute_output_ns{0};  // front-end completion: outputs into the response
  std::atomic<uint64_t> last_inference_ms{0};  // unix epoch milliseconds

  struct BatchBucket {
    uint64_t count = 0;
    uint64_t compute_ns = 0;
  };
  mutable Mutex batch_mu;
  std::map<int64_t, BatchBucket> by_batch_size GUARDED_BY(batch_mu);
};

class InferStatistics : public RequestObserver {
 public:
  void OnExecuted(int64_t rows, Clock::duration compute) override;
  void OnCompleted(Api api, Clock::duration total, const BatchTiming& timing, int64_t rows) override;
  void OnFailed(Api api, StatusCode code, Clock::duration total) override;
  void OnResponded(Clock::duration encode) override;

  const InferStats& stats() const { return stats_; }

 private:
  InferStats stats_;
};

}  // namespace protoserve
