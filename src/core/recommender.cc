#include "core/recommender.h"

#include <cmath>
#include <cstring>
#include <unordered_set>

#include "core/top_k.h"

namespace protoserve {

uint64_t UserHash(std::string_view user_id) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : user_id) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash & 0x7fffffffffffffffULL;
}

Status ValidateQuery(const RecommendationQuery& query) {
  if (query.user_id.empty()) return InvalidArgument("user_id: must not be empty");
  if (query.user_id.size() > kMaxUserIdBytes) {
    return InvalidArgument("user_id: " + std::to_string(query.user_id.size()) + " bytes, at most " +
                           std::to_string(kMaxUserIdBytes) + " allowed");
  }
  if (query.top_k < 0 || query.top_k > kMaxTopK) {
    return InvalidArgument("top_k: " + std::to_string(query.top_k) + " is outside [0, " + std::to_string(kMaxTopK) +
                           "] (0 means " + std::to_string(kDefaultTopK) + ")");
  }
  for (size_t i = 0; i < query.features.size(); ++i) {
    if (!std::isfinite(query.features[i])) {
      return InvalidArgument("features[" + std::to_string(i) + "]: must be a finite number, got " +
                             std::to_string(query.features[i]));
    }
  }
  return Status::Ok();
}

RecommendationEngine::RecommendationEngine(const ModelRepository* repository, std::string default_model)
    : repository_(repository), default_model_(std::move(default_model)) {}

Status RecommendationEngine::Recommend(RecommendationQuery query, std::function<void(Status, Recommendation)> done) const {
  RETURN_IF_ERROR(ValidateQuery(query));
  const std::string& name = query.model_name.empty() ? default_model_ : query.model_name;
  if (!IsValidModelName(name)) return InvalidArgument("model_name: '" + name + "' is not a valid model name");
  ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> model, repository_->Get(name, query.model_version));

  const ModelConfig& config = model->config();
  const int features_index = [&] {
    for (int i = 0; i < config.input_size(); ++i) {
      if (config.input(i).name() == "features") return i;
    }
    return -1;
  }();
  const int scores_index = model->OutputIndex("scores");
  if (features_index < 0 || scores_index < 0 || config.input_size() != 2 || config.max_batch_size() == 0 ||
      model->labels(scores_index).empty()) {
    return FailedPrecondition("model '" + name +
                              "' is not a recommender (needs batched inputs user_hash and features, and an "
                              "output scores with a label file)");
  }
  const auto& feature_dims = config.input(features_index).dims();
  if (feature_dims.size() != 1 || (feature_dims[0] != -1 && feature_dims[0] != static_cast<int64_t>(query.features.size()))) {
    return InvalidArgument("features: expected " + std::to_string(feature_dims.empty() ? 0 : feature_dims[0]) +
                           " values, got " + std::to_string(query.features.size()));
  }
  const std::vector<std::string>& labels = model->labels(scores_index);
  std::vector<bool> excluded;
  if (!query.exclude_item_ids.empty()) {
    const std::unordered_set<std::string_view> ids(query.exclude_item_ids.begin(), query.exclude_item_ids.end());
    excluded.assign(labels.size(), false);
    for (size_t i = 0; i < labels.size(); ++i) excluded[i] = ids.contains(labels[i]);
  }

  InferenceRequest request;
  const int64_t hash = static_cast<int64_t>(UserHash(query.user_id));
  std::string hash_bytes(reinterpret_cast<const char*>(&hash), sizeof(hash));
  request.inputs.push_back({"user_hash", Tensor::FromString(DataType::kInt64, {1, 1}, std::move(hash_bytes))});
  std::string feature_bytes(reinterpret_cast<const char*>(query.features.data()), query.features.size_bytes());
  request.inputs.push_back({"features", Tensor::FromString(DataType::kFp32, {1, static_cast<int64_t>(query.features.size())},
                                                           std::move(feature_bytes))});
  request.requested_outputs.push_back("scores");
  request.deadline = query.deadline;
  request.is_cancelled = std::move(query.is_cancelled);
  request.api = query.api;
  const int32_t k = query.top_k == 0 ? kDefaultTopK : query.top_k;

  return model->Infer(std::move(request), [model, k, excluded = std::move(excluded), scores_index,
                                           done = std::move(done)](Status status, InferenceResponse response) {
    Recommendation result;
    result.model_name = model->name();
    result.model_version = model->version();
    if (!status.ok()) return done(std::move(status), std::move(result));
    const Tensor& scores = response.outputs.front().tensor;
    const std::vector<std::string>& labels = model->labels(scores_index);
    const size_t n = std::min<size_t>(scores.element_count(), labels.size());
    std::span<const float> values(scores.data_as<float>(), n);
    for (int32_t index : TopK(values, k, excluded.empty() ? nullptr : &excluded)) {
      result.item_ids.push_back(labels[index]);
      result.scores.push_back(values[index]);
    }
    done(Status::Ok(), std::move(result));
  });
}

}  // namespace protoserve
