// XGBoost backend (libxgboost C API): loads `<version>/model.json` or
// `model.ubj` (or the config's default_model_filename) and predicts with
// in-place prediction over the request's dense FP32 rows (thread-safe, so
// instances share one booster).
//
// Config: one FP32 input [features] (batched); one FP32 output whose dims give
// the values per row (1 for binary/regression, classes for multi:softprob).
// Parameters: `predict_type` = "probability" (default, the objective's
// transformed output) or "margin"; `nthread` = threads per prediction
// (default 1). Missing values are NaN. This is the only place that includes
// xgboost headers.
#pragma once

#include <memory>

#include "core/backend.h"

namespace protoserve {

std::shared_ptr<Backend> MakeXgboostBackend();

}  // namespace protoserve
