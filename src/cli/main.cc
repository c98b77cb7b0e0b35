// protoserve-cli: a client for protoserve (recommend, health, ...), printing JSON.
#include <CLI/CLI.hpp>
#include <absl/synchronization/mutex.h>
#include <grpcpp/health_check_service_interface.h>

#include <iostream>

#include "cli/bench/bench_command.h"
#include "cli/cli_common.h"
#include "cli/feedback_commands.h"
#include "cli/rollout_commands.h"
#include "cli/kserve_commands.h"
#include "cli/proto_command.h"
#include "recommender.grpc.pb.h"
#include "health.grpc.pb.h"

using namespace protoserve::cli;

namespace {

struct RecommendArgs {
  std::string user_id;
  std::string features;
  int top_k = 0;
  std::string model;
  int64_t version = 0;
  std::vector<std::string> exclude;
};

int Recommend(const ConnectionOptions& connection, const RecommendArgs& args) {
  RecommendationRequest request;
  request.set_user_id(args.user_id);
  for (float f : ParseFloatList(args.features)) request.add_features(f);
  request.set_top_k(args.top_k);
  request.set_model_name(args.model);
  request.set_model_version(args.version);
  for (const auto& id : args.exclude) request.add_exclude_item_ids(id);
  auto stub = ::Recommender::NewStub(MakeChannel(connection));
  grpc::ClientContext context;
  SetDeadline(&context, connection);
  RecommendationResponse response;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status = stub->GetRecommendations(&context, request, &response);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!status.ok()) return PrintRpcError(status);
  nlohmann::json items = nlohmann::json::array();
  for (int i = 0; i < response.item_ids_size(); ++i) {
    items.push_back({{"item_id", response.item_ids(i)}, {"score", response.scores(i)}});
  }
  PrintJson({{"user_id", args.user_id},
             {"request_id", response.request_id()},
             {"model_name", response.model_name()},
             {"model_version", response.model_version()},
             {"items", items},
             {"latency_ms", ms}});
  return 0;
}

int Health(const ConnectionOptions& connection, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(MakeChannel(connection));
  grpc::ClientContext context;
  SetDeadline(&context, connection);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return PrintRpcError(status);
  const std::string state = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  PrintJson({{"service", service}, {"status", state}});
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil tracks lock order in every absl::Mutex (its debug-mode
  // default), which gRPC locks several times per call: 4-5 % of the load
  // generator's CPU at concurrency 32 went to GraphCycles (perf). The server
  // turns it off too (src/grpc/engine_tuning.h, which the CLI may not include).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"protoserve-cli: call a protoserve server (output is JSON)"};
  app.require_subcommand(1);
  ConnectionOptions connection;
  app.add_option("--target", connection.target, "Server HOST:PORT")->capture_default_str();
  AddConnectionFlags(&app, &connection);
  app.add_option("--timeout", connection.timeout_secs, "Per-call deadline, seconds")->capture_default_str();

  RecommendArgs recommend;
  auto* rec = app.add_subcommand("recommend", "Recommender.GetRecommendations");
  rec->add_option("--target", connection.target, "Server HOST:PORT");
  AddConnectionFlags(rec, &connection);
  rec->add_option("--user-id", recommend.user_id, "User id")->required();
  rec->add_option("--features", recommend.features, "Comma-separated floats, or @file")->required();
  rec->add_option("--top-k", recommend.top_k, "Items to return (0 = 10)");
  rec->add_option("--model", recommend.model, "Model name (default: the server's recommender)");
  rec->add_option("--version", recommend.version, "Model version (0 = latest)");
  rec->add_option("--exclude", recommend.exclude, "Item ids to exclude")->delimiter(',');

  std::string service;
  auto* health = app.add_subcommand("health", "grpc.health.v1 Check (exit 0 when SERVING)");
  health->add_option("--target", connection.target, "Server HOST:PORT");
  AddConnectionFlags(health, &connection);
  health->add_option("--service", service, "Service name (empty = overall)");

  auto* models = app.add_subcommand("models", "List the repository index (models, versions, states)");
  models->add_option("--target", connection.target, "Server HOST:PORT");
  AddConnectionFlags(models, &connection);

  InferArgs infer;
  auto* inf = app.add_subcommand("infer", "KServe v2 ModelInfer; prints outputs as JSON");
  inf->add_option("--target", connection.target, "Server HOST:PORT");
  AddConnectionFlags(inf, &connection);
  inf->add_option("--model", infer.model, "Model name")->required();
  inf->add_option("--version", infer.version, "Model version (default: latest)");
  inf->add_option("--input", infer.inputs, "name:DTYPE:d1,d2:DATA (DATA = JSON array, @file.json or @file.npy)")
      ->required();
  inf->add_option("--output", infer.outputs, "Requested output, optionally name:classification=K");

  std::string proto_model;
  auto* proto = app.add_subcommand("proto", "Print the typed contract (.proto) a model declares");
  proto->add_option("--target", connection.target, "Server HOST:PORT");
  AddConnectionFlags(proto, &connection);
  proto->add_option("model", proto_model, "Model name")->required();

  FeedbackArgs feedback;
  RolloutStatusArgs rollout_status;
  FeedbackCommands feedback_commands = AddFeedbackCommands(app, &connection, &feedback, &rollout_status);
  RolloutArgs rollout_args;
  RolloutCommands rollout_commands = AddRolloutCommands(feedback_commands.rollout, &connection, &rollout_args);

  bench::BenchOptions bench_options;
  auto* bench = bench::AddBenchCommand(app, &bench_options);

  CLI11_PARSE(app, argc, argv);
  try {
    if (*models) return ListModels(connection);
    if (*inf) return Infer(connection, infer);
    if (*proto) return PrintProto(connection, proto_model);
    if (*rec) return Recommend(connection, recommend);
    if (*health) return Health(connection, service);
    if (*feedback_commands.feedback) {
      return SendFeedback(connection, feedback, feedback_commands.feedback->count("--label") > 0,
                          feedback_commands.feedback->count("--value") > 0);
    }
    if (*feedback_commands.status) return RolloutStatus(connection, rollout_status);
    if (*rollout_commands.start) return StartRollout(connection, rollout_args);
    if (*rollout_commands.abort) return AbortRollout(connection, rollout_args);
    if (*bench) {
      if (app.count("--target") > 0 && bench->count("--target") == 0) bench_options.target = connection.target;
      return bench::RunBench(bench_options);
    }
  } catch (const std::exception& e) {
    std::cerr << nlohmann::json({{"error", {{"code", "INVALID_ARGUMENT"}, {"message", e.what()}}}}).dump(2)
              << std::endl;
    return 2;
  }
  return 0;
}
