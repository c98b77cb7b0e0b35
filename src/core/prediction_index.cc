#include "core/prediction_index.h"

namespace protoserve {

namespace {

Status AlreadyExists(std::string message) { return Status(StatusCode::kAlreadyExists, std::move(message)); }

// FNV-1a 64, never 0 (0 marks an empty slot or "no user").
uint64_t Hash(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash == 0 ? 1 : hash;
}

}  // namespace

PredictionIndex::PredictionIndex(size_t capacity, Clock::duration max_age, const SchedulerClock* clock)
    : capacity_(capacity == 0 ? 1 : capacity), max_age_(max_age), clock_(clock ? *clock : SteadySchedulerClock()) {
  MutexLock lock(mu_);
  by_id_.reserve(capacity_);  // no rehash while the window fills
  expired_.assign(2 * capacity_, 0);
}

void PredictionIndex::Add(IndexedPrediction prediction, std::string_view user_id) {
  const Clock::time_point now = clock_.Now();
  const uint64_t id = Hash(prediction.request_id);
  const uint64_t user = user_id.empty() ? 0 : Hash(user_id);
  MutexLock lock(mu_);
  EvictLocked(now);
  const uint64_t sequence = next_sequence_++;
  prediction.sequence = sequence;
  Entry& entry = by_id_[id];
  if (entry.user != 0) {
    // A reused id replaces the older prediction (its order_ slot becomes stale).
    auto latest = latest_by_user_.find(entry.user);
    if (latest != latest_by_user_.end() && latest->second == id) latest_by_user_.erase(latest);
  }
  entry = Entry{std::move(prediction), user, now, false};
  if (user != 0) latest_by_user_[user] = id;
  expired_[id % expired_.size()] = 0;
  order_.emplace_back(sequence, id);
  while (by_id_.size() > capacity_) EvictLocked(Clock::time_point::max());
}

void PredictionIndex::EvictLocked(Clock::time_point now) {
  // `now` max: evict exactly one (the oldest); else every entry past max_age.
  const bool one = now == Clock::time_point::max();
  while (!order_.empty()) {
    const auto [sequence, id] = order_.front();
    auto it = by_id_.find(id);
    const bool stale = it == by_id_.end() || it->second.prediction.sequence != sequence;
    if (!stale) {
      if (!one && now - it->second.added < max_age_) return;
      if (it->second.user != 0) {
        auto latest = latest_by_user_.find(it->second.user);
        if (latest != latest_by_user_.end() && latest->second == id) latest_by_user_.erase(latest);
      }
      by_id_.erase(it);
      expired_[id % expired_.size()] = id;
    }
    order_.pop_front();
    if (one && !stale) return;
  }
}

const PredictionIndex::Entry* PredictionIndex::FindLocked(std::string_view request_id) const {
  auto it = by_id_.find(Hash(request_id));
  return it == by_id_.end() || it->second.prediction.request_id != request_id ? nullptr : &it->second;
}

Status PredictionIndex::MissingLocked(std::string_view request_id) const {
  const std::string id(request_id);
  const uint64_t hash = Hash(request_id);
  if (expired_[hash % expired_.size()] == hash) {
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
  const Entry* entry = nullptr;
  if (request_id.empty()) {
    auto latest = latest_by_user_.find(Hash(user_id));
    if (latest == latest_by_user_.end()) {
      return NotFound("user '" + std::string(user_id) + "' has no recent prediction to join feedback to");
    }
    auto it = by_id_.find(latest->second);
    if (it != by_id_.end()) entry = &it->second;
  } else {
    entry = FindLocked(request_id);
  }
  if (!entry) return MissingLocked(request_id);
  if (entry->has_feedback) {
    return AlreadyExists("request id '" + entry->prediction.request_id + "' already has feedback");
  }
  return entry->prediction;
}

Status PredictionIndex::Claim(const IndexedPrediction& found) {
  MutexLock lock(mu_);
  auto it = by_id_.find(Hash(found.request_id));
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
