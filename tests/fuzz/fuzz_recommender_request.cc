// libFuzzer target: a RecommendationRequest (the seed's message plus
// extensions) from untrusted bytes, through ValidateQuery and
// RecommendationEngine::Recommend on a fake recommender model (routing,
// validation, batcher, top-k with exclusions), checking the answer's shape.
#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>

#include "core/recommender.h"
#include "fuzz_support.h"
#include "recommender.pb.h"

using namespace protoserve;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  RecommendationRequest message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  RecommendationQuery query;
  query.user_id = message.user_id();
  query.features = std::span<const float>(message.features().data(), message.features_size());
  query.top_k = message.top_k();
  query.exclude_item_ids.assign(message.exclude_item_ids().begin(), message.exclude_item_ids().end());
  query.model_name = message.model_name();
  query.model_version = message.model_version();
  const Status valid = ValidateQuery(query);
  (void)UserHash(query.user_id);

  static const RecommendationEngine engine(fuzz::FakeRepository(), "recommender");
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  Status result_status;
  Recommendation result;
  Status queued = engine.Recommend(query, [&](Status status, Recommendation r) {
    std::lock_guard lock(mu);
    result_status = std::move(status);
    result = std::move(r);
    finished = true;
    cv.notify_one();
  });
  if (!valid.ok() && queued.ok()) std::abort();  // an invalid query must never be queued
  if (!queued.ok()) return 0;
  std::unique_lock lock(mu);
  if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return finished; })) std::abort();
  if (!result_status.ok()) return 0;
  const size_t k = message.top_k() == 0 ? kDefaultTopK : static_cast<size_t>(message.top_k());
  if (result.item_ids.size() > k || result.item_ids.size() != result.scores.size()) std::abort();
  if (!std::is_sorted(result.scores.begin(), result.scores.end(), std::greater<float>())) std::abort();
  for (const std::string& id : result.item_ids) {
    if (std::find(query.exclude_item_ids.begin(), query.exclude_item_ids.end(), id) != query.exclude_item_ids.end()) {
      std::abort();  // an excluded item was recommended
    }
  }
  return 0;
}
