#include "kserve/rollout_codec.h"

#include <sstream>

#include "core/model_config.h"

namespace protoserve {

namespace v1 = protoserve::rollout::v1;

namespace {

std::string Number(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

void FillEvidence(const RolloutEvidence& e, v1::RolloutEvidence* out) {
  out->set_baseline_requests(e.baseline_requests);
  out->set_candidate_requests(e.candidate_requests);
  out->set_baseline_errors(e.baseline_errors);
  out->set_candidate_errors(e.candidate_errors);
  out->set_baseline_error_rate(e.baseline_error_rate);
  out->set_candidate_error_rate(e.candidate_error_rate);
  out->set_baseline_p99_ms(e.baseline_p99_ms);
  out->set_candidate_p99_ms(e.candidate_p99_ms);
  out->set_p99_ratio(e.p99_ratio);
  out->set_metric(e.metric);
  out->set_baseline_feedback(e.baseline_feedback);
  out->set_candidate_feedback(e.candidate_feedback);
  out->set_baseline_trials(e.baseline_trials);
  out->set_candidate_trials(e.candidate_trials);
  out->set_baseline_successes(e.baseline_successes);
  out->set_candidate_successes(e.candidate_successes);
  out->set_baseline_rate(e.baseline_rate);
  out->set_candidate_rate(e.candidate_rate);
  out->set_z(e.z);
  out->set_p_value(e.p_value);
}

Status CheckController(const InferenceServer& server, const std::string& model) {
  if (!server.rollout_controller()) {
    return Status(StatusCode::kUnimplemented, "progressive rollout is not enabled on this server");
  }
  if (!IsValidModelName(model)) return InvalidArgument("invalid model name '" + model + "'");
  return Status::Ok();
}

}  // namespace

StatusOr<RolloutPolicy> PolicyFromProto(const v1::RolloutPolicy& policy) {
  std::map<std::string, std::string> p;
  p["rollout_candidate_version"] = std::to_string(policy.candidate_version());
  if (policy.has_baseline_version()) p["rollout_baseline_version"] = std::to_string(policy.baseline_version().value());
  if (policy.steps_size() > 0) {
    std::string steps;
    for (int32_t s : policy.steps()) steps += (steps.empty() ? "" : ",") + std::to_string(s);
    p["rollout_steps"] = steps;
  }
  if (policy.has_min_requests()) p["rollout_min_requests"] = std::to_string(policy.min_requests().value());
  if (policy.has_min_feedback()) p["rollout_min_feedback"] = std::to_string(policy.min_feedback().value());
  if (policy.has_min_step_secs()) p["rollout_min_step_secs"] = std::to_string(policy.min_step_secs().value());
  if (policy.has_max_error_rate_margin()) p["rollout_max_error_rate_margin"] = Number(policy.max_error_rate_margin().value());
  if (policy.has_max_p99_ratio()) p["rollout_max_p99_ratio"] = Number(policy.max_p99_ratio().value());
  if (policy.has_alpha()) p["rollout_alpha"] = Number(policy.alpha().value());
  if (policy.has_metric()) p["rollout_metric"] = policy.metric().value();
  return ParseRolloutPolicy(p);
}

void FillRolloutStatus(const RolloutStatus& status, v1::RolloutStatus* out) {
  const RolloutRecord& r = status.record;
  out->set_model_name(r.model);
  out->set_phase(RolloutPhaseName(r.phase));
  out->set_source(r.source);
  out->set_baseline_version(r.policy.baseline_version);
  out->set_candidate_version(r.policy.candidate_version);
  out->set_step(r.step);
  for (int s : r.policy.steps) out->add_steps(s);
  out->set_candidate_percent(r.candidate_percent());
  FillEvidence(status.evidence, out->mutable_evidence());
  out->set_step_age_secs(status.step_age_secs);
  out->set_started_unix_ms(r.started_unix_ms);
  v1::RolloutPolicy* p = out->mutable_policy();
  p->set_candidate_version(r.policy.candidate_version);
  p->mutable_baseline_version()->set_value(r.policy.baseline_version);
  for (int s : r.policy.steps) p->add_steps(s);
  p->mutable_min_requests()->set_value(r.policy.min_requests);
  p->mutable_min_feedback()->set_value(r.policy.min_feedback);
  p->mutable_min_step_secs()->set_value(r.policy.min_step_secs);
  p->mutable_max_error_rate_margin()->set_value(r.policy.max_error_rate_margin);
  p->mutable_max_p99_ratio()->set_value(r.policy.max_p99_ratio);
  p->mutable_alpha()->set_value(r.policy.alpha);
  p->mutable_metric()->set_value(r.policy.metric);
  for (const RolloutDecision& d : status.decisions) {
    v1::RolloutDecision* o = out->add_decisions();
    o->set_time_unix_ms(d.time_unix_ms);
    o->set_step(d.step);
    o->set_from_percent(d.from_percent);
    o->set_to_percent(d.to_percent);
    o->set_outcome(RolloutOutcomeName(d.outcome));
    o->set_reason(d.reason);
    o->set_baseline_version(d.baseline_version);
    o->set_candidate_version(d.candidate_version);
    FillEvidence(d.evidence, o->mutable_evidence());
  }
}

Status StartRolloutCall(const InferenceServer& server, const v1::StartRolloutRequest& request,
                        v1::RolloutStatus* response) {
  RETURN_IF_ERROR(server.CheckManagement());
  RETURN_IF_ERROR(CheckController(server, request.model_name()));
  if (!request.has_policy()) return InvalidArgument("policy: required (at least candidate_version)");
  ASSIGN_OR_RETURN(RolloutPolicy policy, PolicyFromProto(request.policy()));
  ASSIGN_OR_RETURN(RolloutStatus status, server.rollout_controller()->StartRollout(request.model_name(), policy));
  FillRolloutStatus(status, response);
  return Status::Ok();
}

Status AbortRolloutCall(const InferenceServer& server, const v1::AbortRolloutRequest& request,
                        v1::RolloutStatus* response) {
  RETURN_IF_ERROR(server.CheckManagement());
  RETURN_IF_ERROR(CheckController(server, request.model_name()));
  if (request.reason().size() > 1024) return InvalidArgument("reason: at most 1024 bytes");
  ASSIGN_OR_RETURN(RolloutStatus status,
                   server.rollout_controller()->AbortRollout(request.model_name(), request.reason()));
  FillRolloutStatus(status, response);
  return Status::Ok();
}

Status GetRolloutCall(const InferenceServer& server, const v1::GetRolloutRequest& request,
                      v1::RolloutStatus* response) {
  RETURN_IF_ERROR(CheckController(server, request.model_name()));
  ASSIGN_OR_RETURN(RolloutStatus status, server.rollout_controller()->GetStatus(request.model_name()));
  FillRolloutStatus(status, response);
  return Status::Ok();
}

}  // namespace protoserve
