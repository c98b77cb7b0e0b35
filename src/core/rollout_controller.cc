#include "core/rollout_controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "core/model_repository.h"

namespace protoserve {

namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Format(const char* format, double a, double b, double c) {
  char text[256];
  std::snprintf(text, sizeof(text), format, a, b, c);
  return text;
}

}  // namespace

// --- RepositoryRolloutTarget ---

std::vector<std::string> RepositoryRolloutTarget::ModelNames() const {
  std::vector<std::string> names;
  for (const ModelIndexEntry& entry : repository_->Index()) names.push_back(entry.name);
  return names;
}

std::map<std::string, std::string> RepositoryRolloutTarget::RolloutParameters(const std::string& model) const {
  auto config = repository_->Config(model);
  if (!config.ok()) return {};
  return protoserve::RolloutParameters(*config);
}

bool RepositoryRolloutTarget::Exists(const std::string& model) const {
  for (const ModelIndexEntry& entry : repository_->Index()) {
    if (entry.name == model) return true;
  }
  return false;
}

std::vector<int64_t> RepositoryRolloutTarget::ReadyVersions(const std::string& model) const {
  std::vector<int64_t> ready;
  for (const ModelIndexEntry& entry : repository_->Index()) {
    if (entry.name != model) continue;
    for (const VersionStatus& v : entry.versions) {
      if (v.state == ModelState::kReady) ready.push_back(v.version);
    }
  }
  return ready;
}

void RepositoryRolloutTarget::SetSplit(const std::string& model, const std::vector<TrafficSplit::Weight>& weights) {
  if (weights.empty()) {
    repository_->SetSplitWeights(model, std::nullopt);
  } else {
    repository_->SetSplitWeights(model, weights);
  }
}

HealthCounts RepositoryRolloutTarget::Health(const std::string& model, int64_t version) const {
  return health_->Counts(model, version);
}

EvaluationCounts RepositoryRolloutTarget::Quality(const std::string& model, int64_t version) const {
  return evaluation_->Counts(model, version);
}

// --- RolloutController ---

RolloutController::RolloutController(RolloutTarget* target, RolloutStore* store, Metrics* metrics,
                                     RolloutControllerOptions options)
    : target_(target),
      store_(store),
      clock_(options.clock ? options.clock : &SteadySchedulerClock()),
      options_(options) {
  if (metrics) {
    auto& registry = *metrics->registry();
    weight_ = &prometheus::BuildGauge()
                   .Name("protoserve_rollout_candidate_weight_percent")
                   .Help("Share of the model's default-version traffic the rollout gives its candidate (0..100)")
                   .Register(registry);
    step_ = &prometheus::BuildGauge()
                 .Name("protoserve_rollout_step")
                 .Help("Index of the rollout's current step (0-based) in its policy's steps")
                 .Register(registry);
    phase_ = &prometheus::BuildGauge()
                  .Name("protoserve_rollout_phase")
                  .Help("1 for the rollout's current phase (progressing, promoted, rolled_back, aborted), else 0")
                  .Register(registry);
    decisions_ = &prometheus::BuildCounter()
                      .Name("protoserve_rollout_decisions_total")
                      .Help("Rollout decisions by outcome (start, resume, advance, promote, rollback, abort)")
                      .Register(registry);
    z_ = &prometheus::BuildGauge()
              .Name("protoserve_rollout_quality_z")
              .Help("z statistic of the latest quality test (candidate minus baseline; negative: candidate worse)")
              .Register(registry);
    p_value_ = &prometheus::BuildGauge()
                    .Name("protoserve_rollout_quality_p_value")
                    .Help("One-sided p-value of the latest quality test (H1: the candidate is worse)")
                    .Register(registry);
  }
}

RolloutController::~RolloutController() { Stop(); }

void RolloutController::ExportLocked(const RolloutRecord& record) {
  if (!weight_) return;
  const prometheus::Labels labels{{"model", record.model}};
  weight_->Add(labels).Set(record.candidate_percent());
  step_->Add(labels).Set(record.step);
  for (RolloutPhase p : kRolloutPhases) {
    phase_->Add({{"model", record.model}, {"phase", RolloutPhaseName(p)}}).Set(p == record.phase ? 1 : 0);
  }
}

