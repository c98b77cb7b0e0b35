// libFuzzer target: a RecommendationRequest (the seed's message plus
// extensions) from untrusted bytes, through the Recommender contract
// (typed::InferCompiled: selection, Decode, routing with a shadow, batcher,
// ranking with exclusions, Encode) on a fake recommender model, checking
// the answer's shape.
#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>

#include "fuzz_support.h"
#include "recommender.pb.h"
#include "typed/typed_call.h"

using namespace protoserve;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  RecommendationRequest message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  (void)UserHash(message.user_id());

  static const InferenceServer server(fuzz::FakeRepository(typed::TypedContract::Loader()), nullptr, {});
  static const std::string kMethod = "/Recommender/GetRecommendations";
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  Status result_status;
  RecommendationResponse response;
  typed::InferCompiled(server, "recommender", kMethod, {}, message, &response, [&](Status status, InferResult result) {
    result.scope.Release();
    std::lock_guard lock(mu);
    result_status = std::move(status);
    finished = true;
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return finished; })) std::abort();
  if (!result_status.ok()) return 0;
  // An invalid request must never be answered.
  if (message.user_id().empty() || message.user_id().size() > kMaxUserIdBytes) std::abort();
  if (message.top_k() < 0 || message.top_k() > 1000) std::abort();
  const int k = message.top_k() == 0 ? 10 : message.top_k();
  if (response.item_ids_size() > k || response.item_ids_size() != response.scores_size()) std::abort();
  if (!std::is_sorted(response.scores().begin(), response.scores().end(), std::greater<float>())) std::abort();
  for (const std::string& id : response.item_ids()) {
    if (std::find(message.exclude_item_ids().begin(), message.exclude_item_ids().end(), id) !=
        message.exclude_item_ids().end()) {
      std::abort();  // an excluded item was recommended
    }
  }
  return 0;
}
