// PredictionIndex: the join window between predictions and feedback.
//
// Every joinable prediction (sampled for the prediction log) is remembered
// here by request id — model, version, what it returned — so that feedback
// arriving later can be joined to the version that answered. For the
// Recommender, the user id also points at that user's latest prediction
// (feedback by user id).
//
// Bounded by entries and by age: the oldest prediction is forgotten when the
// window holds `capacity` entries or when it is older than `max_age` (on the
// injected clock). A forgotten id is remembered as expired (a bounded set of
// the last `capacity` forgotten ids), so that late feedback gets "expired"
// rather than "unknown". Feedback is accepted once per prediction: a second
// one is ALREADY_EXISTS, never merged. A prediction that reuses a request id
// replaces the older one.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/prediction_log.h"
#include "core/scheduler.h"
#include "core/status.h"
#include "core/thread_annotations.h"

namespace protoserve {

struct IndexedPrediction {
  std::string request_id;
  std::string model;
  int64_t version = 0;
  OutputSummary output;
  // Classifier: the row's scores when small enough (kMaxIndexedScores), for log-loss.
  std::vector<float> scores;
  uint64_t sequence = 0;  // set by the index: which Add() this is
};

class PredictionIndex {
 public:
  static constexpr size_t kMaxIndexedScores = 256;

  // `clock` null: the steady clock.
  PredictionIndex(size_t capacity, Clock::duration max_age, const SchedulerClock* clock = nullptr);

  // Remembers `prediction` under its request id (and `user_id`, when not empty).
  void Add(IndexedPrediction prediction, std::string_view user_id);

  // The prediction feedback names: by request id, or (when it is empty) the
  // latest of `user_id`. NOT_FOUND (unknown or expired), ALREADY_EXISTS (it
  // already has feedback). Nothing is marked: see Claim().
  StatusOr<IndexedPrediction> Find(std::string_view request_id, std::string_view user_id);
  // Marks the prediction found by Find() as having feedback. ALREADY_EXISTS
  // when another feedback claimed it in between, NOT_FOUND when it expired.
  Status Claim(const IndexedPrediction& found);

  size_t size() const;

 private:
  // Keys are 64-bit hashes of the ids (FNV-1a): no key strings to allocate
  // and free per prediction. The entry keeps its full request id, and a
  // lookup compares it, so a hash collision (about 2^-64 per pair) can at
  // worst make one id unknown, never join feedback to another prediction.
  struct Entry {
    IndexedPrediction prediction;
    uint64_t user = 0;  // hash of the user id; 0: none
    Clock::time_point added;
    bool has_feedback = false;
  };
  void EvictLocked(Clock::time_point now) REQUIRES(mu_);
  Status MissingLocked(std::string_view request_id) const REQUIRES(mu_);
  const Entry* FindLocked(std::string_view request_id) const REQUIRES(mu_);

  const size_t capacity_;
  const Clock::duration max_age_;
  const SchedulerClock& clock_;

  mutable Mutex mu_;
  uint64_t next_sequence_ GUARDED_BY(mu_) = 1;
  std::unordered_map<uint64_t, Entry> by_id_ GUARDED_BY(mu_);
  // (sequence, id hash) in insertion order: the eviction order.
  std::deque<std::pair<uint64_t, uint64_t>> order_ GUARDED_BY(mu_);
  // user id hash -> id hash of the user's latest prediction.
  std::unordered_map<uint64_t, uint64_t> latest_by_user_ GUARDED_BY(mu_);
  // Hashes of forgotten ids, direct-mapped (2 x capacity slots, no
  // allocation): a late feedback finds its id here -> "expired". A slot
  // reused by a later eviction turns an old "expired" into "unknown"; both
  // are NOT_FOUND.
  std::vector<uint64_t> expired_ GUARDED_BY(mu_);
};

}  // namespace protoserve