void RolloutController::ApplySplit(const RolloutRecord& record) {
  const int percent = record.candidate_percent();
  std::vector<TrafficSplit::Weight> weights;
  // Baseline first: the candidate gets the top `percent` of the sticky draw,
  // so its users stay on it as its share grows.
  if (percent < 100) weights.push_back({record.policy.baseline_version, static_cast<uint32_t>(100 - percent)});
  if (percent > 0) weights.push_back({record.policy.candidate_version, static_cast<uint32_t>(percent)});
  target_->SetSplit(record.model, weights);
  ExportLocked(record);
}

void RolloutController::BeginStep(Active* active) {
  const RolloutPolicy& p = active->record.policy;
  active->baseline_health = target_->Health(active->record.model, p.baseline_version);
  active->candidate_health = target_->Health(active->record.model, p.candidate_version);
  active->baseline_quality = target_->Quality(active->record.model, p.baseline_version);
  active->candidate_quality = target_->Quality(active->record.model, p.candidate_version);
  active->step_started = clock_->Now();
}

RolloutEvidence RolloutController::EvidenceLocked(const Active& active) const {
  const RolloutPolicy& p = active.record.policy;
  const std::string& model = active.record.model;
  const HealthCounts bh = target_->Health(model, p.baseline_version).Minus(active.baseline_health);
  const HealthCounts ch = target_->Health(model, p.candidate_version).Minus(active.candidate_health);
  RolloutEvidence e;
  e.baseline_requests = bh.requests();
  e.candidate_requests = ch.requests();
  e.baseline_errors = bh.errors;
  e.candidate_errors = ch.errors;
  e.baseline_error_rate = bh.error_rate();
  e.candidate_error_rate = ch.error_rate();
  e.baseline_p99_ms = bh.LatencyQuantile(0.99) * 1000;
  e.candidate_p99_ms = ch.LatencyQuantile(0.99) * 1000;
  e.p99_ratio = e.baseline_p99_ms > 0 && e.candidate_p99_ms > 0 ? e.candidate_p99_ms / e.baseline_p99_ms : 0;

  const EvaluationCounts now_b = target_->Quality(model, p.baseline_version);
  const EvaluationCounts now_c = target_->Quality(model, p.candidate_version);
  const EvaluationCounts& was_b = active.baseline_quality;
  const EvaluationCounts& was_c = active.candidate_quality;
  e.baseline_feedback = now_b.feedback - was_b.feedback;
  e.candidate_feedback = now_c.feedback - was_c.feedback;
  std::string metric = p.metric;
  if (metric == "auto") {
    metric = (now_b.labelled - was_b.labelled) + (now_c.labelled - was_c.labelled) > 0 ? "accuracy" : "hit_rate";
  }
  e.metric = metric;
  if (metric == "hit_rate") {
    e.baseline_trials = now_b.predictions - was_b.predictions;
    e.candidate_trials = now_c.predictions - was_c.predictions;
    e.baseline_successes = now_b.hits - was_b.hits;
    e.candidate_successes = now_c.hits - was_c.hits;
  } else if (metric == "accuracy") {
    e.baseline_trials = now_b.labelled - was_b.labelled;
    e.candidate_trials = now_c.labelled - was_c.labelled;
    e.baseline_successes = now_b.correct - was_b.correct;
    e.candidate_successes = now_c.correct - was_c.correct;
  }
  if (metric != "none") {
    const ProportionTest t =
        CandidateWorseTest(e.candidate_successes, e.candidate_trials, e.baseline_successes, e.baseline_trials);
    e.baseline_rate = t.baseline_rate;
    e.candidate_rate = t.candidate_rate;
    e.z = t.z;
    e.p_value = t.p_value;
  }
  return e;
}

