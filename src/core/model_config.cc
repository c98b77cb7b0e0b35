#include "core/model_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <fstream>
#include <set>
#include <sstream>

namespace protoserve {

namespace {

// Collects TextFormat errors so the load error can say line and column.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (!text_.empty()) text_ += "; ";
    text_ += "line " + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

Status ValidateDims(const std::string& what, const google::protobuf::RepeatedField<int64_t>& dims) {
  for (int64_t dim : dims) {
    if (dim == 0 || dim < -1) {
      return InvalidArgument(what + " has invalid dim " + std::to_string(dim) + " (use a positive size or -1)");
    }
  }
  return Status::Ok();
}

template <typename Tensors>
Status ValidateTensors(const std::string& kind, const Tensors& tensors) {
  std::set<std::string> names;
  for (const auto& t : tensors) {
    const std::string what = kind + " '" + t.name() + "'";
    if (t.name().empty()) return InvalidArgument(kind + " without a name");
    if (!names.insert(t.name()).second) return InvalidArgument("duplicate " + what);
    if (FromConfigDataType(t.data_type()) == DataType::kInvalid) {
      return InvalidArgument(what + " has unsupported data_type " + inference::DataType_Name(t.data_type()));
    }
    RETURN_IF_ERROR(ValidateDims(what, t.dims()));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<ModelConfig> ParseModelConfig(std::string_view text, std::string_view dir_name) {
  ModelConfig config;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    return InvalidArgument("config.pbtxt: " + errors.text());
  }
  if (config.name().empty()) config.set_name(std::string(dir_name));
  if (config.name() != dir_name) {
    return InvalidArgument("config.pbtxt: name '" + config.name() + "' does not match directory '" +
                           std::string(dir_name) + "'");
  }
  Status status = ValidateModelConfig(config);
  if (!status.ok()) return InvalidArgument("config.pbtxt: " + status.message());
  return config;
}

StatusOr<ModelConfig> LoadModelConfigFile(const std::string& path, std::string_view dir_name) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseModelConfig(text.str(), dir_name);
}

Status ValidateModelConfig(const ModelConfig& config) {
  if (!IsValidModelName(config.name())) return InvalidArgument("invalid model name '" + config.name() + "'");
  if (config.platform().empty() && config.backend().empty()) {
    return InvalidArgument("one of 'platform' or 'backend' is required");
  }
  const std::string& file = config.default_model_filename();
  if (!file.empty() && (file.find('/') != std::string::npos || file[0] == '.')) {
    return InvalidArgument("default_model_filename must be a plain file name inside the version directory");
  }
  if (config.max_batch_size() < 0) return InvalidArgument("max_batch_size must be >= 0");
  if (config.input_size() == 0) return InvalidArgument("at least one input is required");
  if (config.output_size() == 0) return InvalidArgument("at least one output is required");
  RETURN_IF_ERROR(ValidateTensors("input", config.input()));
  RETURN_IF_ERROR(ValidateTensors("output", config.output()));
  for (const auto& group : config.instance_group()) {
    if (group.count() < 0) return InvalidArgument("instance_group count must be >= 0");
    if (group.kind() == inference::ModelInstanceGroup::KIND_GPU) {
      return InvalidArgument("instance_group kind KIND_GPU is not supported (CPU-only server)");
    }
  }
  if (config.has_dynamic_batching()) {
    if (config.max_batch_size() == 0) {
      return InvalidArgument("dynamic_batching requires max_batch_size > 0");
    }
    for (int size : config.dynamic_batching().preferred_batch_size()) {
      if (size <= 0 || size > config.max_batch_size()) {
        return InvalidArgument("preferred_batch_size " + std::to_string(size) + " must be in [1, max_batch_size=" +
                               std::to_string(config.max_batch_size()) + "]");
      }
    }
  }
  if (config.version_policy().has_latest() && config.version_policy().latest().num_versions() == 0) {
    return InvalidArgument("version_policy latest num_versions must be >= 1");
  }
  return Status::Ok();
}

DataType FromConfigDataType(inference::DataType dtype) {
  switch (dtype) {
    case inference::TYPE_BOOL: return DataType::kBool;
    case inference::TYPE_UINT8: return DataType::kUint8;
    case inference::TYPE_UINT16: return DataType::kUint16;
    case inference::TYPE_UINT32: return DataType::kUint32;
    case inference::TYPE_UINT64: return DataType::kUint64;
    case inference::TYPE_INT8: return DataType::kInt8;
    case inference::TYPE_INT16: return DataType::kInt16;
    case inference::TYPE_INT32: return DataType::kInt32;
    case inference::TYPE_INT64: return DataType::kInt64;
    case inference::TYPE_FP16: return DataType::kFp16;
    case inference::TYPE_FP32: return DataType::kFp32;
    case inference::TYPE_FP64: return DataType::kFp64;
    case inference::TYPE_STRING: return DataType::kBytes;
    default: return DataType::kInvalid;
  }
}

inference::DataType ToConfigDataType(DataType dtype) {
  for (int i = inference::DataType_MIN; i <= inference::DataType_MAX; ++i) {
    auto candidate = static_cast<inference::DataType>(i);
    if (inference::DataType_IsValid(i) && FromConfigDataType(candidate) == dtype) return candidate;
  }
  return inference::TYPE_INVALID;
}

std::optional<std::string> ConfigParameter(const ModelConfig& config, const std::string& key) {
  auto it = config.parameters().find(key);
  if (it == config.parameters().end()) return std::nullopt;
  return it->second.string_value();
}

StatusOr<int64_t> ConfigIntParameter(const ModelConfig& config, const std::string& key, int64_t fallback) {
  auto value = ConfigParameter(config, key);
  if (!value) return fallback;
  try {
    size_t used = 0;
    int64_t parsed = std::stoll(*value, &used);
    if (used == value->size()) return parsed;
  } catch (const std::exception&) {
  }
  return InvalidArgument("parameter '" + key + "' must be an integer, got '" + *value + "'");
}

int InstanceCount(const ModelConfig& config) {
  int count = 0;
  for (const auto& group : config.instance_group()) count += group.count() == 0 ? 1 : group.count();
  return count == 0 ? 1 : count;
}

bool IsValidModelName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace protoserve
