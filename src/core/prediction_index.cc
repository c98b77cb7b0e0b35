#include "core/prediction_index.h"

namespace protoserve {

namespace {
Status AlreadyExists(std::string message) { return Status(StatusCode::kAlreadyExists, std::move(message)); }
}  // namespace

PredictionIndex::PredictionIndex(size_t capacity, Clock::duration max_age, const SchedulerClock* clock)
    : capacity_(capacity == 0 ? 1 : capacity), max_age_(max_age), clock_(clock ? *clock : SteadySchedulerClock()) {}

void PredictionIndex::Add(IndexedPrediction prediction, std::string_view user_id) {
  const Clock::time_point now = clock_.Now();
  MutexLock lock(mu_);
  EvictLocked(now);
  const uint64_t sequence = next_sequence_++;
  prediction.sequence = sequence;
  std::string id = prediction.request_id;
  auto [it, inserted] = by_id_.try_emplace(id);
  if (!inserted && !it->second.user_id.empty()) {
    // A reused id replaces the older prediction (its order_ slot becomes stale).
    auto user = latest_by_user_.find(it->second.user_id);
    if (user != latest_by_user_.end() && user->second == id) latest_by_user_.erase(user);
  }
  it->second = Entry{std::move(prediction), std::string(user_id), now, false};
  if (!user_id.empty()) latest_by_user_[std::string(user_id)] = id;
  expired_.erase(id);
  order_.emplace_back(sequence, std::move(id));
  while (by_id_.size() > capacity_) EvictLocked(Clock::time_point::max());
}

void PredictionIndex::EvictLocked(Clock::time_point now) {
  // `now` max: evict exactly one (the oldest); else every entry past max_age.
  const bool one = now == Clock::time_point::max();
  while (!order_.empty()) {
    auto& [sequence, id] = order_.front();
    auto it = by_id_.find(id);
    const bool stale = it == by_id_.end() || it->second.prediction.sequence != sequence;
    if (!stale) {
      if (!one && now - it->second.added < max_age_) return;
      if (!it->second.user_id.empty()) {
        auto user = latest_by_user_.find(it->second.user_id);
        if (user != latest_by_user_.end() && user->second == id) latest_by_user_.erase(user);
      }
      by_id_.erase(it);
      RememberExpiredLocked(std::move(id));
    }
    order_.pop_front();
    if (one && !stale) return;
  }
}

void PredictionIndex::RememberExpiredLocked(std::string id) {
  if (!expired_.insert(id).second) return;
  expired_order_.push_back(std::move(id));
  while (expired_order_.size() > capacity_) {
    expired_.erase(expired_order_.front());
    expired_order_.pop_front();
  }
}

Status PredictionIndex::MissingLocked(std::string_view request_id) const {
  const std::string id(request_id);
  if (expired_.contains(id)) {
    return NotFound("request id '" + id + "' expired: feedback must arrive within the join window (the last " +
                    std::to_string(capacity_) + " predictions, " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(max_age_).count()) + " s)");
  }
  return NotFound("request id '" + id +
                  "' is unknown: no prediction with this id was answered (or it was not sampled for the "
                  "prediction log)");
}

StatusOr<IndexedPrediction> PredictionIndex::Find(std::string_view request_id, std::string_view user_id) {
  const Clock::time_point now = clock_.Now();
  MutexLock lock(mu_);
  EvictLocked(now);
  std::string id(request_id);
  if (id.empty()) {
    auto user = latest_by_user_.find(std::string(user_id));
    if (user == latest_by_user_.end()) {
      return NotFound("user '" + std::string(user_id) + "' has no recent prediction to join feedback to");
    }
    id = user->second;
  }
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return MissingLocked(id);
  if (it->second.has_feedback) return AlreadyExists("request id '" + id + "' already has feedback");
  return it->second.prediction;
}

Status PredictionIndex::Claim(const IndexedPrediction& found) {
  MutexLock lock(mu_);
  auto it = by_id_.find(found.request_id);
  if (it == by_id_.end() || it->second.prediction.sequence != found.sequence) return MissingLocked(found.request_id);
  if (it->second.has_feedback) return AlreadyExists("request id '" + found.request_id + "' already has feedback");
  it->second.has_feedback = true;
  return Status::Ok();
}

size_t PredictionIndex::size() const {
  MutexLock lock(mu_);
  return by_id_.size();
}

}  // namespace protoserve
