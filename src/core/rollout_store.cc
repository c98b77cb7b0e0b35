#include "core/rollout_store.h"

#include <algorithm>
#include <cstddef>
#include <string>

namespace protoserve {

namespace {

// The value of `all` whose name is `name`.
template <typename Enum, size_t N>
StatusOr<Enum> ParseName(const std::string& name, const Enum (&all)[N], const char* (*name_of)(Enum),
                         const char* what) {
  for (Enum value : all) {
    if (name == name_of(value)) return value;
  }
  return InvalidArgument(std::string("unknown ") + what + " '" + name + "'");
}

}  // namespace

const char* RolloutPhaseName(RolloutPhase phase) {
  switch (phase) {
    case RolloutPhase::kProgressing: return "progressing";
    case RolloutPhase::kPromoted: return "promoted";
    case RolloutPhase::kRolledBack: return "rolled_back";
    case RolloutPhase::kAborted: return "aborted";
  }
  return "unknown";
}

StatusOr<RolloutPhase> ParseRolloutPhase(const std::string& name) {
  return ParseName(name, kRolloutPhases, RolloutPhaseName, "rollout phase");
}

const char* RolloutOutcomeName(RolloutOutcome outcome) {
  switch (outcome) {
    case RolloutOutcome::kStart: return "start";
    case RolloutOutcome::kResume: return "resume";
    case RolloutOutcome::kAdvance: return "advance";
    case RolloutOutcome::kPromote: return "promote";
    case RolloutOutcome::kRollback: return "rollback";
    case RolloutOutcome::kAbort: return "abort";
  }
  return "unknown";
}

StatusOr<RolloutOutcome> ParseRolloutOutcome(const std::string& name) {
  return ParseName(name, kRolloutOutcomes, RolloutOutcomeName, "rollout outcome");
}

int RolloutRecord::candidate_percent() const {
  switch (phase) {
    case RolloutPhase::kPromoted: return 100;
    case RolloutPhase::kRolledBack:
    case RolloutPhase::kAborted: return 0;
    case RolloutPhase::kProgressing: break;
  }
  if (policy.steps.empty()) return 0;
  return policy.steps[std::min<size_t>(static_cast<size_t>(std::max(step, 0)), policy.steps.size() - 1)];
}

// --- MemoryRolloutStore ---

StatusOr<std::vector<RolloutRecord>> MemoryRolloutStore::LoadRollouts() {
  MutexLock lock(mu_);
  std::vector<RolloutRecord> out;
  for (const auto& [_, r] : rollouts_) out.push_back(r);
  return out;
}

Status MemoryRolloutStore::SaveRollout(const RolloutRecord& record) {
  MutexLock lock(mu_);
  rollouts_[record.model] = record;
  return Status::Ok();
}

Status MemoryRolloutStore::AppendDecision(const RolloutDecision& decision) {
  MutexLock lock(mu_);
  decisions_.push_back(decision);
  // Bounded: the oldest go first.
  if (decisions_.size() > 10000) decisions_.erase(decisions_.begin(), decisions_.begin() + 1000);
  return Status::Ok();
}

StatusOr<std::vector<RolloutDecision>> MemoryRolloutStore::Decisions(const std::string& model, size_t limit) {
  MutexLock lock(mu_);
  std::vector<RolloutDecision> out;
  for (auto it = decisions_.rbegin(); it != decisions_.rend() && out.size() < limit; ++it) {
    if (it->model == model) out.push_back(*it);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace protoserve
