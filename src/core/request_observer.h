// RequestObserver: the events of one model version's requests, told to
// whoever watches them. Prometheus metrics (ModelMetrics, metrics.h) and the
// Triton-style statistics (InferStatistics, infer_statistics.h) are two
// observers; a tracer or an online evaluator plugs in the same way, through
// a RequestObserverFactory given to the repository (one observer per loaded
// version).
//
// The events of one request, in order:
//   OnReceived -> OnFailed                       (invalid input)
//   OnReceived -> OnQueued -> OnFailed           (refused by a full queue, or failed)
//   OnReceived -> OnQueued -> OnCompleted -> OnResponded
// and, per executed batch, OnExecuted (and OnBatch when it holds traced
// requests). OnCompleted/OnFailed run before the
// front-end is told (a client that has its answer sees the counts), and
// OnResponded after its completion returned (the time it took to encode).
//
// Calls come from request and instance threads concurrently: an observer
// is thread-safe, cheap (a few atomic increments) and never blocks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/scheduler.h"
#include "core/status.h"

namespace protoserve {

// The front-end a request came in through. kShadow: mirrored requests of a
// shadow version (never answered to a client).
enum class Api { kGrpc = 0, kHttp = 1, kShadow = 2 };
inline constexpr int kApiCount = 3;
const char* ApiName(Api api);  // "grpc", "http", "shadow"

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void OnReceived(Api /*api*/) {}
  // Validated and handed to the scheduler.
  virtual void OnQueued(Api /*api*/) {}
  // One batch of `rows` rows executed by the backend in `compute`.
  virtual void OnExecuted(int64_t /*rows*/, Clock::duration /*compute*/) {}
  // Answered OK `total` after it was received; `rows` rows inferred.
  virtual void OnCompleted(Api /*api*/, Clock::duration /*total*/, const BatchTiming& /*timing*/, int64_t /*rows*/) {}
  // Refused or failed with `code`, `total` after it was received.
  virtual void OnFailed(Api /*api*/, StatusCode /*code*/, Clock::duration /*total*/) {}
  // The front-end's completion of an OK answer took `encode`.
  virtual void OnResponded(Clock::duration /*encode*/) {}
  // The version's queue depth, sampled when metrics are scraped.
  virtual void OnQueueDepth(size_t /*depth*/) {}
  // A batch holding traced requests executed (tracing only: requests carry
  // a RequestTrace when a Tracer is configured; see tracer.h). Called before
  // the batch's OnCompleted/OnFailed, on the executing thread.
  virtual void OnBatch(const BatchEvent& /*event*/) {}
};

// Makes the observer of one loaded version (or null for none).
using RequestObserverFactory =
    std::function<std::shared_ptr<RequestObserver>(const std::string& model, int64_t version)>;

}  // namespace protoserve
