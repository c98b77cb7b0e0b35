// The server's core for a bench tool (core_alone, stage_server): the same
// objects protoserve's main wires, without a wire.
//
// BenchCore loads one model of a repository through the server's backends
// and typed contract loader, and answers through InferenceServer with the
// feedback loop the server always runs. LoadAlone() gives a second copy of
// the served version, loaded by the same backend, for the model's own cost;
// RecommenderRow() makes the model's two input tensors of one request as the
// typed contract's decode does (hash(user_id), features).
#pragma once

#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/torch/torch_backend.h"
#include "backends/xgboost/xgboost_backend.h"
#include "core/backend.h"
#include "core/feedback_loop.h"
#include "core/inference_server.h"
#include "core/metrics.h"
#include "core/model_repository.h"
#include "core/recommender.h"
#include "recommender.pb.h"
#include "typed/typed_contract.h"

namespace protoserve::bench {

class BenchCore {
 public:
  explicit BenchCore(const std::string& repository_dir) : repository_(repository_dir, &backends_, &metrics_, "") {
    auto torch = MakeTorchBackend();
    backends_.Register("pytorch_libtorch", torch);
    backends_.Register("pytorch", torch);
    backends_.Register("xgboost", MakeXgboostBackend());
    repository_.set_contract_loader(typed::TypedContract::Loader());
  }

  // Loads `model` (its served version must become READY) and starts serving.
  Status Load(const std::string& model) {
    RETURN_IF_ERROR(repository_.LoadAll({model}));
    RETURN_IF_ERROR(repository_.Get(model).status());  // LoadAll records a model's failure, Get returns it
    server_.emplace(&repository_, &metrics_, ServerOptions{});
    feedback_.emplace(&repository_, &metrics_, FeedbackLoopOptions{});
    server_->set_feedback_loop(&*feedback_);
    server_->set_state(ServerState::kReady);
    return Status::Ok();
  }

  // A second copy of the version of `model` the core serves (after Load),
  // loaded by the same backend with the same config.
  StatusOr<std::unique_ptr<LoadedModel>> LoadAlone(const std::string& model) const {
    ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> served, repository_.Get(model));
    ASSIGN_OR_RETURN(Backend * backend, backends_.Find(served->config()));
    ASSIGN_OR_RETURN(std::unique_ptr<LoadedModel> alone,
                     backend->Load(served->config(), repository_.root() / model / std::to_string(served->version())));
    alone->PrepareThread();
    return alone;
  }

  const InferenceServer& server() const { return *server_; }

 private:
  BackendRegistry backends_;
  Metrics metrics_;
  ModelRepository repository_;
  std::optional<InferenceServer> server_;
  std::optional<FeedbackLoop> feedback_;
};

// The recommender's input tensors for one request, one row each: the user
// id's hash ([1, 1] INT64, hash(user_id) of the typed contract) and the
// features ([1, N] FP32).
inline std::vector<Tensor> RecommenderRow(const RecommendationRequest& request) {
  std::vector<Tensor> row;
  const auto hash = static_cast<int64_t>(UserHash(request.user_id()));
  row.push_back(Tensor::Allocate(DataType::kInt64, {1, 1}, sizeof(hash)));
  std::memcpy(row.back().mutable_data(), &hash, sizeof(hash));
  const auto features = static_cast<int64_t>(request.features_size());
  row.push_back(Tensor::Allocate(DataType::kFp32, {1, features}, features * sizeof(float)));
  std::memcpy(row.back().mutable_data(), request.features().data(), features * sizeof(float));
  return row;
}

}  // namespace protoserve::bench
