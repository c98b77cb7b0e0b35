// PredictionIndex: the join window between predictions and feedback.
//
// Every joinable prediction (sampled for the prediction log) is remembered
// here by request id — model, version, what it returned — so that feedback
// arriving later can be joined to the version that answered. For the
// Recommender, the user id also points at that user's latest prediction
// (feedback by user id).
//
// Bounded by entries and by age: the window is the last `capacity`
// predictions, none older than `max_age` (on the injected clock); the oldest
// is forgotten first. A forgotten id is remembered as expired (a bounded set of
// the last `capacity` forgotten ids), so that late feedback gets "expired"
// rather than "unknown". Feedback is accepted once per prediction: a second
// one is ALREADY_EXISTS, never merged. A prediction that reuses a request id
// replaces the older one (which still counts among the last `capacity`, so
// clients repeating one id cannot grow the window's memory).
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>

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
  // The window is a ring of slots in arrival order (the eviction order):
  // a prediction overwrites the oldest slot's memory instead of allocating,
  // and its strings are packed into one buffer the slot reuses. Per request
  // it touches a few cache lines instead of a node, a vector of item strings
  // and their frees (~750 B per entry before, ~360 B now, times 65,536
  // entries: far outside any cache; issue 22: the core's own CPU per request
  // 8.9-11.8 -> 7.2-7.8 us in core_alone).
  //
  // Keys are 64-bit hashes of the ids (FNV-1a): no key strings to allocate
  // and free per prediction. The slot keeps its full request id, and a
  // lookup compares it, so a hash collision (about 2^-64 per pair) can at
  // worst make one id unknown, never join feedback to another prediction.
  struct Slot {
    uint64_t id = 0;        // hash of the request id; 0: dead (its id was reused by a later prediction)
    uint64_t user = 0;      // hash of the user id; 0: none
    uint64_t sequence = 0;  // which Add() filled it
    Clock::time_point added{};
    int64_t version = 0;
    int64_t class_index = -1;
    int64_t rows = 1;
    float score = 0;
    OutputSummary::Kind kind = OutputSummary::Kind::kNone;
    bool has_feedback = false;
    uint32_t strings = 0;   // length-prefixed strings in `text`: request id, model, then items/label/digest
    std::string text;
    std::vector<float> scores;
  };
  // The ring position of the slot holding `sequence`; kNowhere when it left the ring.
  static constexpr size_t kNowhere = static_cast<size_t>(-1);
  size_t PositionOf(uint64_t sequence) const REQUIRES(mu_);
  Slot* SlotOf(uint64_t sequence) REQUIRES(mu_);
  const Slot* FindLocked(std::string_view request_id) const REQUIRES(mu_);
  // A live slot dies: it leaves the user's latest link (by_id_ is the caller's).
  void KillLocked(Slot* slot) REQUIRES(mu_);
  void EvictOldestLocked() REQUIRES(mu_);
  void EvictLocked(Clock::time_point now) REQUIRES(mu_);
  void GrowLocked() REQUIRES(mu_);
  Status MissingLocked(std::string_view request_id) const REQUIRES(mu_);
  static void Pack(const IndexedPrediction& prediction, Slot* slot);
  static IndexedPrediction Unpack(const Slot& slot);

  const size_t capacity_;
  const Clock::duration max_age_;
  const SchedulerClock& clock_;

  mutable Mutex mu_;
  uint64_t next_sequence_ GUARDED_BY(mu_) = 1;
  // The ring: `count_` slots from `head_` (the oldest), live or dead, holding
  // the sequences next_sequence_ - count_ ... next_sequence_ - 1 (each Add
  // takes the next slot); it grows (doubling, up to capacity_ slots) only
  // when full.
  std::vector<Slot> ring_ GUARDED_BY(mu_);
  size_t head_ GUARDED_BY(mu_) = 0;
  size_t count_ GUARDED_BY(mu_) = 0;
  // id hash -> sequence of its live slot (one entry per live slot: size()).
  absl::flat_hash_map<uint64_t, uint64_t> by_id_ GUARDED_BY(mu_);
  // user id hash -> id hash of the user's latest prediction.
  absl::flat_hash_map<uint64_t, uint64_t> latest_by_user_ GUARDED_BY(mu_);
  // Hashes of forgotten ids, direct-mapped (2 x capacity slots, no
  // allocation): a late feedback finds its id here -> "expired". A slot
  // reused by a later eviction turns an old "expired" into "unknown"; both
  // are NOT_FOUND.
  std::vector<uint64_t> expired_ GUARDED_BY(mu_);
};

}  // namespace protoserve
