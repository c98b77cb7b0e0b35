// Shared pieces of the fuzz targets: fixed model configs, a fake backend that
// answers any config with deterministic outputs, and a model repository in a
// temporary directory served by it. The fuzzed paths then run the real core
// (validation, routing, the dynamic batcher, top-k, encoding) without a
// framework: execution is inline on the fuzzing thread when the batcher is
// idle, so one input is one synchronous request.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "core/backend.h"
#include "core/model_config.h"
#include "core/model_repository.h"

namespace protoserve::fuzz {

// Recommender signature (as the demo model), a BYTES model without batching,
// an image-like model and one with variable dims of several dtypes.
inline const char* const kConfigs[][2] = {
    {"recommender",
     "platform: \"fake\" max_batch_size: 64\n"
     "input { name: \"user_hash\" data_type: TYPE_INT64 dims: [1] }\n"
     "input { name: \"features\" data_type: TYPE_FP32 dims: [32] }\n"
     "output { name: \"scores\" data_type: TYPE_FP32 dims: [50] label_filename: \"labels.txt\" }\n"
     "dynamic_batching { max_queue_delay_microseconds: 100 }\n"
     "parameters { key: \"protoserve.shadow\" value { string_value: \"1:0\" } }\n"
     // The Recommender contract, as models/recommender/train.py declares it.
     "parameters { key: \"typed.method\" value { string_value: \"Recommender/GetRecommendations\" } }\n"
     "parameters { key: \"typed.stream_method\" value { string_value: \"Recommender/StreamRecommendations\" } }\n"
     "parameters { key: \"typed.input.user_hash\" value { string_value: \"hash(user_id)\" } }\n"
     "parameters { key: \"typed.input.features\" value { string_value: \"features\" } }\n"
     "parameters { key: \"typed.output.scores\" value { string_value: \"top_k items label=item_ids score=scores "
     "k=top_k default_k=10 max_k=1000 exclude=exclude_item_ids\" } }\n"
     "parameters { key: \"typed.model_name\" value { string_value: \"model_name\" } }\n"
     "parameters { key: \"typed.model_version\" value { string_value: \"model_version\" } }\n"
     "parameters { key: \"typed.reply.model_name\" value { string_value: \"model_name\" } }\n"
     "parameters { key: \"typed.reply.model_version\" value { string_value: \"model_version\" } }\n"
     "parameters { key: \"typed.reply.request_id\" value { string_value: \"request_id\" } }\n"
     "parameters { key: \"typed.error_field\" value { string_value: \"error_message\" } }\n"
     "parameters { key: \"typed.error_style\" value { string_value: \"prefix\" } }\n"},
    {"text",
     "platform: \"fake\" max_batch_size: 0\n"
     "input { name: \"text\" data_type: TYPE_STRING dims: [-1] }\n"
     "output { name: \"score\" data_type: TYPE_FP32 dims: [3] label_filename: \"labels.txt\" }\n"},
    {"image",
     "platform: \"fake\" max_batch_size: 8\n"
     "input { name: \"image\" data_type: TYPE_FP32 dims: [1, 28, 28] }\n"
     "output { name: \"logits\" data_type: TYPE_FP32 dims: [10] }\n"
     "output { name: \"ids\" data_type: TYPE_INT64 dims: [2] }\n"},
    {"mixed",
     "platform: \"fake\" max_batch_size: 4\n"
     "input { name: \"a\" data_type: TYPE_INT32 dims: [-1, -1] }\n"
     "input { name: \"b\" data_type: TYPE_UINT8 dims: [-1] }\n"
     "input { name: \"c\" data_type: TYPE_BOOL dims: [2] }\n"
     "input { name: \"d\" data_type: TYPE_FP64 dims: [-1] }\n"
     "input { name: \"e\" data_type: TYPE_FP16 dims: [2] }\n"
     "output { name: \"out\" data_type: TYPE_FP64 dims: [-1] }\n"},
};

// Outputs: every config output as [rows] + dims (-1 -> 1), values derived
// from the input bytes, so top-k and classification see varied scores.
class FakeModel final : public LoadedModel {
 public:
  explicit FakeModel(const ModelConfig& config) : config_(config) {}