void RolloutController::Decide(Active* active, RolloutOutcome outcome, int to_step, RolloutPhase phase,
                               std::string reason, const RolloutEvidence& evidence) {
  RolloutRecord& r = active->record;
  RolloutDecision d;
  d.model = r.model;
  d.baseline_version = r.policy.baseline_version;
  d.candidate_version = r.policy.candidate_version;
  d.step = r.step;
  d.from_percent = outcome == RolloutOutcome::kStart ? 0 : r.candidate_percent();
  r.step = to_step;
  r.phase = phase;
  r.updated_unix_ms = NowUnixMs();
  d.to_percent = r.candidate_percent();
  d.outcome = outcome;
  d.reason = std::move(reason);
  d.evidence = evidence;
  d.time_unix_ms = r.updated_unix_ms;
  if (Status s = store_->SaveRollout(r); !s.ok()) spdlog::error("rollout '{}': state not saved: {}", r.model, s.message());
  if (Status s = store_->AppendDecision(d); !s.ok()) {
    spdlog::error("rollout '{}': decision not saved: {}", r.model, s.message());
  }
  if (decisions_) decisions_->Add({{"model", r.model}, {"outcome", RolloutOutcomeName(outcome)}}).Increment();
  if (z_ && evidence.metric != "" && evidence.metric != "none") {
    z_->Add({{"model", r.model}}).Set(evidence.z);
    p_value_->Add({{"model", r.model}}).Set(evidence.p_value);
  }
  auto log = outcome == RolloutOutcome::kRollback || outcome == RolloutOutcome::kAbort ? spdlog::level::warn
                                                                                      : spdlog::level::info;
  spdlog::log(log,
              "rollout '{}' {} (baseline v{}, candidate v{}): candidate {}% -> {}%: {} | requests {}/{} errors "
              "{}/{} p99 {:.2f}/{:.2f} ms | {} {}/{} vs {}/{} z={:.3f} p={:.4g}",
              r.model, RolloutOutcomeName(outcome), d.baseline_version, d.candidate_version, d.from_percent,
              d.to_percent, d.reason, evidence.baseline_requests, evidence.candidate_requests, evidence.baseline_errors,
              evidence.candidate_errors, evidence.baseline_p99_ms, evidence.candidate_p99_ms,
              evidence.metric.empty() ? "metric" : evidence.metric, evidence.baseline_successes,
              evidence.baseline_trials, evidence.candidate_successes, evidence.candidate_trials, evidence.z,
              evidence.p_value);
  ApplySplit(r);
  BeginStep(active);
}

void RolloutController::EvaluateLocked(Active* active) {
  RolloutRecord& r = active->record;
  if (r.phase != RolloutPhase::kProgressing) {
    ApplySplit(r);  // a model reloaded from scratch forgets the override
    return;
  }
  ApplySplit(r);
  const RolloutPolicy& p = r.policy;
  const RolloutEvidence e = EvidenceLocked(*active);
  if (e.baseline_requests < p.min_requests || e.candidate_requests < p.min_requests) return;
  if (e.candidate_error_rate > e.baseline_error_rate + p.max_error_rate_margin) {
    return Decide(active, RolloutOutcome::kRollback, r.step, RolloutPhase::kRolledBack,
                  Format("error rate guard: candidate %.4f > baseline %.4f + margin %.4f", e.candidate_error_rate,
                         e.baseline_error_rate, p.max_error_rate_margin),
                  e);
  }
  if (e.p99_ratio > p.max_p99_ratio) {
    return Decide(active, RolloutOutcome::kRollback, r.step, RolloutPhase::kRolledBack,
                  Format("latency guard: p99 ratio %.3f > %.3f (baseline p99 %.2f ms)", e.p99_ratio, p.max_p99_ratio,
                         e.baseline_p99_ms),
                  e);
  }
  if (e.metric != "none") {
    if (e.baseline_feedback < p.min_feedback || e.candidate_feedback < p.min_feedback) return;
    if (e.p_value < p.alpha) {
      return Decide(active, RolloutOutcome::kRollback, r.step, RolloutPhase::kRolledBack,
                    e.metric + Format(" guard: candidate significantly worse (z = %.3f, p = %.4g < alpha %.4g)", e.z,
                                      e.p_value, p.alpha),
                    e);
    }
  }
  const double age = std::chrono::duration<double>(clock_->Now() - active->step_started).count();
  if (age < static_cast<double>(p.min_step_secs)) return;
  const int next = r.step + 1;
  const bool last = static_cast<size_t>(next) + 1 >= p.steps.size();
  std::string reason = "step passed: errors, p99";
  if (e.metric != "none") reason += ", " + e.metric + Format(" not worse (z = %.3f, p = %.4g >= alpha %.4g)", e.z, e.p_value, p.alpha);
  if (last) {
    return Decide(active, RolloutOutcome::kPromote, static_cast<int>(p.steps.size()) - 1, RolloutPhase::kPromoted,
                  reason, e);
  }
  Decide(active, RolloutOutcome::kAdvance, next, RolloutPhase::kProgressing, reason, e);
}

