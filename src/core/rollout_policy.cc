#include "core/rollout_policy.h"

#include <charconv>
#include <cmath>
#include <sstream>

namespace protoserve {

namespace {

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

Status Invalid(const std::string& key, const std::string& expected, const std::string& got) {
  return InvalidArgument("rollout policy: " + key + " must be " + expected + ", got '" + got + "'");
}

std::string Number(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

}  // namespace

std::map<std::string, std::string> RolloutPolicy::ToParameters() const {
  std::string step_text;
  for (int s : steps) step_text += (step_text.empty() ? "" : ",") + std::to_string(s);
  std::map<std::string, std::string> out = {
      {"rollout_candidate_version", std::to_string(candidate_version)},
      {"rollout_steps", step_text},
      {"rollout_min_requests", std::to_string(min_requests)},
      {"rollout_min_feedback", std::to_string(min_feedback)},
      {"rollout_min_step_secs", std::to_string(min_step_secs)},
      {"rollout_max_error_rate_margin", Number(max_error_rate_margin)},
      {"rollout_max_p99_ratio", Number(max_p99_ratio)},
      {"rollout_alpha", Number(alpha)},
      {"rollout_metric", metric}};
  if (baseline_version != 0) out["rollout_baseline_version"] = std::to_string(baseline_version);
  return out;
}

std::map<std::string, std::string> RolloutParameters(const ModelConfig& config) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : config.parameters()) {
    if (key.rfind(kRolloutParameterPrefix, 0) == 0) out[key] = value.string_value();
  }
  return out;
}

StatusOr<RolloutPolicy> ParseRolloutPolicy(const std::map<std::string, std::string>& parameters) {
  static const char* const kKnown[] = {"rollout_candidate_version", "rollout_baseline_version", "rollout_steps",
                                       "rollout_min_requests",      "rollout_min_feedback",     "rollout_min_step_secs",
                                       "rollout_max_error_rate_margin", "rollout_max_p99_ratio", "rollout_alpha",
                                       "rollout_metric"};
  for (const auto& [key, _] : parameters) {
    if (key.rfind(kRolloutParameterPrefix, 0) != 0) continue;
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) return InvalidArgument("rollout policy: unknown parameter '" + key + "'");
  }
  auto get = [&](const char* key) -> const std::string* {
    auto it = parameters.find(key);
    return it == parameters.end() ? nullptr : &it->second;
  };
  RolloutPolicy policy;
  const std::string* candidate = get("rollout_candidate_version");
  if (!candidate) return NotFound("no rollout_candidate_version: no rollout configured");
  if (!ParseNumber(*candidate, &policy.candidate_version) || policy.candidate_version < 1) {
    return Invalid("rollout_candidate_version", "a version number >= 1", *candidate);
  }
  if (const std::string* v = get("rollout_baseline_version")) {
    if (!ParseNumber(*v, &policy.baseline_version) || policy.baseline_version < 0) {
      return Invalid("rollout_baseline_version", "a version number >= 1 (0: automatic)", *v);
    }
    if (policy.baseline_version == policy.candidate_version) {
      return InvalidArgument("rollout policy: rollout_baseline_version equals rollout_candidate_version");
    }
  }
  if (const std::string* v = get("rollout_steps")) {
    policy.steps.clear();
    std::stringstream items(*v);
    for (std::string item; std::getline(items, item, ',');) {
      int percent = 0;
      if (!ParseNumber(item, &percent) || percent < 1 || percent > 100 ||
          (!policy.steps.empty() && percent <= policy.steps.back())) {
        return Invalid("rollout_steps", "ascending percents in 1..100 ending at 100 (e.g. 10,25,50,100)", *v);
      }
      policy.steps.push_back(percent);
    }
    if (policy.steps.size() < 2 || policy.steps.back() != 100) {
      return Invalid("rollout_steps", "at least one step below 100 and then 100 (e.g. 10,25,50,100)", *v);
    }
  }
  auto count = [&](const char* key, int64_t* out, int64_t min) -> Status {
    if (const std::string* v = get(key)) {
      if (!ParseNumber(*v, out) || *out < min) return Invalid(key, "an integer >= " + std::to_string(min), *v);
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(count("rollout_min_requests", &policy.min_requests, 1));
  RETURN_IF_ERROR(count("rollout_min_feedback", &policy.min_feedback, 1));
  RETURN_IF_ERROR(count("rollout_min_step_secs", &policy.min_step_secs, 0));
  auto real = [&](const char* key, double* out, double lo, double hi, const char* expected) -> Status {
    if (const std::string* v = get(key)) {
      // NaN fails both comparisons: refused.
      if (!ParseNumber(*v, out) || !(*out >= lo && *out <= hi)) return Invalid(key, expected, *v);
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(real("rollout_max_error_rate_margin", &policy.max_error_rate_margin, 0, 1, "a number in [0, 1]"));
  RETURN_IF_ERROR(real("rollout_max_p99_ratio", &policy.max_p99_ratio, 1, 1e6, "a number >= 1"));
  RETURN_IF_ERROR(real("rollout_alpha", &policy.alpha, 1e-9, 0.5, "a significance level in (0, 0.5]"));
  if (const std::string* v = get("rollout_metric")) {
    if (*v != "auto" && *v != "hit_rate" && *v != "accuracy" && *v != "none") {
      return Invalid("rollout_metric", "one of auto, hit_rate, accuracy, none", *v);
    }
    policy.metric = *v;
  }
  return policy;
}

ProportionTest CandidateWorseTest(int64_t candidate_successes, int64_t candidate_trials, int64_t baseline_successes,
                                  int64_t baseline_trials) {
  ProportionTest test;
  if (candidate_trials <= 0 || baseline_trials <= 0) return test;
  test.testable = true;
  const double nc = static_cast<double>(candidate_trials);
  const double nb = static_cast<double>(baseline_trials);
  test.candidate_rate = static_cast<double>(candidate_successes) / nc;
  test.baseline_rate = static_cast<double>(baseline_successes) / nb;
  const double pooled = static_cast<double>(candidate_successes + baseline_successes) / (nc + nb);
  const double se = std::sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nb));
  if (!(se > 0)) {
    test.z = 0;
    test.p_value = 0.5;
    return test;
  }
  test.z = (test.candidate_rate - test.baseline_rate) / se;
  test.p_value = 0.5 * std::erfc(-test.z / std::sqrt(2.0));  // Phi(z)
  return test;
}

}  // namespace protoserve