  Status Execute(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) override {
    const int64_t rows = config_.max_batch_size() > 0 && !inputs.empty() ? inputs[0].shape()[0] : 0;
    uint64_t seed = 1469598103934665603ULL;
    for (const Tensor& t : inputs) {
      for (size_t i = 0; i < std::min<size_t>(t.byte_size(), 256); ++i) seed = (seed ^ uint8_t(t.data()[i])) * 1099511628211ULL;
    }
    for (const auto& spec : config_.output()) {
      Shape shape;
      if (config_.max_batch_size() > 0) shape.push_back(rows);
      for (int64_t d : spec.dims()) shape.push_back(d < 0 ? 1 : d);
      auto elements = ElementCount(shape);
      if (!elements.ok()) return elements.status();
      const DataType dtype = FromConfigDataType(spec.data_type());
      Tensor out = Tensor::Allocate(dtype, shape, *elements * DataTypeSize(dtype));
      for (int64_t i = 0; i < *elements; ++i) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        const double v = static_cast<double>(seed >> 40) / double(1 << 24);
        if (dtype == DataType::kFp32) reinterpret_cast<float*>(out.mutable_data())[i] = static_cast<float>(v);
        if (dtype == DataType::kFp64) reinterpret_cast<double*>(out.mutable_data())[i] = v;
        if (dtype == DataType::kInt64) reinterpret_cast<int64_t*>(out.mutable_data())[i] = static_cast<int64_t>(seed >> 50);
      }
      outputs->push_back(std::move(out));
    }
    return Status::Ok();
  }

 private:
  const ModelConfig config_;
};

class FakeBackend final : public Backend {
 public:
  StatusOr<std::unique_ptr<LoadedModel>> Load(const ModelConfig& config, const std::filesystem::path&) override {
    return std::unique_ptr<LoadedModel>(new FakeModel(config));
  }
};

// A repository of kConfigs in a fresh temporary directory, loaded and ready.
// Lives for the whole fuzzing process (never destroyed: instance threads
// would otherwise race the exit handlers). `contracts` (the first call's)
// loads the typed contracts (typed::TypedContract::Loader()); without it the
// typed.* parameters are ignored.
inline ModelRepository* FakeRepository(ContractLoader contracts = {}) {
  static ModelRepository* repository = [&contracts] {
    char name[] = "/tmp/protoserve-fuzz-XXXXXX";
    const std::filesystem::path root = mkdtemp(name);
    for (const auto& [model, config] : kConfigs) {
      std::filesystem::create_directories(root / model / "1");
      std::ofstream(root / model / "config.pbtxt") << config;
      std::ofstream labels(root / model / "labels.txt");
      for (int i = 0; i < 50; ++i) labels << "item_" << i << "\n";
    }
    static BackendRegistry backends;
    backends.Register("fake", std::make_shared<FakeBackend>());
    auto* made = new ModelRepository(root, &backends, nullptr);
    if (contracts) made->set_contract_loader(std::move(contracts));
    Status loaded = made->LoadAll();
    if (!loaded.ok() || !made->AllReady()) {
      std::fprintf(stderr, "fuzz: fake repository did not load: %s\n", loaded.ToString().c_str());
      std::abort();
    }
    return made;
  }();
  return repository;
}

// Parsed kConfigs, for validation without a repository.
inline const std::vector<ModelConfig>& FixedConfigs() {
  static const std::vector<ModelConfig> configs = [] {
    std::vector<ModelConfig> out;
    for (const auto& [model, text] : kConfigs) {
      auto parsed = ParseModelConfig(text, model);
      if (!parsed.ok()) std::abort();
      out.push_back(*parsed);
    }
    return out;
  }();
  return configs;
}

}  // namespace protoserve::fuzz
