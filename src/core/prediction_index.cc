#include "core/prediction_index.h"

#include <algorithm>
#include <cstring>

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

// The ring's first size: it doubles when full, up to the window's capacity.
constexpr size_t kInitialSlots = 1024;

void AppendString(std::string_view value, std::string* text) {
  const auto size = static_cast<uint32_t>(value.size());
  text->append(reinterpret_cast<const char*>(&size), sizeof(size));
  text->append(value);
}

// The next length-prefixed string of `text` at `*offset`.
std::string_view NextString(const std::string& text, size_t* offset) {
  uint32_t size = 0;
  std::memcpy(&size, text.data() + *offset, sizeof(size));
  const std::string_view value(text.data() + *offset + sizeof(size), size);
  *offset += sizeof(size) + size;
  return value;
}

}  // namespace

PredictionIndex::PredictionIndex(size_t capacity, Clock::duration max_age, const SchedulerClock* clock)
    : capacity_(capacity == 0 ? 1 : capacity), max_age_(max_age), clock_(clock ? *clock : SteadySchedulerClock()) {
  MutexLock lock(mu_);
  expired_.assign(2 * capacity_, 0);
}

void PredictionIndex::Pack(const IndexedPrediction& prediction, Slot* slot) {
  const OutputSummary& output = prediction.output;
  slot->version = prediction.version;
  slot->kind = output.kind;
  slot->class_index = output.class_index;
  slot->score = output.score;
  slot->rows = output.rows;
  slot->has_feedback = false;
  std::string& text = slot->text;  // keeps the capacity of the prediction it replaces
  text.clear();
  AppendString(prediction.request_id, &text);
  AppendString(prediction.model, &text);
  slot->strings = 2;
  if (output.kind == OutputSummary::Kind::kItems) {
    for (const std::string& item : output.items) AppendString(item, &text);
    slot->strings += static_cast<uint32_t>(output.items.size());
  } else if (output.kind == OutputSummary::Kind::kClass || output.kind == OutputSummary::Kind::kDigest) {
    AppendString(output.kind == OutputSummary::Kind::kClass ? output.label : output.digest, &text);
    slot->strings += 1;
  }
  slot->scores.assign(prediction.scores.begin(), prediction.scores.end());
}

IndexedPrediction PredictionIndex::Unpack(const Slot& slot) {
  IndexedPrediction prediction;
  size_t offset = 0;
  prediction.request_id = NextString(slot.text, &offset);
  prediction.model = NextString(slot.text, &offset);
  prediction.version = slot.version;
  prediction.sequence = slot.sequence;
  OutputSummary& output = prediction.output;
  output.kind = slot.kind;
  output.class_index = slot.class_index;
  output.score = slot.score;
  output.rows = slot.rows;
  for (uint32_t i = 2; i < slot.strings; ++i) {
    const std::string_view value = NextString(slot.text, &offset);
    if (slot.kind == OutputSummary::Kind::kItems) {
      output.items.emplace_back(value);
    } else if (slot.kind == OutputSummary::Kind::kClass) {
      output.label = value;
    } else {
      output.digest = value;
    }
  }
  prediction.scores = slot.scores;
  return prediction;
}

size_t PredictionIndex::PositionOf(uint64_t sequence) const {
  const uint64_t oldest = next_sequence_ - count_;
  if (sequence < oldest || sequence >= next_sequence_) return kNowhere;
  return (head_ + (sequence - oldest)) % ring_.size();
}

PredictionIndex::Slot* PredictionIndex::SlotOf(uint64_t sequence) {
  const size_t position = PositionOf(sequence);
  return position == kNowhere ? nullptr : &ring_[position];
}

const PredictionIndex::Slot* PredictionIndex::FindLocked(std::string_view request_id) const {
  auto it = by_id_.find(Hash(request_id));
  if (it == by_id_.end()) return nullptr;
  const size_t position = PositionOf(it->second);
  if (position == kNowhere) return nullptr;
  size_t offset = 0;
  return NextString(ring_[position].text, &offset) == request_id ? &ring_[position] : nullptr;
}

