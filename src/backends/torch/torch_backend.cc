#include "backends/torch/torch_backend.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/jit/passes/subgraph_rewrite.h>
#include <torch/script.h>

#include <cstdlib>

namespace protoserve {

namespace {

StatusOr<c10::ScalarType> ToTorch(DataType dtype) {
  switch (dtype) {
    case DataType::kBool: return c10::kBool;
    case DataType::kUint8: return c10::kByte;
    case DataType::kInt8: return c10::kChar;
    case DataType::kInt16: return c10::kShort;
    case DataType::kInt32: return c10::kInt;
    case DataType::kInt64: return c10::kLong;
    case DataType::kFp16: return c10::kHalf;
    case DataType::kFp32: return c10::kFloat;
    case DataType::kFp64: return c10::kDouble;
    default: return InvalidArgument("datatype " + std::string(DataTypeName(dtype)) + " is not supported by the torch backend");
  }
}

// One row times a weight matrix, as a matrix-vector product. A frozen
// Linear becomes aten::matmul(x, W^T) with W^T stored contiguous; for a
// batch of one row OpenBLAS's sgemm still copies ("packs") the whole weight
// operand on every call, which dominated the recommender's forward pass
// (sgemm_itcopy: 64,000 floats per request). gemv reads the weights in
// place. Every other shape is plain matmul.
at::Tensor MatmulRows(const at::Tensor& x, const at::Tensor& w) {
  if (x.dim() == 2 && x.size(0) == 1 && w.dim() == 2 && x.scalar_type() == w.scalar_type() && !x.requires_grad() &&
      x.layout() == c10::kStrided && w.layout() == c10::kStrided) {
    return at::mv(w.t(), x.select(0, 0)).unsqueeze(0);
  }
  return at::matmul(x, w);
}

TORCH_LIBRARY(protoserve, m) { m.def("matmul_rows(Tensor x, Tensor w) -> Tensor", MatmulRows); }

// Routes every aten::matmul of an optimized graph through MatmulRows.
void UseMatrixVectorForSingleRows(torch::jit::Module& module) {
  torch::jit::SubgraphRewriter rewriter;
  rewriter.RegisterRewritePattern(R"IR(
graph(%x, %w):
  %r = aten::matmul(%x, %w)
  return (%r))IR",
                                  R"IR(
graph(%x, %w):
  %r = protoserve::matmul_rows(%x, %w)
  return (%r))IR");
  rewriter.runOnModule(module);
}

class TorchModel : public LoadedModel {
 public:
  TorchModel(torch::jit::Module module, const ModelConfig& config, int intra_op_threads)
      : module_(std::move(module)), intra_op_threads_(intra_op_threads) {
    for (const auto& output : config.output()) {
      output_types_.push_back(FromConfigDataType(output.data_type()));
    }
  }

  void PrepareThread() override { at::set_num_threads(intra_op_threads_); }

  Status Execute(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) override {
    // Batches may run on the caller's thread (inline execution): set this
    // thread's intra-op count when it differs. Not unconditionally: besides
    // OpenMP, at::set_num_threads resizes a process-wide thread pool.
    if (at::get_num_threads() != intra_op_threads_) at::set_num_threads(intra_op_threads_);
    try {
      c10::InferenceMode guard;
      std::vector<c10::IValue> args;
      args.reserve(inputs.size());
      for (const Tensor& input : inputs) {
        ASSIGN_OR_RETURN(c10::ScalarType type, ToTorch(input.dtype()));
        // A non-owning view: the request buffer outlives this call.
        args.emplace_back(torch::from_blob(const_cast<char*>(input.data()), input.shape(),
                                           torch::TensorOptions().dtype(type)));
      }
      c10::IValue result = module_.forward(std::move(args));
      std::vector<at::Tensor> tensors;
      if (result.isTensor()) {
        tensors.push_back(result.toTensor());
      } else if (result.isTuple()) {
        for (const auto& element : result.toTupleRef().elements()) tensors.push_back(element.toTensor());
      } else if (result.isTensorList()) {
        for (const at::Tensor& t : result.toTensorList().vec()) tensors.push_back(t);
      } else {
        return Internal("model returned " + result.tagKind() + ", expected a tensor or a tuple of tensors");
      }
      if (tensors.size() != output_types_.size()) {
        return Internal("model returned " + std::to_string(tensors.size()) + " tensors, config declares " +
                        std::to_string(output_types_.size()) + " outputs");
      }
      outputs->clear();
      for (size_t i = 0; i < tensors.size(); ++i) {
        ASSIGN_OR_RETURN(c10::ScalarType want, ToTorch(output_types_[i]));
        auto holder = std::make_shared<at::Tensor>(tensors[i].to(want).contiguous());
        Shape shape(holder->sizes().begin(), holder->sizes().end());
        outputs->push_back(Tensor::View(output_types_[i], std::move(shape), holder->data_ptr(),
                                        holder->nbytes(), holder));
      }
      return Status::Ok();
    } catch (const std::exception& e) {
      return Internal(std::string("torch forward failed: ") + e.what());
    }
  }

