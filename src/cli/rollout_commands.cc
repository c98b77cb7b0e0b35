#include "cli/rollout_commands.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <ctime>

#include "rollout.grpc.pb.h"

namespace protoserve::cli {

namespace v1 = protoserve::rollout::v1;

namespace {

nlohmann::json ToJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &text, options);
  return nlohmann::json::parse(text);
}

std::string Clock(int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[16];
  std::strftime(text, sizeof(text), "%H:%M:%S", &tm);
  return text;
}

void PrintStatus(const v1::RolloutStatus& s) {
  std::string steps;
  for (int32_t p : s.steps()) steps += (steps.empty() ? "" : ",") + std::to_string(p);
  std::printf("\nrollout of %s: %s (from %s) baseline v%lld, candidate v%lld at %d%% (step %d of %s)\n",
              s.model_name().c_str(), s.phase().c_str(), s.source().c_str(),
              static_cast<long long>(s.baseline_version()), static_cast<long long>(s.candidate_version()),
              s.candidate_percent(), s.step(), steps.c_str());
  const v1::RolloutPolicy& p = s.policy();
  std::printf("policy: min %lld requests and %lld feedback per version per step, error margin %.4f, p99 ratio <= %.2f, "
              "%s one-sided z-test at alpha %.3g\n",
              static_cast<long long>(p.min_requests().value()), static_cast<long long>(p.min_feedback().value()),
              p.max_error_rate_margin().value(), p.max_p99_ratio().value(), p.metric().value().c_str(), p.alpha().value());
  if (s.phase() == "progressing") {
    const v1::RolloutEvidence& e = s.evidence();
    std::printf("this step (%.0f s): requests %lld / %lld, errors %lld / %lld, p99 %.2f / %.2f ms, feedback %lld / "
                "%lld, %s %lld/%lld = %.4f vs %lld/%lld = %.4f, z = %.3f, p = %.4g (baseline / candidate)\n",
                s.step_age_secs(), static_cast<long long>(e.baseline_requests()),
                static_cast<long long>(e.candidate_requests()), static_cast<long long>(e.baseline_errors()),
                static_cast<long long>(e.candidate_errors()), e.baseline_p99_ms(), e.candidate_p99_ms(),
                static_cast<long long>(e.baseline_feedback()), static_cast<long long>(e.candidate_feedback()),
                e.metric().c_str(), static_cast<long long>(e.baseline_successes()),
                static_cast<long long>(e.baseline_trials()), e.baseline_rate(),
                static_cast<long long>(e.candidate_successes()), static_cast<long long>(e.candidate_trials()),
                e.candidate_rate(), e.z(), e.p_value());
  }
  std::printf("%-8s %-8s %4s %9s %13s %11s %13s %17s %17s %8s %9s  %s\n", "time", "outcome", "step", "split", "requests b/c",
              "errors b/c", "p99 ms b/c", "baseline rate", "candidate rate", "z", "p", "reason");
  for (const v1::RolloutDecision& d : s.decisions()) {
    const v1::RolloutEvidence& e = d.evidence();
    char split[32], requests[32], errors[32], p99[32], base[32], cand[32];
    std::snprintf(split, sizeof(split), "%d->%d%%", d.from_percent(), d.to_percent());
    std::snprintf(requests, sizeof(requests), "%lld/%lld", static_cast<long long>(e.baseline_requests()),
                  static_cast<long long>(e.candidate_requests()));
    std::snprintf(errors, sizeof(errors), "%lld/%lld", static_cast<long long>(e.baseline_errors()),
                  static_cast<long long>(e.candidate_errors()));
    std::snprintf(p99, sizeof(p99), "%.1f/%.1f", e.baseline_p99_ms(), e.candidate_p99_ms());
    std::snprintf(base, sizeof(base), "%lld/%lld=%.3f", static_cast<long long>(e.baseline_successes()),
                  static_cast<long long>(e.baseline_trials()), e.baseline_rate());
    std::snprintf(cand, sizeof(cand), "%lld/%lld=%.3f", static_cast<long long>(e.candidate_successes()),
                  static_cast<long long>(e.candidate_trials()), e.candidate_rate());
    const bool tested = !e.metric().empty() && e.metric() != "none" && e.baseline_trials() + e.candidate_trials() > 0;
    std::printf("%-8s %-8s %4d %9s %13s %11s %13s %17s %17s %8.3f %9.3g  %s\n", Clock(d.time_unix_ms()).c_str(),
                d.outcome().c_str(), d.step(), split, requests, errors, p99, tested ? base : "-", tested ? cand : "-",
                e.z(), tested ? e.p_value() : 1.0, d.reason().c_str());
  }
}

}  // namespace

