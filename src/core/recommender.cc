#include "core/recommender.h"

#include <cmath>
#include <cstring>
#include <unordered_set>
#include <algorithm>

#include "core/shadow.h"
#include "core/top_k.h"
#include "core/tracer.h"

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

RecommendationEngine::RecommendationEngine(const ModelRepository* repository, std::string default_model,
                                           Metrics* metrics)
    : repository_(repository), default_model_(std::move(default_model)), metrics_(metrics) {}

namespace {

// Checks that `model` has the recommender's signature; returns the index of
// its `scores` output.
StatusOr<int> RecommenderScoresOutput(const ModelVersion& model, size_t feature_count) {
  const ModelConfig& config = model.config();
  int features_index = -1;
  for (int i = 0; i < config.input_size(); ++i) {
    if (config.input(i).name() == "features") features_index = i;
  }
  const int scores_index = model.OutputIndex("scores");
  if (features_index < 0 || scores_index < 0 || config.input_size() != 2 || config.max_batch_size() == 0 ||
      model.labels(scores_index).empty()) {
    return FailedPrecondition("model '" + model.name() +
                              "' is not a recommender (needs batched inputs user_hash and features, and an "
                              "output scores with a label file)");
  }
  const auto& dims = config.input(features_index).dims();
  if (dims.size() != 1 || (dims[0] != -1 && dims[0] != static_cast<int64_t>(feature_count))) {
    return InvalidArgument("features: expected " + std::to_string(dims.empty() ? 0 : dims[0]) + " values, got " +
                           std::to_string(feature_count));
  }
  return scores_index;
}

// Top-k overlap of a shadow's answer with the primary's: |A and B| / |A|.
double TopKOverlap(const std::vector<std::string>& primary, const std::vector<std::string>& shadow) {
  if (primary.empty()) return 1.0;
  size_t common = 0;
  for (const auto& id : primary) common += std::count(shadow.begin(), shadow.end(), id) > 0;
  return static_cast<double>(common) / static_cast<double>(primary.size());
}

}  // namespace

Status RecommendationEngine::Run(std::shared_ptr<ModelVersion> model, InferenceRequest request, int32_t k,
                                 std::vector<bool> excluded, std::function<void(Status, Recommendation)> done) {
  ASSIGN_OR_RETURN(const int scores_index, RecommenderScoresOutput(*model, request.inputs[1].tensor.shape()[1]));
  ModelVersion* raw = model.get();
  return raw->Infer(std::move(request), [model = std::move(model), k, excluded = std::move(excluded), scores_index,
                                         done = std::move(done)](Status status, InferenceResponse response) {
    Recommendation result;
    result.model_name = model->name();
    result.model_version = model->version();
    result.answered_by = model;
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

Status RecommendationEngine::Recommend(RecommendationQuery query, std::function<void(Status, Recommendation)> done) const {
  // The model first (NOT_FOUND before anything about the body), as on every front-end.
  const std::string& name = query.model_name.empty() ? default_model_ : query.model_name;
  if (!IsValidModelName(name)) return InvalidArgument("model_name: '" + name + "' is not a valid model name");
  // Sticky traffic splits key on the user, so a user keeps one version.
  ASSIGN_OR_RETURN(RouteResult route, repository_->Route(name, query.model_version, query.user_id));
  RETURN_IF_ERROR(ValidateQuery(query));
  ASSIGN_OR_RETURN(const int scores_index, RecommenderScoresOutput(*route.primary, query.features.size()));

  const std::vector<std::string>& labels = route.primary->labels(scores_index);
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
  request.api = query.api;
  request.trace = query.trace;
  if (query.trace) {
    query.trace->NoteRoute(query.model_version, route.split, route.primary->version(),
                           route.shadow ? route.shadow->version() : 0);
  }
  const int32_t k = query.top_k == 0 ? kDefaultTopK : query.top_k;

  if (route.shadow) {
    // Mirror: same inputs (shared, not copied) to the shadow version; its
    // answer is only compared with the primary's, never returned.
    auto pair = std::make_shared<ShadowPair<std::vector<std::string>>>(metrics_, *route.primary, *route.shadow,
                                                                        TopKOverlap);
    auto record = [pair](bool is_primary, const Status& status, const Recommendation& r) {
      if (status.ok()) pair->Offer(is_primary, r.item_ids);
    };
    InferenceRequest mirrored;
    mirrored.inputs = request.inputs;
    mirrored.requested_outputs = request.requested_outputs;
    mirrored.api = Api::kShadow;
    Status shadow_status = Run(route.shadow, std::move(mirrored), k, excluded,
                               [record](Status s, Recommendation r) { record(false, s, r); });
    if (shadow_status.ok()) {
      done = [record, done = std::move(done)](Status s, Recommendation r) {
        record(true, s, r);
        done(std::move(s), std::move(r));
      };
    }
  }
  request.is_cancelled = std::move(query.is_cancelled);
  return Run(std::move(route.primary), std::move(request), k, std::move(excluded), std::move(done));
}

}  // namespace protoserve