Status RolloutController::Restore() {
  ASSIGN_OR_RETURN(std::vector<RolloutRecord> records, store_->LoadRollouts());
  MutexLock lock(mu_);
  for (RolloutRecord& record : records) {
    Active& active = rollouts_[record.model];
    active.record = std::move(record);
    ApplySplit(active.record);
    BeginStep(&active);
    if (active.record.phase == RolloutPhase::kProgressing) {
      Decide(&active, RolloutOutcome::kResume, active.record.step, RolloutPhase::kProgressing,
             "server restarted: the step's evidence starts again", RolloutEvidence{});
    }
  }
  return Status::Ok();
}

void RolloutController::StartFromConfigLocked(const std::string& model) {
  const std::map<std::string, std::string> parameters = target_->RolloutParameters(model);
  if (parameters.empty()) return;
  auto policy = ParseRolloutPolicy(parameters);
  std::string text;
  for (const auto& [k, v] : parameters) text += k + "=" + v + ";";
  if (!policy.ok()) {
    if (config_errors_[model] != text) {
      config_errors_[model] = text;
      spdlog::error("model '{}': {}", model, policy.status().message());
    }
    return;
  }
  auto it = rollouts_.find(model);
  if (it != rollouts_.end()) {
    const RolloutRecord& r = it->second.record;
    // An API rollout wins; a config rollout stays until the config names another one.
    if (r.source != "config") return;
    if (r.policy.candidate_version == policy->candidate_version &&
        (policy->baseline_version == 0 || policy->baseline_version == r.policy.baseline_version)) {
      return;
    }
  }
  auto started = StartLocked(model, *policy, "config");
  if (!started.ok() && config_errors_[model] != text + started.status().message()) {
    config_errors_[model] = text + started.status().message();
    spdlog::warn("model '{}': rollout from config.pbtxt not started yet: {}", model, started.status().message());
  }
}

void RolloutController::Tick() {
  const std::vector<std::string> models = target_->ModelNames();
  MutexLock lock(mu_);
  for (const std::string& model : models) StartFromConfigLocked(model);
  for (auto& [model, active] : rollouts_) EvaluateLocked(&active);
}

void RolloutController::Start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(thread_mu_);
    while (!stopping_) {
      lock.unlock();
      Tick();
      lock.lock();
      const auto until = clock_->Now() + options_.interval;
      while (!stopping_ && clock_->Now() < until) clock_->WaitUntil(thread_cv_, lock, until);
    }
  });
}

