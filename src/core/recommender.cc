#include "core/recommender.h"

#include <algorithm>
#include <span>
#include <unordered_set>

#include "core/shadow.h"
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

StatusOr<RankedItems> RankItems(const ModelVersion& model, const InferenceResponse& response,
                                const ItemRanking& ranking) {
  const int index = model.OutputIndex(ranking.output);
  if (index < 0 || model.labels(index).empty()) {
    return FailedPrecondition("model '" + model.name() + "' has no output '" + ranking.output +
                              "' with a label file naming the items");
  }
  const NamedTensor* scores = nullptr;
  for (const NamedTensor& out : response.outputs) {
    if (out.name == ranking.output) scores = &out;
  }
  if (!scores || scores->tensor.dtype() != DataType::kFp32) {
    return Internal("model '" + model.name() + "' returned no FP32 output '" + ranking.output + "'");
  }
  const std::vector<std::string>& labels = model.labels(index);
  const size_t n = std::min<size_t>(scores->tensor.element_count(), labels.size());
  std::span<const float> values(scores->tensor.data_as<float>(), n);
  std::vector<bool> excluded;
  if (!ranking.excluded.empty()) {
    const std::unordered_set<std::string_view> ids(ranking.excluded.begin(), ranking.excluded.end());
    excluded.assign(labels.size(), false);
    for (size_t i = 0; i < labels.size(); ++i) excluded[i] = ids.contains(labels[i]);
  }
  RankedItems items;
  for (int32_t i : TopK(values, ranking.k, excluded.empty() ? nullptr : &excluded)) {
    items.item_ids.push_back(labels[i]);
    items.scores.push_back(values[i]);
  }
  return items;
}

namespace {

// Top-k overlap of a shadow's answer with the primary's: |A and B| / |A|.
double TopKOverlap(const std::vector<std::string>& primary, const std::vector<std::string>& shadow) {
  if (primary.empty()) return 1.0;
  size_t common = 0;
  for (const auto& id : primary) common += std::count(shadow.begin(), shadow.end(), id) > 0;
  return static_cast<double>(common) / static_cast<double>(primary.size());
}

}  // namespace

std::function<void(const RankedItems&)> MirrorRankingToShadow(const InferenceRequest& request,
                                                             const ModelVersion& primary,
                                                             const std::shared_ptr<ModelVersion>& shadow,
                                                             std::shared_ptr<const ItemRanking> ranking,
                                                             Metrics* metrics) {
  InferenceRequest mirrored;
  mirrored.inputs = request.inputs;  // shared, not copied: the decoded tensors own their bytes
  mirrored.requested_outputs = request.requested_outputs;
  mirrored.api = Api::kShadow;
  auto pair = std::make_shared<ShadowPair<std::vector<std::string>>>(metrics, primary, *shadow, TopKOverlap);
  Status queued = shadow->Infer(std::move(mirrored), [pair, shadow, ranking](Status status,
                                                                            InferenceResponse response) {
    if (!status.ok()) return;
    auto items = RankItems(*shadow, response, *ranking);
    if (items.ok()) pair->Offer(false, std::move(items->item_ids));
  });
  if (!queued.ok()) return nullptr;
  return [pair](const RankedItems& items) { pair->Offer(true, items.item_ids); };
}

}  // namespace protoserve
