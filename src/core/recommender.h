// What the core keeps of the recommender: the user-id hash and the ranking
// of labelled items. The Recommender contract itself (which request fields
// fill which tensor, what the answer holds, validation) is the model's typed
// mapping (docs/typed-apis.md); the core only ranks an output whose label
// file names the items, when a decoded request asks for it (ItemRanking), so
// the answer's items are known to the prediction log (feedback joins clicks
// to them) and to shadow comparison (top-k overlap).
//
// user_hash is FNV-1a 64 of the UTF-8 user_id, masked to 63 bits, so any
// client can reproduce it (see UserHash).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/inference.h"
#include "core/metrics.h"
#include "core/model_version.h"
#include "core/status.h"

namespace protoserve {

inline constexpr size_t kMaxUserIdBytes = 256;

// FNV-1a 64 (offset 0xcbf29ce484222325, prime 0x100000001b3) & 0x7fffffffffffffff.
uint64_t UserHash(std::string_view user_id);

// A request whose answer is a ranked list of items: the `k` highest scores
// of output `output` (one score per item, its label file naming the items),
// best first, never one of `excluded`.
struct ItemRanking {
  std::string output;
  int32_t k = 1;
  std::vector<std::string> excluded;
};

struct RankedItems {
  std::vector<std::string> item_ids;
  std::vector<float> scores;
};

// Ranks the first row of `response`'s output `ranking.output` with the labels
// of `model`. FAILED_PRECONDITION when the model has no such output with a label file.
StatusOr<RankedItems> RankItems(const ModelVersion& model, const InferenceResponse& response,
                                const ItemRanking& ranking);

// Queues `request` (whose inputs it shares) on `shadow` (Api::kShadow);
// returns what the primary's ranked answer must be passed to, so the two
// are compared by top-k overlap (|A and B| / |A|); null when the shadow did
// not take the request.
std::function<void(const RankedItems&)> MirrorRankingToShadow(const InferenceRequest& request,
                                                             const ModelVersion& primary,
                                                             const std::shared_ptr<ModelVersion>& shadow,
                                                             std::shared_ptr<const ItemRanking> ranking,
                                                             Metrics* metrics);

}  // namespace protoserve