 private:
  torch::jit::Module module_;
  const int intra_op_threads_;
  std::vector<DataType> output_types_;
};

// Debian's torch calls BLAS through libblas.so.3, which is OpenBLAS (pthreads)
// once libopenblas0-pthread is installed. OpenBLAS would start its own pool of
// one thread per core inside every instance's matmul, on top of torch's
// intra-op threads and the instances themselves: oversubscription on a small
// machine. protoserve makes BLAS single-threaded unless OPENBLAS_NUM_THREADS
// is set, and gets its parallelism from instances and INTRA_OP_THREAD_COUNT
// (docs/benchmarks.md has the measurement behind this choice).
void ConfigureBlasThreads() {
  if (std::getenv("OPENBLAS_NUM_THREADS") != nullptr) return;
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(1);
    spdlog::info("torch backend: OpenBLAS set to 1 thread per call (override with OPENBLAS_NUM_THREADS)");
  }
}

// The protoserve parameter OPTIMIZE_FOR_INFERENCE ("true"/"false", default
// false): torch::jit::freeze + optimize_for_inference at load. Opt-in, as
// freezing changes what a module exposes (attributes become constants) and
// the rewritten graph may round differently in the last bit.
StatusOr<bool> OptimizeForInference(const ModelConfig& config) {
  const std::optional<std::string> value = ConfigParameter(config, "OPTIMIZE_FOR_INFERENCE");
  if (!value || *value == "false") return false;
  if (*value == "true") return true;
  return InvalidArgument("OPTIMIZE_FOR_INFERENCE must be \"true\" or \"false\", got \"" + *value + "\"");
}

class TorchBackend : public Backend {
 public:
  TorchBackend() { ConfigureBlasThreads(); }

  StatusOr<std::unique_ptr<LoadedModel>> Load(const ModelConfig& config,
                                              const std::filesystem::path& version_dir) override {
    for (const auto& input : config.input()) RETURN_IF_ERROR(ToTorch(FromConfigDataType(input.data_type())).status());
    for (const auto& output : config.output()) RETURN_IF_ERROR(ToTorch(FromConfigDataType(output.data_type())).status());
    ASSIGN_OR_RETURN(int64_t threads, ConfigIntParameter(config, "INTRA_OP_THREAD_COUNT", 1));
    if (threads < 1 || threads > 256) return InvalidArgument("INTRA_OP_THREAD_COUNT must be in [1, 256]");
    const std::string file = config.default_model_filename().empty() ? "model.pt" : config.default_model_filename();
    const std::filesystem::path path = version_dir / file;
    std::error_code ec;  // the throwing overload would escape on a symlink loop or EACCES
    if (!std::filesystem::is_regular_file(path, ec)) {
      return NotFound("missing model file " + path.string() + (ec ? ": " + ec.message() : ""));
    }
    ASSIGN_OR_RETURN(bool optimize, OptimizeForInference(config));
    try {
      torch::jit::Module module = torch::jit::load(path.string());
      module.eval();
      if (optimize) {
        // Folds the weights into the graph as constants and rewrites it for
        // inference: a Linear's weight is stored pre-transposed, so the small
        // batches a server runs do not re-pack it on every call (OpenBLAS
        // spent most of the recommender's forward pass copying its 1000x64
        // item layer; docs/benchmarks.md). Training-only attributes go.
        torch::jit::Module frozen = torch::jit::freeze(module);
        module = torch::jit::optimize_for_inference(frozen);
        UseMatrixVectorForSingleRows(module);
      }
      return std::unique_ptr<LoadedModel>(new TorchModel(std::move(module), config, static_cast<int>(threads)));
    } catch (const std::exception& e) {
      return InvalidArgument("cannot load TorchScript " + path.string() + ": " + e.what());
    }
  }
};

}  // namespace

std::shared_ptr<Backend> MakeTorchBackend() { return std::make_shared<TorchBackend>(); }

}  // namespace protoserve
