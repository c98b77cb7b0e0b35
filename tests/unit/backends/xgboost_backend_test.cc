// The XGBoost backend against boosters trained here (C API): predictions
// equal the library's own (probability and margin, NaN as missing), and a
// clear error, never a crash, for a missing or corrupt file, a feature-count
// or output-count mismatch and a config the backend cannot serve.
#include "backends/xgboost/xgboost_backend.h"

#include <gtest/gtest.h>
#include <xgboost/c_api.h>

#include <cmath>

#include "backend_test_support.h"

namespace protoserve {
namespace {

using testing::Config;
using testing::Floats;
using testing::Values;
using testing::VersionDir;

constexpr int kFeatures = 3;

std::string ConfigText(int features = kFeatures, int outputs = 1, const std::string& extra = "") {
  return "backend: \"xgboost\" max_batch_size: 16\n"
         "input { name: \"x\" data_type: TYPE_FP32 dims: [ " + std::to_string(features) + " ] }\n"
         "output { name: \"p\" data_type: TYPE_FP32 dims: [ " + std::to_string(outputs) + " ] }\n" + extra;
}

#define XGB_OK(call) ASSERT_EQ((call), 0) << XGBGetLastError()

// Trains a small binary:logistic booster on y = (x0 + x1 > 1), saves it as
// `dir`/model.json and returns the library's own predictions for `rows`
// (output_margin: raw scores instead of probabilities).
void Train(const VersionDir& dir, const std::vector<float>& rows, std::vector<float>* probability,
           std::vector<float>* margin) {
  std::vector<float> x, y;
  for (int i = 0; i < 64; ++i) {
    const float a = static_cast<float>(i % 8) / 8, b = static_cast<float>(i / 8) / 8;
    x.insert(x.end(), {a, b, static_cast<float>(i % 3)});
    y.push_back(a + b > 1 ? 1.0f : 0.0f);
  }
  DMatrixHandle train = nullptr, test = nullptr;
  BoosterHandle booster = nullptr;
  XGB_OK(XGDMatrixCreateFromMat(x.data(), y.size(), kFeatures, NAN, &train));
  XGB_OK(XGDMatrixSetFloatInfo(train, "label", y.data(), y.size()));
  XGB_OK(XGBoosterCreate(&train, 1, &booster));
  XGB_OK(XGBoosterSetParam(booster, "objective", "binary:logistic"));
  XGB_OK(XGBoosterSetParam(booster, "max_depth", "3"));
  XGB_OK(XGBoosterSetParam(booster, "nthread", "1"));
  for (int iteration = 0; iteration < 5; ++iteration) XGB_OK(XGBoosterUpdateOneIter(booster, iteration, train));
  XGB_OK(XGBoosterSaveModel(booster, (dir.path() / "model.json").c_str()));
  XGB_OK(XGDMatrixCreateFromMat(rows.data(), rows.size() / kFeatures, kFeatures, NAN, &test));
  for (auto [option, out] : {std::pair{0, probability}, std::pair{1, margin}}) {
    bst_ulong length = 0;
    const float* result = nullptr;
    XGB_OK(XGBoosterPredict(booster, test, option, 0, 0, &length, &result));
    out->assign(result, result + length);
  }
  XGDMatrixFree(test);
  XGBoosterFree(booster);
  XGDMatrixFree(train);
}

const std::vector<float> kRows = {0.9f, 0.8f, 1.0f, 0.1f, 0.2f, 0.0f, NAN, 0.95f, 2.0f};

TEST(XgboostBackendTest, PredictsWhatTheLibraryPredictsAsProbabilityAndMargin) {
  VersionDir dir;
  std::vector<float> probability, margin;
  ASSERT_NO_FATAL_FAILURE(Train(dir, kRows, &probability, &margin));
  ASSERT_EQ(probability.size(), 3u);
  EXPECT_GT(probability[0], 0.5f);
  EXPECT_LT(probability[1], 0.5f);
  for (auto [extra, expected] :
       {std::pair{std::string(), &probability},
        std::pair{std::string(R"(parameters { key: "predict_type" value { string_value: "margin" } })"), &margin}}) {
    auto model = MakeXgboostBackend()->Load(Config(ConfigText(kFeatures, 1, extra)), dir.path());
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    std::vector<Tensor> outputs;
    ASSERT_TRUE((*model)->Execute({Floats({3, kFeatures}, kRows)}, &outputs).ok());
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_EQ(outputs[0].shape(), (Shape{3, 1}));
    const std::vector<float> got = Values(outputs[0]);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], (*expected)[i]) << extra << " row " << i;
  }
}

TEST(XgboostBackendTest, MismatchedOrUnusableModelsFailToLoadWithTheirReason) {
  VersionDir dir;
  auto missing = MakeXgboostBackend()->Load(Config(ConfigText()), dir.path());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  dir.Write("model.json", "{ not json");
  EXPECT_EQ(MakeXgboostBackend()->Load(Config(ConfigText()), dir.path()).status().code(),
            StatusCode::kInvalidArgument);

  std::vector<float> probability, margin;
  ASSERT_NO_FATAL_FAILURE(Train(dir, kRows, &probability, &margin));
  auto features = MakeXgboostBackend()->Load(Config(ConfigText(kFeatures + 1)), dir.path());
  EXPECT_EQ(features.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(features.status().message().find("has 3 features"), std::string::npos) << features.status().ToString();
  const std::string bad_type = ConfigText(kFeatures, 1, R"(parameters { key: "predict_type" value { string_value: "raw" } })");
  EXPECT_EQ(MakeXgboostBackend()->Load(Config(bad_type), dir.path()).status().code(), StatusCode::kInvalidArgument);

  // Two values per row declared, one predicted: an error per request, not a wrong-sized answer.
  auto outputs_mismatch = MakeXgboostBackend()->Load(Config(ConfigText(kFeatures, 2)), dir.path());
  ASSERT_TRUE(outputs_mismatch.ok()) << outputs_mismatch.status().ToString();
  std::vector<Tensor> outputs;
  Status status = (*outputs_mismatch)->Execute({Floats({3, kFeatures}, kRows)}, &outputs);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_NE(status.message().find("2 per row"), std::string::npos) << status.ToString();
}

}  // namespace
}  // namespace protoserve