RolloutCommands AddRolloutCommands(CLI::App* rollout, ConnectionOptions* connection, RolloutArgs* args) {
  RolloutCommands commands{};
  commands.start = rollout->add_subcommand(
      "start", "Start (or replace) a progressive rollout of a candidate version (Rollout.StartRollout; management)");
  CLI::App* s = commands.start;
  s->add_option("--target", connection->target, "Server HOST:PORT");
  AddConnectionFlags(s, connection);
  s->add_option("--model", args->model, "Model name")->capture_default_str();
  s->add_option("--candidate", args->candidate, "Candidate version")->required();
  s->add_option("--baseline", args->baseline,
                "Baseline version (default: the previous rollout's outcome, else the highest READY below the candidate)");
  s->add_option("--steps", args->steps, "Candidate percent per step, ending at 100 (default 10,25,50,100)")
      ->delimiter(',');
  s->add_option("--min-requests", args->min_requests, "Requests per version per step before a guard is read");
  s->add_option("--min-feedback", args->min_feedback, "Feedback per version per step before the quality test");
  s->add_option("--min-step-secs", args->min_step_secs, "A step advances no sooner");
  s->add_option("--max-error-rate-margin", args->max_error_rate_margin, "Candidate error rate - baseline's, at most");
  s->add_option("--max-p99-ratio", args->max_p99_ratio, "Candidate p99 / baseline p99, at most");
  s->add_option("--alpha", args->alpha, "Significance level of the one-sided z-test");
  s->add_option("--metric", args->metric, "auto | hit_rate | accuracy | none");
  commands.abort = rollout->add_subcommand("abort", "Abort a rollout: the baseline gets 100% (Rollout.AbortRollout)");
  CLI::App* a = commands.abort;
  a->add_option("--target", connection->target, "Server HOST:PORT");
  AddConnectionFlags(a, connection);
  a->add_option("--model", args->model, "Model name")->capture_default_str();
  a->add_option("--reason", args->reason, "Why (recorded with the decision)");
  return commands;
}

int StartRollout(const ConnectionOptions& connection, const RolloutArgs& args) {
  grpc::ClientContext context;
  SetDeadline(&context, connection);
  v1::StartRolloutRequest request;
  request.set_model_name(args.model);
  v1::RolloutPolicy* p = request.mutable_policy();
  p->set_candidate_version(args.candidate);
  if (args.baseline) p->mutable_baseline_version()->set_value(*args.baseline);
  for (int s : args.steps) p->add_steps(s);
  if (args.min_requests) p->mutable_min_requests()->set_value(*args.min_requests);
  if (args.min_feedback) p->mutable_min_feedback()->set_value(*args.min_feedback);
  if (args.min_step_secs) p->mutable_min_step_secs()->set_value(*args.min_step_secs);
  if (args.max_error_rate_margin) p->mutable_max_error_rate_margin()->set_value(*args.max_error_rate_margin);
  if (args.max_p99_ratio) p->mutable_max_p99_ratio()->set_value(*args.max_p99_ratio);
  if (args.alpha) p->mutable_alpha()->set_value(*args.alpha);
  if (args.metric) p->mutable_metric()->set_value(*args.metric);
  v1::RolloutStatus response;
  grpc::Status status = v1::Rollout::NewStub(MakeChannel(connection))->StartRollout(&context, request, &response);
  if (!status.ok()) return PrintRpcError(status);
  PrintJson(ToJson(response));
  return 0;
}

int AbortRollout(const ConnectionOptions& connection, const RolloutArgs& args) {
  grpc::ClientContext context;
  SetDeadline(&context, connection);
  v1::AbortRolloutRequest request;
  request.set_model_name(args.model);
  request.set_reason(args.reason);
  v1::RolloutStatus response;
  grpc::Status status = v1::Rollout::NewStub(MakeChannel(connection))->AbortRollout(&context, request, &response);
  if (!status.ok()) return PrintRpcError(status);
  PrintJson(ToJson(response));
  return 0;
}

bool PrintRolloutOf(const ConnectionOptions& connection, const std::string& model, nlohmann::json* json) {
  grpc::ClientContext context;
  SetDeadline(&context, connection);
  v1::GetRolloutRequest request;
  request.set_model_name(model);
  v1::RolloutStatus response;
  grpc::Status status = v1::Rollout::NewStub(MakeChannel(connection))->GetRollout(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND || status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    if (json) {
      (*json)["rollout"] = nullptr;
    } else {
      std::printf("\nno rollout of %s (%s)\n", model.c_str(), status.error_message().c_str());
    }
    return true;
  }
  if (!status.ok()) {
    PrintRpcError(status);
    return false;
  }
  if (json) {
    (*json)["rollout"] = ToJson(response);
  } else {
    PrintStatus(response);
  }
  return true;
}

}  // namespace protoserve::cli
