// model_alone: what one model execution costs with no server around it.
//
// Loads one version directory through the same backend the server uses (so
// the same TorchScript file, config parameters and thread settings), then
// executes batches of random inputs on one thread and prints, per batch size,
// the median process CPU time (this thread and the framework's intra-op
// threads) and wall time per execution, and CPU per row (JSON, one line).
// The server's CPU per request minus this is the engine's share
// (docs/benchmarks.md, "Where the time goes").
//
//   model_alone --model-dir build/model_repository/recommender --version 1 --batch 1,8,32
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backends/torch/torch_backend.h"
#include "clock_nanos.h"
#include "backends/xgboost/xgboost_backend.h"
#include "core/backend.h"
#include "core/model_config.h"
#include "core/tensor.h"

namespace {

using protoserve::bench::ClockNanos;

// Random inputs for `rows` rows of every configured input (FP32 in [0, 1),
// integers in [0, 1e6)).
std::vector<protoserve::Tensor> RandomInputs(const protoserve::ModelConfig& config, int64_t rows, std::mt19937_64& rng) {
  std::vector<protoserve::Tensor> inputs;
  for (const auto& input : config.input()) {
    protoserve::Shape shape{rows};
    for (int64_t d : input.dims()) shape.push_back(d);
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    const protoserve::DataType dtype = protoserve::FromConfigDataType(input.data_type());
    protoserve::Tensor t = protoserve::Tensor::Allocate(dtype, shape, count * protoserve::DataTypeSize(dtype));
    if (dtype == protoserve::DataType::kFp32) {
      std::uniform_real_distribution<float> u(0, 1);
      auto* p = reinterpret_cast<float*>(t.mutable_data());
      for (int64_t i = 0; i < count; ++i) p[i] = u(rng);
    } else if (dtype == protoserve::DataType::kInt64) {
      auto* p = reinterpret_cast<int64_t*>(t.mutable_data());
      for (int64_t i = 0; i < count; ++i) p[i] = static_cast<int64_t>(rng() % 1000000);
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"model_alone: one model's execution cost, no server"};
  std::string model_dir;
  std::vector<int64_t> batches{1, 8, 32};
  int version = 1, iterations = 2000;
  app.add_option("--model-dir", model_dir, "the model's folder (holds config.pbtxt)")->required();
  app.add_option("--version", version, "version folder");
  app.add_option("--batch", batches, "comma-separated batch sizes")->delimiter(',')->check(CLI::PositiveNumber);
  app.add_option("--iterations", iterations, "executions per batch size (after 10% warm-up)");
  CLI11_PARSE(app, argc, argv);

  const std::string name = model_dir.substr(model_dir.find_last_of('/') + 1);
  auto config = protoserve::LoadModelConfigFile(model_dir + "/config.pbtxt", name);
  if (!config.ok()) {
    std::fprintf(stderr, "config: %s\n", config.status().message().c_str());
    return 1;
  }
  protoserve::BackendRegistry backends;
  auto torch = protoserve::MakeTorchBackend();
  backends.Register("pytorch_libtorch", torch);
  backends.Register("pytorch", torch);
  backends.Register("xgboost", protoserve::MakeXgboostBackend());
  auto backend = backends.Find(*config);
  if (!backend.ok()) {
    std::fprintf(stderr, "backend: %s\n", backend.status().message().c_str());
    return 1;
  }
  auto model = (*backend)->Load(*config, model_dir + "/" + std::to_string(version));
  if (!model.ok()) {
    std::fprintf(stderr, "load: %s\n", model.status().message().c_str());
    return 1;
  }
  (*model)->PrepareThread();

  std::mt19937_64 rng(42);
  std::printf("{\"model\": \"%s\", \"runs\": [", name.c_str());
  const char* sep = "";
  for (const int64_t rows : batches) {
    const std::vector<protoserve::Tensor> inputs = RandomInputs(*config, rows, rng);
    std::vector<double> costs, walls;
    for (int i = 0; i < iterations + iterations / 10; ++i) {
      std::vector<protoserve::Tensor> outputs;
      const double start = ClockNanos(CLOCK_PROCESS_CPUTIME_ID), wall_start = ClockNanos(CLOCK_MONOTONIC);
      const protoserve::Status status = (*model)->Execute(inputs, &outputs);
      const double spent = ClockNanos(CLOCK_PROCESS_CPUTIME_ID) - start, wall = ClockNanos(CLOCK_MONOTONIC) - wall_start;
      if (!status.ok()) {
        std::fprintf(stderr, "execute: %s\n", status.message().c_str());
        return 1;
      }
      if (i >= iterations / 10) {
        costs.push_back(spent);
        walls.push_back(wall);
      }
    }
    std::nth_element(costs.begin(), costs.begin() + costs.size() / 2, costs.end());
    std::nth_element(walls.begin(), walls.begin() + walls.size() / 2, walls.end());
    const double median_us = costs[costs.size() / 2] / 1e3, wall_us = walls[walls.size() / 2] / 1e3;
    std::printf("%s{\"batch\": %lld, \"cpu_us\": %.2f, \"wall_us\": %.2f, \"cpu_us_per_row\": %.2f}", sep,
                static_cast<long long>(rows), median_us, wall_us, median_us / static_cast<double>(rows));
    sep = ", ";
  }
  std::printf("]}\n");
  return 0;
}
