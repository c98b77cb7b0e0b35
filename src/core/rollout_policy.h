// RolloutPolicy: how a candidate version of a model is rolled out — the
// traffic steps, the evidence each step needs, and the guards that roll it
// back — and the statistical test the quality guard uses (docs/rollout.md).
//
// A policy comes from config.pbtxt `parameters` (the keys below) or from the
// management API (which turns its fields into the same key/value map, so
// both are validated by ParseRolloutPolicy and give the same errors):
//
//   rollout_candidate_version      V (required): the version rolled out
//   rollout_baseline_version       B (default: what users get now — the outcome of the model's
//                                  previous rollout, else the highest READY version below V)
//   rollout_steps                  candidate's percent per step, ascending, ending at 100
//                                  (default "10,25,50,100")
//   rollout_min_requests           per version per step, before any guard is read (default 500)
//   rollout_min_feedback           feedback events per version per step, before the
//                                  quality test is read (default 100)
//   rollout_min_step_secs          a step advances no sooner (default 0; guards may roll back sooner)
//   rollout_max_error_rate_margin  candidate error rate - baseline error rate at most this (default 0.01)
//   rollout_max_p99_ratio          candidate p99 / baseline p99 at most this (default 1.5)
//   rollout_alpha                  significance level of the quality test (default 0.05)
//   rollout_metric                 hit_rate | accuracy | auto (default auto: accuracy when
//                                  the step has labelled feedback, else hit_rate) | none
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/model_config.h"
#include "core/status.h"

namespace protoserve {

inline constexpr char kRolloutParameterPrefix[] = "rollout_";

struct RolloutPolicy {
  int64_t candidate_version = 0;
  int64_t baseline_version = 0;  // 0: chosen when the rollout starts
  std::vector<int> steps = {10, 25, 50, 100};
  int64_t min_requests = 500;
  int64_t min_feedback = 100;
  int64_t min_step_secs = 0;
  double max_error_rate_margin = 0.01;
  double max_p99_ratio = 1.5;
  double alpha = 0.05;
  std::string metric = "auto";

  // The policy as `rollout_*` key/value pairs (what ParseRolloutPolicy reads back).
  std::map<std::string, std::string> ToParameters() const;
};

// Parses and validates `rollout_*` pairs (other keys are ignored). An error
// names the key and what it expects. NOT_FOUND when no
// rollout_candidate_version is given (no rollout configured).
StatusOr<RolloutPolicy> ParseRolloutPolicy(const std::map<std::string, std::string>& parameters);
// The `rollout_*` parameters of a model config.
std::map<std::string, std::string> RolloutParameters(const ModelConfig& config);

// One-sided two-proportion z-test of H0: p_candidate >= p_baseline against
// H1: p_candidate < p_baseline, with the pooled standard error:
//   p = (x_c + x_b) / (n_c + n_b),  se = sqrt(p (1 - p) (1/n_c + 1/n_b)),
//   z = (x_c/n_c - x_b/n_b) / se,   p_value = Phi(z).
// Edge cases: a side with n = 0 is not testable (`testable` false, p_value
// 1); se = 0 (both rates 0, or both 1) means no difference: z = 0, p_value 0.5.
struct ProportionTest {
  bool testable = false;
  double baseline_rate = 0;
  double candidate_rate = 0;
  double z = 0;
  double p_value = 1;
};
ProportionTest CandidateWorseTest(int64_t candidate_successes, int64_t candidate_trials, int64_t baseline_successes,
                                  int64_t baseline_trials);

}  // namespace protoserve
