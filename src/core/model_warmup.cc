#include "core/model_warmup.h"

#include <fstream>
#include <random>
#include <sstream>

namespace protoserve {

namespace fs = std::filesystem;

namespace {

size_t ElementBytes(DataType dtype) { return dtype == DataType::kBytes ? 4 : DataTypeSize(dtype); }

// Random bytes that are valid values of `dtype` (BOOL 0/1, BYTES empty strings).
void FillRandom(DataType dtype, Tensor* t, std::mt19937_64* rng) {
  char* data = t->mutable_data();
  if (dtype == DataType::kBytes) return;  // zero lengths: empty strings
  if (dtype == DataType::kBool) {
    for (size_t i = 0; i < t->byte_size(); ++i) data[i] = static_cast<char>((*rng)() & 1);
    return;
  }
  if (dtype == DataType::kFp32) {
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (size_t i = 0; i < t->byte_size() / 4; ++i) reinterpret_cast<float*>(data)[i] = u(*rng);
    return;
  }
  if (dtype == DataType::kFp64) {
    std::uniform_real_distribution<double> u(0., 1.);
    for (size_t i = 0; i < t->byte_size() / 8; ++i) reinterpret_cast<double*>(data)[i] = u(*rng);
    return;
  }
  // Integers: small non-negative values (valid indices for embedding-style inputs).
  const size_t width = DataTypeSize(dtype);
  for (size_t i = 0; i < t->byte_size(); i += width) data[i] = static_cast<char>((*rng)() % 8);
}

StatusOr<std::string> ReadWarmupFile(const fs::path& model_dir, const std::string& file) {
  if (file.empty() || file.find('/') != std::string::npos || file.starts_with(".")) {
    return InvalidArgument("input_data_file must be a plain file name in the model's warmup/ folder");
  }
  const fs::path path = model_dir / "warmup" / file;
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(path, ec);
  const fs::path dir = fs::weakly_canonical(model_dir, ec);
  if (ec || resolved.string().compare(0, dir.string().size() + 1, dir.string() + "/") != 0) {
    return InvalidArgument("input_data_file " + file + " resolves outside the model folder");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read warmup/" + file);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

StatusOr<WarmupSample> BuildSample(const ModelConfig& config, const ModelWarmup& warmup, const fs::path& model_dir,
                                   std::mt19937_64* rng) {
  WarmupSample sample{warmup.name(), {}, std::max<uint32_t>(1, warmup.count())};
  const std::string where = "model_warmup '" + warmup.name() + "'";
  const bool batching = config.max_batch_size() > 0;
  const int64_t rows = warmup.batch_size() == 0 ? 1 : warmup.batch_size();
  if (!batching && warmup.batch_size() > 1) return InvalidArgument(where + ": batch_size > 1 for a model that does not batch");
  if (batching && rows > config.max_batch_size()) {
    return InvalidArgument(where + ": batch_size " + std::to_string(rows) + " exceeds max_batch_size " +
                           std::to_string(config.max_batch_size()));
  }
  for (const auto& [name, _] : warmup.inputs()) {
    bool known = false;
    for (const auto& spec : config.input()) known = known || spec.name() == name;
    if (!known) return InvalidArgument(where + ": the model has no input '" + name + "'");
  }
  for (const auto& spec : config.input()) {
    auto it = warmup.inputs().find(spec.name());
    if (it == warmup.inputs().end()) return InvalidArgument(where + ": no data for input '" + spec.name() + "'");
    const ModelWarmup::Input& input = it->second;
    if (input.data_type() != spec.data_type()) {
      return InvalidArgument(where + ": input '" + spec.name() + "' data_type differs from the model's");
    }
    if (input.dims_size() != spec.dims_size()) {
      return InvalidArgument(where + ": input '" + spec.name() + "' has " + std::to_string(input.dims_size()) +
                             " dims, the model " + std::to_string(spec.dims_size()));
    }
    Shape shape;
    if (batching) shape.push_back(rows);
    for (int d = 0; d < spec.dims_size(); ++d) {
      if (input.dims(d) < 1 || (spec.dims(d) != -1 && spec.dims(d) != input.dims(d))) {
        return InvalidArgument(where + ": input '" + spec.name() + "' dims do not match the model's " +
                               ShapeToString(Shape(spec.dims().begin(), spec.dims().end())));
      }
      shape.push_back(input.dims(d));
    }
    const DataType dtype = FromConfigDataType(spec.data_type());
    ASSIGN_OR_RETURN(int64_t elements, ElementCount(shape, int64_t{1} << 28));
    const size_t bytes = static_cast<size_t>(elements) * ElementBytes(dtype);
    switch (input.input_data_type_case()) {
      case ModelWarmup::Input::kInputDataFile: {
        auto read = ReadWarmupFile(model_dir, input.input_data_file());
        if (!read.ok()) {
          return Status(read.status().code(), where + ": input '" + spec.name() + "': " + read.status().message());
        }
        std::string data = std::move(read).value();
        if (dtype != DataType::kBytes && data.size() != bytes) {
          return InvalidArgument(where + ": warmup/" + input.input_data_file() + " has " +
                                 std::to_string(data.size()) + " bytes, input '" + spec.name() + "' needs " +
                                 std::to_string(bytes));
        }
        sample.inputs.push_back(Tensor::FromString(dtype, std::move(shape), std::move(data)));
        break;
      }
      case ModelWarmup::Input::kRandomData: {
        Tensor t = Tensor::Allocate(dtype, std::move(shape), bytes);
        FillRandom(dtype, &t, rng);
        sample.inputs.push_back(std::move(t));
        break;
      }
      case ModelWarmup::Input::kZeroData:
        sample.inputs.push_back(Tensor::Allocate(dtype, std::move(shape), bytes));
        break;
      default:
        return InvalidArgument(where + ": input '" + spec.name() +
                               "' needs zero_data, random_data or input_data_file");
    }
  }
  return sample;
}

}  // namespace

StatusOr<std::vector<WarmupSample>> BuildWarmupSamples(const ModelConfig& config, const fs::path& model_dir) {
  std::vector<WarmupSample> samples;
  std::mt19937_64 rng(0x5eed);
  for (const ModelWarmup& warmup : config.model_warmup()) {
    ASSIGN_OR_RETURN(WarmupSample sample, BuildSample(config, warmup, model_dir, &rng));
    samples.push_back(std::move(sample));
  }
  if (!samples.empty()) return samples;
  // The default: one zero-filled request (dynamic dims as 1).
  WarmupSample zero{"default", {}, 1};
  for (const auto& spec : config.input()) {
    Shape shape;
    if (config.max_batch_size() > 0) shape.push_back(1);
    for (int64_t dim : spec.dims()) shape.push_back(dim == -1 ? 1 : dim);
    const DataType dtype = FromConfigDataType(spec.data_type());
    ASSIGN_OR_RETURN(int64_t elements, ElementCount(shape));
    zero.inputs.push_back(Tensor::Allocate(dtype, std::move(shape), elements * ElementBytes(dtype)));
  }
  samples.push_back(std::move(zero));
  return samples;
}

}  // namespace protoserve
