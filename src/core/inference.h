// The core's request and response vocabulary, shared by every front-end.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/dynamic_batcher.h"
#include "core/request_observer.h"
#include "core/status.h"
#include "core/tensor.h"

namespace protoserve {

struct InferenceRequest {
  std::vector<NamedTensor> inputs;
  std::vector<std::string> requested_outputs;  // empty: every output
  Clock::time_point deadline = Clock::time_point::max();
  std::function<bool()> is_cancelled;  // optional; polled before execution
  Api api = Api::kGrpc;                // for metrics only
  RequestTrace* trace = nullptr;       // tracing only: kept alive by the caller until `done`
};

struct InferenceResponse {
  std::vector<NamedTensor> outputs;  // requested outputs, config order
  BatchTiming timing;
};

// Called exactly once per accepted request, on an instance thread.
using InferenceCallback = std::function<void(Status, InferenceResponse)>;

}  // namespace protoserve
