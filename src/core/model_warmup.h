// model_warmup (Triton's config field): named sample requests each instance
// runs `count` times before its version is READY, so the first real request
// does not pay for lazy initialisation (allocator pools, JIT profiling runs).
//
// Each sample gives every model input its data type, dims (without the batch
// dim) and data: zero_data, random_data, or input_data_file (raw
// little-endian bytes read from the model's `warmup/` folder, as in Triton;
// a plain file name that must resolve inside the model folder). A sample
// that does not match the model's inputs fails the load with a reason naming
// the sample and the input. Without model_warmup, each instance runs one
// zero-filled request (the server's own default warm-up).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/model_config.h"
#include "core/status.h"
#include "core/tensor.h"

namespace protoserve {

struct WarmupSample {
  std::string name;
  std::vector<Tensor> inputs;  // config input order, batch dim first when batching
  uint32_t count = 1;
};

// The samples of `config.model_warmup`, or one zero-filled sample when it has none.
StatusOr<std::vector<WarmupSample>> BuildWarmupSamples(const ModelConfig& config,
                                                       const std::filesystem::path& model_dir);

}  // namespace protoserve
