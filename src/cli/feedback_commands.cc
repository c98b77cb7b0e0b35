#include "cli/feedback_commands.h"

#include <cstdio>
#include <iostream>

#include "cli/rollout_commands.h"
#include "feedback.grpc.pb.h"
#include "recommender.grpc.pb.h"

namespace protoserve::cli {

namespace v1 = protoserve::feedback::v1;

FeedbackCommands AddFeedbackCommands(CLI::App& app, ConnectionOptions* connection, FeedbackArgs* feedback,
                                     RolloutStatusArgs* status) {
  FeedbackCommands commands{};
  commands.feedback = app.add_subcommand(
      "feedback", "Feedback on a logged prediction: clicked/bought items (Recommender.SendFeedback), or with "
                  "--model and --label/--value the ground truth of any model (protoserve.feedback.v1)");
  CLI::App* f = commands.feedback;
  f->add_option("--target", connection->target, "Server HOST:PORT");
  AddConnectionFlags(f, connection);
  f->add_option("--request-id", feedback->request_id, "The prediction's request id (from its response)");
  f->add_option("--user-id", feedback->user_id, "Recommender: the user (without --request-id: their latest)");
  f->add_option("--clicked", feedback->clicked, "Recommender: clicked item ids")->delimiter(',');
  f->add_option("--bought", feedback->bought, "Recommender: bought item ids")->delimiter(',');
  f->add_option("--model", feedback->model, "Any model: its name (with --label or --value)");
  f->add_option("--label", feedback->label, "Classifier: the true class (label or index)");
  f->add_option("--value", feedback->value, "Regressor: the true value");
  f->add_option("--time-unix-ms", feedback->time_unix_ms, "When it happened (default: now)");

  commands.rollout = app.add_subcommand("rollout", "Progressive rollout of a model's versions and their online metrics");
  commands.rollout->require_subcommand(1);
  commands.status = commands.rollout->add_subcommand(
      "status", "Per-version online metrics (Feedback.GetEvaluation), the rollout's state, evidence and decisions "
                "(Rollout.GetRollout)");
  CLI::App* s = commands.status;
  s->add_option("--target", connection->target, "Server HOST:PORT");
  AddConnectionFlags(s, connection);
  s->add_option("--model", status->model, "Model name")->capture_default_str();
  s->add_flag("--json", status->json, "Print JSON instead of a table");
  return commands;
}

int SendFeedback(const ConnectionOptions& connection, const FeedbackArgs& args, bool has_label, bool has_value) {
  grpc::ClientContext context;
  SetDeadline(&context, connection);
  auto channel = MakeChannel(connection);
  if (has_label || has_value) {
    v1::FeedbackRequest request;
    request.set_model_name(args.model);
    request.set_request_id(args.request_id);
    if (has_label) request.set_label(args.label);
    if (has_value) request.set_value(args.value);
    request.set_time_unix_ms(args.time_unix_ms);
    v1::FeedbackResponse response;
    grpc::Status status = v1::Feedback::NewStub(channel)->SendFeedback(&context, request, &response);
    if (!status.ok()) return PrintRpcError(status);
    PrintJson({{"request_id", response.request_id()},
               {"model_name", response.model_name()},
               {"model_version", response.model_version()},
               {"correct", response.correct()}});
    return 0;
  }
  RecommendationFeedback request;
  request.set_request_id(args.request_id);
  request.set_user_id(args.user_id);
  for (const auto& id : args.clicked) request.add_clicked_item_ids(id);
  for (const auto& id : args.bought) request.add_bought_item_ids(id);
  request.set_time_unix_ms(args.time_unix_ms);
  RecommendationFeedbackResponse response;
  grpc::Status status = ::Recommender::NewStub(channel)->SendFeedback(&context, request, &response);
  if (!status.ok()) return PrintRpcError(status);
  PrintJson({{"request_id", response.request_id()},
             {"model_name", response.model_name()},
             {"model_version", response.model_version()},
             {"matched_items", response.matched_items()}});
  return 0;
}

int RolloutStatus(const ConnectionOptions& connection, const RolloutStatusArgs& args) {
  grpc::ClientContext context;
  SetDeadline(&context, connection);
  v1::EvaluationRequest request;
  request.set_model_name(args.model);
  v1::EvaluationResponse response;
  grpc::Status status = v1::Feedback::NewStub(MakeChannel(connection))->GetEvaluation(&context, request, &response);
  if (!status.ok()) return PrintRpcError(status);
  if (args.json) {
    nlohmann::json versions = nlohmann::json::array();
    for (const auto& v : response.versions()) {
      versions.push_back({{"model_version", v.model_version()}, {"predictions", v.predictions()},
                          {"feedback", v.feedback()},           {"impressions", v.impressions()},
                          {"clicks", v.clicks()},               {"hits", v.hits()},
                          {"ctr", v.ctr()},                     {"hit_rate", v.hit_rate()},
                          {"labelled", v.labelled()},           {"correct", v.correct()},
                          {"accuracy", v.accuracy()},           {"log_loss", v.log_loss()},
                          {"valued", v.valued()},               {"mae", v.mae()}});
    }
    nlohmann::json out = {{"model_name", response.model_name()}, {"versions", versions}};
    if (!PrintRolloutOf(connection, args.model, &out)) return 1;
    PrintJson(out);
    return 0;
  }
  std::printf("model %s: online metrics since the server started\n", response.model_name().c_str());
  std::printf("%8s %12s %10s %12s %8s %8s %8s %9s %9s %9s %9s %9s\n", "version", "predictions", "feedback",
              "impressions", "clicks", "CTR@k", "hit", "labelled", "accuracy", "log-loss", "valued", "MAE");
  for (const auto& v : response.versions()) {
    std::printf("%8lld %12lld %10lld %12lld %8lld %8.4f %8.4f %9lld %9.4f %9.4f %9lld %9.4f\n",
                static_cast<long long>(v.model_version()), static_cast<long long>(v.predictions()),
                static_cast<long long>(v.feedback()), static_cast<long long>(v.impressions()),
                static_cast<long long>(v.clicks()), v.ctr(), v.hit_rate(), static_cast<long long>(v.labelled()),
                v.accuracy(), v.log_loss(), static_cast<long long>(v.valued()), v.mae());
  }
  if (response.versions_size() == 0) std::printf("(no joinable predictions yet)\n");
  return PrintRolloutOf(connection, args.model, nullptr) ? 0 : 1;
}

}  // namespace protoserve::cli
