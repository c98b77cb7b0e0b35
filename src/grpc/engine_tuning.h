// Process-wide settings of the gRPC stack, shared by protoserve and
// bench/floor_server so the floor is measured on the same engine.
#pragma once

#include <absl/synchronization/mutex.h>

namespace protoserve {

// Debian builds Abseil with its debug-mode default of tracking lock order in
// every absl::Mutex, which gRPC locks several times per call: 2-3 % of the
// recommender's CPU at concurrency 8 went to GraphCycles bookkeeping
// (perf, docs/benchmarks.md). protoserve holds no absl::Mutex of its own, and
// gRPC's lock order is gRPC's tests' business, not a production server's.
inline void TuneGrpcProcess() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

}  // namespace protoserve
