#include "backends/xgboost/xgboost_backend.h"

#include <xgboost/c_api.h>

#include <cstring>

namespace protoserve {

namespace {

Status XgbError(const std::string& what) { return Internal(what + ": " + XGBGetLastError()); }

class XgboostModel : public LoadedModel {
 public:
  XgboostModel(BoosterHandle booster, int64_t features, int64_t outputs_per_row, bool margin)
      : booster_(booster), features_(features), outputs_per_row_(outputs_per_row) {
    predict_config_ = std::string("{\"type\": ") + (margin ? "1" : "0") +
                      ", \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
                      "\"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}";
  }
  ~XgboostModel() override { XGBoosterFree(booster_); }

  Status Execute(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) override {
    const Tensor& x = inputs[0];
    const int64_t rows = x.shape()[0];
    const std::string array = "{\"data\": [" + std::to_string(reinterpret_cast<uintptr_t>(x.data())) +
                              ", true], \"shape\": [" + std::to_string(rows) + ", " + std::to_string(features_) +
                              "], \"typestr\": \"<f4\", \"version\": 3}";
    const bst_ulong* shape = nullptr;
    bst_ulong dims = 0;
    const float* result = nullptr;
    if (XGBoosterPredictFromDense(booster_, array.c_str(), predict_config_.c_str(), nullptr, &shape, &dims,
                                  &result) != 0) {
      return XgbError("xgboost prediction failed");
    }
    bst_ulong total = 1;
    for (bst_ulong i = 0; i < dims; ++i) total *= shape[i];
    if (static_cast<int64_t>(total) != rows * outputs_per_row_) {
      return Internal("xgboost returned " + std::to_string(total) + " values for " + std::to_string(rows) +
                      " rows; the config's output dims say " + std::to_string(outputs_per_row_) + " per row");
    }
    // The result buffer belongs to the booster's thread-local state: copy it.
    Tensor out = Tensor::Allocate(DataType::kFp32, {rows, outputs_per_row_}, total * sizeof(float));
    std::memcpy(out.mutable_data(), result, total * sizeof(float));
    outputs->assign(1, std::move(out));
    return Status::Ok();
  }

 private:
  BoosterHandle booster_;
  const int64_t features_;
  const int64_t outputs_per_row_;
  std::string predict_config_;
};

class XgboostBackend : public Backend {
 public:
  StatusOr<std::unique_ptr<LoadedModel>> Load(const ModelConfig& config,
                                              const std::filesystem::path& version_dir) override {
    if (config.input_size() != 1 || config.output_size() != 1 || config.max_batch_size() == 0) {
      return InvalidArgument("xgboost models take one batched input and produce one output");
    }
    const auto& input = config.input(0);
    const auto& output = config.output(0);
    if (input.data_type() != inference::TYPE_FP32 || output.data_type() != inference::TYPE_FP32 ||
        input.dims_size() != 1 || input.dims(0) < 1 || output.dims_size() != 1 || output.dims(0) < 1) {
      return InvalidArgument("xgboost models need an FP32 input [features] and an FP32 output [values per row]");
    }
    const std::string predict_type = ConfigParameter(config, "predict_type").value_or("probability");
    if (predict_type != "probability" && predict_type != "margin") {
      return InvalidArgument("parameter predict_type must be 'probability' or 'margin', got '" + predict_type + "'");
    }
    ASSIGN_OR_RETURN(int64_t nthread, ConfigIntParameter(config, "nthread", 1));
    if (nthread < 1 || nthread > 256) return InvalidArgument("parameter nthread must be in [1, 256]");

    std::filesystem::path path;
    std::error_code ec;  // never the throwing overloads: a symlink loop must fail the load, not the server
    for (const std::string& name : {config.default_model_filename(), std::string("model.json"), std::string("model.ubj")}) {
      if (!name.empty() && std::filesystem::is_regular_file(version_dir / name, ec)) {
        path = version_dir / name;
        break;
      }
    }
    if (path.empty()) return NotFound("no model.json or model.ubj in " + version_dir.string());

    BoosterHandle booster = nullptr;
    if (XGBoosterCreate(nullptr, 0, &booster) != 0) return XgbError("cannot create booster");
    auto fail = [&](const std::string& what) {
      Status s = XgbError(what);
      XGBoosterFree(booster);
      return s;
    };
    if (XGBoosterLoadModel(booster, path.c_str()) != 0) return InvalidArgument(fail("cannot load " + path.string()).message());
    if (XGBoosterSetParam(booster, "nthread", std::to_string(nthread).c_str()) != 0) return fail("cannot set nthread");
    bst_ulong features = 0;
    if (XGBoosterGetNumFeature(booster, &features) != 0) return fail("cannot read the feature count");
    if (static_cast<int64_t>(features) != input.dims(0)) {
      XGBoosterFree(booster);
      return InvalidArgument("model " + path.string() + " has " + std::to_string(features) +
                             " features, config input '" + input.name() + "' says " + std::to_string(input.dims(0)));
    }
    return std::unique_ptr<LoadedModel>(
        new XgboostModel(booster, input.dims(0), output.dims(0), predict_type == "margin"));
  }
};

}  // namespace

std::shared_ptr<Backend> MakeXgboostBackend() { return std::make_shared<XgboostBackend>(); }

}  // namespace protoserve
