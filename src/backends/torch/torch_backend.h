// TorchScript backend (libtorch): loads `<version>/model.pt` (or the config's
// default_model_filename) with torch::jit::load and runs forward() under
// torch::InferenceMode. Inputs are passed positionally in config order;
// a tuple/list result maps to outputs in config order.
//
// Threads: each instance thread sets its own intra-op thread count from the
// config parameter INTRA_OP_THREAD_COUNT (Triton's name; default 1), so N
// instances use about N x that many cores. The module is shared by all
// instances (forward() on a scripted module is safe to call concurrently).
// This is the only place that includes torch headers.
#pragma once

#include <memory>

#include "core/backend.h"

namespace protoserve {

std::shared_ptr<Backend> MakeTorchBackend();

}  // namespace protoserve
