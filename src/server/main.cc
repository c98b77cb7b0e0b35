// protoserve: wires the server together from flags. Nothing else reads flags.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <memory>

#include "backends/torch/torch_backend.h"
#include "backends/xgboost/xgboost_backend.h"
#include "core/model_repository.h"
#include "core/recommender.h"
#include "grpc/grpc_server.h"
#include "grpc/inference_service.h"
#include "grpc/recommender_service.h"

namespace {

struct Flags {
  std::string model_repository;
  std::string address = "0.0.0.0";
  int grpc_port = 8001;
  int http_port = 8000;
  std::string model_control_mode = "none";
  int grpc_max_connection_age_secs = 300;
  int grpc_max_message_mb = 64;
  int shutdown_grace_secs = 15;
  std::string recommender_model = "recommender";
  std::string log_level = "info";
};

// SIGINT/SIGTERM are turned into a byte on a pipe that main() waits on.
// A handler (not sigwait) is needed because libraries start threads before
// main() (OpenBLAS, OpenMP) whose signal masks we do not control: the signal
// may be delivered to any of them. A second signal during shutdown exits at once.
int g_signal_pipe[2] = {-1, -1};
volatile sig_atomic_t g_signals_seen = 0;

void OnShutdownSignal(int signal) {
  if (g_signals_seen++ > 0) _exit(128 + signal);
  const char byte = static_cast<char>(signal);
  [[maybe_unused]] ssize_t n = write(g_signal_pipe[1], &byte, 1);
}

void InstallShutdownSignals() {
  if (pipe(g_signal_pipe) != 0) std::abort();
  struct sigaction action {};
  action.sa_handler = OnShutdownSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int WaitForShutdownSignal() {
  char byte = 0;
  while (read(g_signal_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  return byte;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"protoserve: a gRPC (and REST) model server for TorchScript and XGBoost models"};
  app.add_option("--model-repository", flags.model_repository, "Model repository directory")->required();
  app.add_option("--address", flags.address, "Address to bind (gRPC and HTTP)")->capture_default_str();
  app.add_option("--grpc-port", flags.grpc_port, "gRPC port; 0 picks a free one")->capture_default_str();
  app.add_option("--http-port", flags.http_port, "HTTP port (REST, /metrics, probes); 0 picks a free one")
      ->capture_default_str();
  app.add_option("--model-control-mode", flags.model_control_mode, "none | poll | explicit")
      ->check(CLI::IsMember({"none", "poll", "explicit"}))
      ->capture_default_str();
  app.add_option("--grpc-max-connection-age-secs", flags.grpc_max_connection_age_secs,
                 "Close gRPC connections after this age so clients rebalance; 0 disables")
      ->capture_default_str();
  app.add_option("--grpc-max-message-mb", flags.grpc_max_message_mb, "Largest gRPC message, MiB")
      ->check(CLI::Range(1, 2047))
      ->capture_default_str();
  app.add_option("--shutdown-grace-secs", flags.shutdown_grace_secs,
                 "On SIGTERM, time allowed for in-flight calls to finish")
      ->capture_default_str();
  app.add_option("--recommender-model", flags.recommender_model,
                 "Model answering Recommender.GetRecommendations when the request names none")
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace | debug | info | warn | error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (flags.model_control_mode != "none") {
    spdlog::error("--model-control-mode={} is not implemented yet; use none", flags.model_control_mode);
    return 2;
  }
  InstallShutdownSignals();

  using namespace protoserve;
  BackendRegistry backends;
  auto torch = MakeTorchBackend();
  backends.Register("pytorch_libtorch", torch);
  backends.Register("pytorch", torch);
  auto xgboost = MakeXgboostBackend();
  backends.Register("xgboost", xgboost);

  Metrics metrics;
  ModelRepository repository(flags.model_repository, &backends, &metrics);
  RecommendationEngine recommender(&repository, flags.recommender_model);
  RecommenderService recommender_service(&recommender, &metrics);
  InferenceService inference_service(&repository, &metrics);

  GrpcServerOptions grpc_options;
  grpc_options.address = flags.address;
  grpc_options.port = flags.grpc_port;
  grpc_options.max_connection_age_secs = flags.grpc_max_connection_age_secs;
  grpc_options.max_message_bytes = flags.grpc_max_message_mb << 20;
  GrpcServer grpc_server(grpc_options, {&recommender_service, &inference_service});
  if (Status s = grpc_server.Start(); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  spdlog::info("gRPC listening on {}:{}", flags.address, grpc_server.port());

  if (Status s = repository.LoadAll(); !s.ok()) {
    spdlog::error("{}", s.message());
    grpc_server.Shutdown(std::chrono::milliseconds(0));
    return 1;
  }
  for (const auto& model : repository.Index()) {
    std::string versions;
    for (const auto& v : model.versions) {
      versions += (versions.empty() ? "" : ", ") + std::to_string(v.version) + ":" + ModelStateName(v.state);
    }
    spdlog::info("model '{}' versions [{}]{}", model.name, versions, model.reason.empty() ? "" : " " + model.reason);
  }
  const bool ready = repository.AllReady();
  grpc_server.SetServing(ready);
  inference_service.set_ready(true);
  spdlog::info("protoserve {} ({} model(s), control mode {})", ready ? "ready" : "started with failed models",
               repository.Index().size(), flags.model_control_mode);

  const int signal = WaitForShutdownSignal();
  spdlog::info("received {}, draining for up to {} s", strsignal(signal), flags.shutdown_grace_secs);
  inference_service.set_ready(false);
  grpc_server.Shutdown(std::chrono::seconds(flags.shutdown_grace_secs));
  repository.Shutdown();
  spdlog::info("protoserve stopped");
  return 0;
}
