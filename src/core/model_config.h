// Model configuration: parsing and validating `config.pbtxt`.
//
// The configuration is the generated `inference::ModelConfig` message (a
// Triton-compatible subset, proto/model_config.proto). ParseModelConfig reads
// it with protobuf TextFormat, fills defaults (name from the directory) and
// validates it, so everything downstream can trust it: every input and output
// has a name and a supported dtype, dims are positive or -1, batch settings
// agree with each other. Errors name the file and the offending field.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/tensor.h"
#include "model_config.pb.h"

namespace protoserve {

using ModelConfig = inference::ModelConfig;
using ModelWarmup = inference::ModelWarmup;

// Parses `text` (the content of `<repo>/<dir_name>/config.pbtxt`).
StatusOr<ModelConfig> ParseModelConfig(std::string_view text, std::string_view dir_name);
// Reads and parses `path`.
StatusOr<ModelConfig> LoadModelConfigFile(const std::string& path, std::string_view dir_name);
// Checks a parsed configuration; exposed for tests.
Status ValidateModelConfig(const ModelConfig& config);

DataType FromConfigDataType(inference::DataType dtype);
inference::DataType ToConfigDataType(DataType dtype);

// The string value of `parameters[key]`, if present.
std::optional<std::string> ConfigParameter(const ModelConfig& config, const std::string& key);
// An integer parameter, or `fallback` when absent; error when not an integer.
StatusOr<int64_t> ConfigIntParameter(const ModelConfig& config, const std::string& key, int64_t fallback);

// Number of execution instances (sum of instance_group counts, at least 1).
int InstanceCount(const ModelConfig& config);

// Model and version names are path components: letters, digits, '_', '-',
// '.', not starting with '.', at most 128 bytes. Used for every name that
// could reach the filesystem.
bool IsValidModelName(std::string_view name);

}  // namespace protoserve