void PredictionIndex::GrowLocked() {
  // Called when every slot is taken: the slots move, oldest first, into a
  // ring twice the size (sequences, which the maps hold, do not change).
  std::vector<Slot> bigger(std::min(capacity_, std::max(kInitialSlots, 2 * ring_.size())));
  for (size_t i = 0; i < count_; ++i) bigger[i] = std::move(ring_[(head_ + i) % ring_.size()]);
  ring_ = std::move(bigger);
  head_ = 0;
}

void PredictionIndex::KillLocked(Slot* slot) {
  if (slot->user != 0) {
    auto latest = latest_by_user_.find(slot->user);
    if (latest != latest_by_user_.end() && latest->second == slot->id) latest_by_user_.erase(latest);
  }
  slot->id = 0;
}

void PredictionIndex::EvictOldestLocked() {
  Slot& slot = ring_[head_];
  if (slot.id != 0) {
    auto id = by_id_.find(slot.id);
    if (id != by_id_.end() && id->second == slot.sequence) by_id_.erase(id);
    expired_[slot.id % expired_.size()] = slot.id;
    KillLocked(&slot);
  }
  head_ = (head_ + 1) % ring_.size();
  --count_;
}

void PredictionIndex::EvictLocked(Clock::time_point now) {
  // Every slot past max_age, oldest first; dead slots on the way go too.
  while (count_ > 0) {
    const Slot& oldest = ring_[head_];
    if (oldest.id != 0 && now - oldest.added < max_age_) return;
    EvictOldestLocked();
  }
}

void PredictionIndex::Add(IndexedPrediction prediction, std::string_view user_id) {
  const Clock::time_point now = clock_.Now();
  const uint64_t id = Hash(prediction.request_id);
  const uint64_t user = user_id.empty() ? 0 : Hash(user_id);
  MutexLock lock(mu_);
  EvictLocked(now);
  const uint64_t sequence = next_sequence_;  // taken with the slot, below
  auto [entry, inserted] = by_id_.try_emplace(id, sequence);
  if (!inserted) {
    // A reused id replaces the older prediction: its slot dies where it is.
    if (Slot* older = SlotOf(entry->second); older != nullptr && older->id == id) KillLocked(older);
    entry->second = sequence;
  }
  if (count_ == ring_.size()) {
    if (ring_.size() < capacity_) {
      GrowLocked();
    } else {
      EvictOldestLocked();  // the window is full: the oldest slot (live or dead) makes room
    }
  }
  Slot& slot = ring_[(head_ + count_) % ring_.size()];
  ++count_;
  ++next_sequence_;
  Pack(prediction, &slot);
  slot.id = id;
  slot.user = user;
  slot.sequence = sequence;
  slot.added = now;
  if (user != 0) latest_by_user_[user] = id;
  expired_[id % expired_.size()] = 0;
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
  const Slot* slot = nullptr;
  if (request_id.empty()) {
    auto latest = latest_by_user_.find(Hash(user_id));
    if (latest == latest_by_user_.end()) {
      return NotFound("user '" + std::string(user_id) + "' has no recent prediction to join feedback to");
    }
    auto it = by_id_.find(latest->second);
    if (it != by_id_.end()) slot = SlotOf(it->second);
  } else {
    slot = FindLocked(request_id);
  }
  if (!slot) return MissingLocked(request_id);
  IndexedPrediction found = Unpack(*slot);
  if (slot->has_feedback) return AlreadyExists("request id '" + found.request_id + "' already has feedback");
  return found;
}

Status PredictionIndex::Claim(const IndexedPrediction& found) {
  MutexLock lock(mu_);
  auto it = by_id_.find(Hash(found.request_id));
  Slot* slot = it == by_id_.end() || it->second != found.sequence ? nullptr : SlotOf(it->second);
  if (slot == nullptr || slot->id == 0) return MissingLocked(found.request_id);
  if (slot->has_feedback) return AlreadyExists("request id '" + found.request_id + "' already has feedback");
  slot->has_feedback = true;
  return Status::Ok();
}

size_t PredictionIndex::size() const {
  MutexLock lock(mu_);
  return by_id_.size();
}

}  // namespace protoserve