void RolloutController::Stop() {
  {
    std::lock_guard lock(thread_mu_);
    stopping_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

StatusOr<RolloutStatus> RolloutController::StartLocked(const std::string& model, RolloutPolicy policy,
                                                      const std::string& source) {
  if (!target_->Exists(model)) return NotFound("model '" + model + "' is not in the repository");
  const std::vector<int64_t> ready = target_->ReadyVersions(model);
  auto is_ready = [&](int64_t v) { return std::find(ready.begin(), ready.end(), v) != ready.end(); };
  if (!is_ready(policy.candidate_version)) {
    return FailedPrecondition("model '" + model + "': candidate version " + std::to_string(policy.candidate_version) +
                              " is not READY (its version_policy must load it)");
  }
  if (policy.baseline_version == 0) {
    // The version users get now: the outcome of the model's previous rollout (its baseline while one
    // is running), else the highest READY version below the candidate.
    if (auto previous = rollouts_.find(model); previous != rollouts_.end()) {
      const RolloutRecord& r = previous->second.record;
      const int64_t serving =
          r.phase == RolloutPhase::kPromoted ? r.policy.candidate_version : r.policy.baseline_version;
      if (serving != policy.candidate_version && is_ready(serving)) policy.baseline_version = serving;
    }
    if (policy.baseline_version == 0) {
      for (int64_t v : ready) {
        if (v < policy.candidate_version) policy.baseline_version = v;
      }
    }
    if (policy.baseline_version == 0) {
      return FailedPrecondition("model '" + model + "': no READY version below candidate " +
                                std::to_string(policy.candidate_version) + " to be the baseline");
    }
  } else if (!is_ready(policy.baseline_version)) {
    return FailedPrecondition("model '" + model + "': baseline version " + std::to_string(policy.baseline_version) +
                              " is not READY");
  }
  Active& active = rollouts_[model];
  active = Active{};
  active.record.model = model;
  active.record.policy = std::move(policy);
  active.record.step = 0;
  active.record.phase = RolloutPhase::kProgressing;
  active.record.source = source;
  active.record.started_unix_ms = NowUnixMs();
  std::string reason = "started from " + source + ": steps";
  for (int s : active.record.policy.steps) reason += " " + std::to_string(s);
  Decide(&active, RolloutOutcome::kStart, 0, RolloutPhase::kProgressing, reason, RolloutEvidence{});
  return StatusLocked(active);
}

StatusOr<RolloutStatus> RolloutController::StartRollout(const std::string& model, RolloutPolicy policy,
                                                        const std::string& source) {
  MutexLock lock(mu_);
  return StartLocked(model, std::move(policy), source);
}

StatusOr<RolloutStatus> RolloutController::AbortRollout(const std::string& model, const std::string& reason) {
  MutexLock lock(mu_);
  auto it = rollouts_.find(model);
  if (it == rollouts_.end()) return NotFound("model '" + model + "' has no rollout");
  Active& active = it->second;
  if (active.record.phase != RolloutPhase::kProgressing) {
    return FailedPrecondition("the rollout of model '" + model + "' is not progressing (it is " +
                              RolloutPhaseName(active.record.phase) + ")");
  }
  const RolloutEvidence e = EvidenceLocked(active);
  Decide(&active, RolloutOutcome::kAbort, active.record.step, RolloutPhase::kAborted,
         reason.empty() ? "aborted by an operator" : "aborted by an operator: " + reason, e);
  return StatusLocked(active);
}

RolloutStatus RolloutController::StatusLocked(const Active& active) const {
  RolloutStatus status;
  status.record = active.record;
  if (active.record.phase == RolloutPhase::kProgressing) {
    status.evidence = EvidenceLocked(active);
    status.step_age_secs = std::chrono::duration<double>(clock_->Now() - active.step_started).count();
  }
  auto decisions = store_->Decisions(active.record.model, options_.status_decisions);
  if (decisions.ok()) {
    // The current rollout's: from its (latest) start on.
    auto& all = *decisions;
    auto start = std::find_if(all.rbegin(), all.rend(),
                              [](const RolloutDecision& d) { return d.outcome == RolloutOutcome::kStart; });
    if (start != all.rend()) all.erase(all.begin(), std::prev(start.base()));
    status.decisions = std::move(all);
  }
  return status;
}

StatusOr<RolloutStatus> RolloutController::GetStatus(const std::string& model) const {
  MutexLock lock(mu_);
  auto it = rollouts_.find(model);
  if (it == rollouts_.end()) return NotFound("model '" + model + "' has no rollout");
  return StatusLocked(it->second);
}

}  // namespace protoserve
