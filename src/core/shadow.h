// Shadow traffic (`protoserve.shadow`, docs/lifecycle.md): a request is also
// run on the shadow version, whose answer is compared with the primary's and
// recorded (protoserve_shadow_agreement), never returned. Shared by the
// Recommender, KServe gRPC and REST front-ends.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "core/inference.h"
#include "core/metrics.h"
#include "core/model_version.h"
#include "core/thread_annotations.h"

namespace protoserve {

// The two answers of one mirrored request: once both are in, their agreement
// in [0, 1] is recorded. Offer() may be called from any thread, once per side;
// a side that failed is never offered and nothing is recorded.
template <typename Answer>
class ShadowPair {
 public:
  using Agreement = std::function<double(const Answer& primary, const Answer& shadow)>;

  ShadowPair(Metrics* metrics, const ModelVersion& primary, const ModelVersion& shadow, Agreement agreement)
      : metrics_(metrics),
        model_(primary.name()),
        primary_version_(primary.version()),
        shadow_version_(shadow.version()),
        agreement_(std::move(agreement)) {}

  void Offer(bool is_primary, Answer answer) {
    MutexLock lock(mu_);
    (is_primary ? primary_ : shadow_) = std::move(answer);
    if (primary_ && shadow_ && metrics_) {
      metrics_->RecordShadow(model_, primary_version_, shadow_version_, agreement_(*primary_, *shadow_));
    }
  }

 private:
  Metrics* const metrics_;  // may be null: nothing recorded
  const std::string model_;
  const int64_t primary_version_, shadow_version_;
  const Agreement agreement_;
  Mutex mu_;
  std::optional<Answer> primary_ GUARDED_BY(mu_), shadow_ GUARDED_BY(mu_);
};

// Agreement of two answers of the same request: the share of rows whose first
// output has the same argmax (or the same side of 0.5 for one probability).
double LabelAgreement(const InferenceResponse& a, const InferenceResponse& b);

// Queues a copy of `request` on `shadow` (Api::kShadow) and returns what the
// primary's successful answer must be passed to; null when the shadow did not
// take the request (e.g. its queue is full). With `copy_inputs`, input
// tensors are deep-copied (needed when they are views into a message that
// dies with the primary call); otherwise the copy shares their buffers.
std::function<void(const InferenceResponse&)> MirrorToShadow(const InferenceRequest& request,
                                                             const ModelVersion& primary,
                                                             const std::shared_ptr<ModelVersion>& shadow,
                                                             Metrics* metrics, bool copy_inputs);

}  // namespace protoserve
