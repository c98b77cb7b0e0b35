// protoserve: wires the server together from flags. Nothing else reads flags.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <thread>

#if PROTOSERVE_WITH_TORCH
#include "backends/torch/torch_backend.h"
#endif
#if PROTOSERVE_WITH_XGBOOST
#include "backends/xgboost/xgboost_backend.h"
#endif
#include "core/auth_tokens.h"
#include "core/feedback_loop.h"
#include "core/inference_server.h"
#include "core/model_repository.h"
#include "grpc/feedback_service.h"
#include "grpc/grpc_server.h"
#include "grpc/inference_service.h"
#include "grpc/recommender_service.h"
#include "grpc/rollout_service.h"
#include "http/feedback_rest.h"
#include "http/grpc_web.h"
#include "http/http_auth.h"
#include "http/http_server.h"
#include "http/kserve_rest.h"
#include "http/recommend_rest.h"
#include "http/rest_router.h"
#include "http/rollout_rest.h"
#include "predlog/cloudevents_sink.h"
#include "predlog/sqlite_log_sink.h"
#include "server/flags.h"
#include "server/rollout_wiring.h"
#include "server/typed_apis.h"
#include "telemetry/log_format.h"
#include "telemetry/trace_pipeline.h"
#include "telemetry/tracing_config.h"

namespace {

// SIGINT/SIGTERM are turned into a byte on a pipe that main() waits on.
// A handler (not sigwait) is needed because libraries start threads before
// main() (OpenBLAS, OpenMP) whose signal masks we do not control: the signal
// may be delivered to any of them. A second signal during shutdown exits at once.
int g_signal_pipe[2] = {-1, -1};
volatile sig_atomic_t g_signals_seen = 0;

void OnShutdownSignal(int signal) {
  if (g_signals_seen != 0) _exit(128 + signal);
  g_signals_seen = 1;
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
  protoserve::Flags flags;
  CLI::App app{"protoserve: a gRPC (and REST) model server for TorchScript and XGBoost models"};
  AddServerFlags(app, flags);
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  protoserve::SetLogFormat(*protoserve::ParseLogFormat(flags.log_format));
  if (!flags.load_models.empty() && flags.model_control_mode != "explicit") {
    spdlog::error("--load-model needs --model-control-mode=explicit");
    return 2;
  }
  InstallShutdownSignals();

  using namespace protoserve;
  BackendRegistry backends;
  // A backend switched off at build time (PROTOSERVE_WITH_*=OFF) is simply
  // not registered: its models fail to load with "no backend for ...".
#if PROTOSERVE_WITH_TORCH
  auto torch = MakeTorchBackend();
  backends.Register("pytorch_libtorch", torch);
  backends.Register("pytorch", torch);
#endif
#if PROTOSERVE_WITH_XGBOOST
  auto xgboost = MakeXgboostBackend();
  backends.Register("xgboost", xgboost);
#endif

  Metrics metrics;
  // Declared before the repository and the server, which use its tracer.
  std::unique_ptr<TracePipeline> tracing;
  {
    auto config = ParseTracingConfig([&flags](std::string_view name) {
      auto it = flags.otel.find(name);
      return it == flags.otel.end() ? std::string() : it->second;
    });
    if (!config.ok()) {
      spdlog::error("{}", config.status().message());
      return 2;
    }
    if (config->enabled) {
      auto pipeline = TracePipeline::Create(*config, PROTOSERVE_VERSION, metrics.registry().get());
      if (!pipeline.ok()) {
        spdlog::error("{}", pipeline.status().message());
        return 2;
      }
      tracing = std::move(pipeline).value();
      spdlog::info("tracing: {} to {} (sampler {} {}), service.name {}",
                   config->protocol == OtlpProtocol::kGrpc ? "OTLP/gRPC" : "OTLP/HTTP", config->traces_endpoint,
                   SamplerName(config->sampler.kind), config->sampler.ratio, config->service_name);
    }
  }
  ModelRepository repository(flags.model_repository, &backends, &metrics, flags.allow_symlinks_within);
  if (tracing) repository.AddObserverFactory(tracing->tracer()->ObserverFactory());
  TypedApis::InstallLoader(&repository);
  if (!flags.allow_symlinks_within.empty()) {
    spdlog::info("repository files may also resolve inside {} (--allow-symlinks-within)", flags.allow_symlinks_within);
  }
  repository.set_max_tensor_elements(flags.max_tensor_elements);
  ServerOptions server_options;
  server_options.default_timeout = std::chrono::seconds(flags.request_timeout_secs);
  server_options.explicit_control = flags.model_control_mode == "explicit";
  server_options.tracer = tracing ? tracing->tracer() : nullptr;
  // Load/unload (explicit mode) and a rollout's start/abort (any mode) are management.
  if (flags.auth_tokens.empty()) {
    if (flags.allow_unauthenticated_management) {
      spdlog::warn("--allow-unauthenticated-management: ANY client connecting from a loopback address may manage "
                   "models (load/unload, rollouts), including every client of a proxy or sidecar on this host");
    } else {
      server_options.management_refused =
          "model management needs a token: start the server with --auth-tokens (a token with scope manage), or "
          "with --allow-unauthenticated-management to let loopback clients manage models without one";
    }
  }
  // The one request path: every front-end below only translates to it.
  InferenceServer server(&repository, &metrics, server_options);
  // The prediction log, the feedback join window and the online metrics.
  FeedbackLoopOptions feedback_options;
  feedback_options.window_entries = static_cast<size_t>(flags.feedback_window_entries);
  feedback_options.window_age = std::chrono::seconds(flags.feedback_window_secs);
  FeedbackLoop feedback_loop(&repository, &metrics, feedback_options);
  LogWriterOptions writer_options;
  writer_options.capacity = static_cast<size_t>(flags.prediction_log_queue);
  // Each sink gets its own bounded queue and writer thread.
  auto add_sink = [&](StatusOr<std::unique_ptr<LogSink>> sink, const std::string& what) {
    if (!sink.ok()) {
      spdlog::error("{}", sink.status().message());
      return false;
    }
    feedback_loop.AddWriter(std::make_unique<PredictionLogWriter>(std::move(sink).value(), writer_options, &metrics));
    spdlog::info("prediction log: {}", what);
    return true;
  };
  if (!flags.prediction_log.empty()) {
    SqliteRetention retention;
    retention.max_age = std::chrono::hours(flags.prediction_log_max_age_hours);
    retention.max_rows = flags.prediction_log_max_rows;
    if (!add_sink(SqliteLogSink::Open(flags.prediction_log, retention), flags.prediction_log + " (SQLite, WAL)")) {
      return 2;
    }
  }
  if (!flags.prediction_log_url.empty()) {
    if (!add_sink(CloudEventsSink::Create({flags.prediction_log_url, flags.prediction_log_source}),
                  "CloudEvents to " + flags.prediction_log_url)) {
      return 2;
    }
  }
  server.set_feedback_loop(&feedback_loop);
  // Progressive rollouts: state in the prediction log's SQLite file.
  RolloutWiring rollout(&repository);
  if (Status s = rollout.Create(flags.prediction_log, &feedback_loop.evaluation(), &metrics,
                                std::chrono::milliseconds(flags.rollout_interval_ms));
      !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  server.set_rollout_controller(rollout.controller());
  RolloutService rollout_service(&server);
  RolloutRest rollout_rest(&server);
  FeedbackService feedback_service(&server);
  FeedbackRest feedback_rest(&server);
  RecommenderService recommender_service(&server, flags.recommender_model);
  InferenceService inference_service(&server);
  KServeRest kserve_rest(&server);
  RecommendRest recommend_rest(&server, flags.recommender_model);
  RestRouter rest_router(&kserve_rest, &recommend_rest, &repository, &metrics);
  GrpcWebHandler grpc_web(&server, CorsPolicy(flags.cors_allowed_origins));
  grpc_web.set_recommender_model(flags.recommender_model);
  if (flags.web_ui) {
    std::string dir = flags.web_ui_dir;
    if (dir.empty()) {
      std::error_code ec;
      const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
      // The bundle the build made beside the binary (examples/web/CMakeLists.txt).
      const auto built = exe.parent_path() / "web";
      dir = !ec && std::filesystem::exists(built / "app.js") ? built.string() : "examples/web/dist";
    }
    auto site = StaticSite::Load(dir);
    if (!site.ok()) {
      spdlog::error("--web-ui: {}", site.status().message());
      return 2;
    }
    spdlog::info("web UI: {} file(s) from {} at /", site->size(), dir);
    grpc_web.set_site(std::move(site).value());
  }
  rest_router.set_grpc_web(&grpc_web);
  rest_router.set_feedback(&feedback_rest);
  rest_router.set_rollout(&rollout_rest);
  TypedApis typed_apis(&server, &repository);

  GrpcServerOptions grpc_options;
  grpc_options.address = flags.address;
  grpc_options.port = flags.grpc_port;
  grpc_options.max_connection_age_secs = flags.grpc_max_connection_age_secs;
  grpc_options.max_message_bytes = flags.grpc_max_message_mb << 20;
  grpc_options.max_concurrent_streams = flags.grpc_max_concurrent_streams;
  grpc_options.threads = flags.grpc_threads;
  grpc_options.reuse_port = flags.reuse_grpc_port;
  grpc_options.security.tls_cert_file = flags.tls_cert;
  grpc_options.security.tls_key_file = flags.tls_key;
  grpc_options.security.tls_client_ca_file = flags.tls_client_ca;
  grpc_options.security.open_metadata = flags.auth_open_metadata;
  // Always: a rollout's start/abort is management in every control mode.
  grpc_options.security.management_loopback_only = true;
  if (!flags.auth_tokens.empty()) {
    auto authorizer = TokenAuthorizer::Create({flags.auth_tokens});
    if (!authorizer.ok()) {
      spdlog::error("{}", authorizer.status().message());
      return 2;
    }
    spdlog::info("auth: {} token(s) from {}", (*authorizer)->token_count(), flags.auth_tokens);
    grpc_options.security.authorizer = std::move(authorizer).value();
  }
  GrpcServer grpc_front_end(grpc_options, {&recommender_service, &inference_service, &feedback_service,
                                            &rollout_service, typed_apis.reflection()});
  typed_apis.AttachTo(&grpc_front_end, &rest_router, &grpc_web);
  if (Status s = grpc_front_end.Start(); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  spdlog::info("gRPC listening on {}:{}", flags.address, grpc_front_end.port());

  HttpServerOptions http_options;
  http_options.address = flags.http_address.empty() ? flags.address : flags.http_address;
  http_options.port = flags.http_port;
  http_options.threads = flags.http_threads;
  http_options.max_body_bytes = static_cast<size_t>(flags.http_max_body_mb) << 20;
  http_options.idle_timeout = std::chrono::seconds(flags.http_idle_timeout_secs);
  http_options.body_timeout = std::chrono::seconds(flags.http_body_timeout_secs);
  http_options.max_connections = flags.http_max_connections;
  http_options.metrics = &metrics;
  http_options.header_timeout = std::chrono::seconds(flags.http_header_timeout_secs);
  http_options.access_log = flags.http_access_log;
  http_options.access_log_sample = flags.http_access_log_sample;
  if (!flags.http_plaintext) {
    http_options.tls_cert_file = flags.tls_cert;
    http_options.tls_key_file = flags.tls_key;
    http_options.tls_client_ca_file = flags.tls_client_ca;
  }
  // The HTTP port answers with the same tokens and loopback rule as gRPC.
  HttpAuthOptions http_auth;
  http_auth.authorizer = grpc_options.security.authorizer;
  http_auth.open_metadata = grpc_options.security.open_metadata;
  http_auth.management_loopback_only = grpc_options.security.management_loopback_only;
  HttpAuthHandler http_auth_handler(http_auth, &rest_router);
  if (!flags.tls_cert.empty() && flags.http_plaintext) {
    spdlog::warn("--http-plaintext: the HTTP port serves plaintext on {} while gRPC uses TLS", http_options.address);
  }
  HttpServer http_server(http_options, &http_auth_handler);
  if (Status s = http_server.Start(); !s.ok()) {
    spdlog::error("{}", s.message());
    grpc_front_end.Shutdown(std::chrono::milliseconds(0));
    return 1;
  }
  spdlog::info("HTTP listening on {}:{}{}", http_options.address, http_server.port(),
               http_options.tls_cert_file.empty() ? "" : " (TLS)");

  // explicit mode loads only --load-model names at start (none when empty).
  const bool explicit_mode = server_options.explicit_control;
  Status loaded = explicit_mode ? (flags.load_models.empty() ? Status::Ok() : repository.LoadAll(flags.load_models))
                                : repository.LoadAll();
  if (flags.model_control_mode == "poll") {
    repository.StartPolling(std::chrono::seconds(flags.repository_poll_secs));
  }
  if (Status s = loaded; !s.ok()) {
    spdlog::error("{}", s.message());
    http_server.Shutdown(std::chrono::milliseconds(0));
    grpc_front_end.Shutdown(std::chrono::milliseconds(0));
    return 1;
  }
  for (const auto& model : repository.Index()) {
    std::string versions;
    for (const auto& v : model.versions) {
      versions += (versions.empty() ? "" : ", ") + std::to_string(v.version) + ":" + ModelStateName(v.state);
    }
    spdlog::info("model '{}' versions [{}]{}", model.name, versions, model.reason.empty() ? "" : " " + model.reason);
  }
  if (Status s = rollout.Start(); !s.ok()) {
    spdlog::error("rollouts: {}", s.message());
    http_server.Shutdown(std::chrono::milliseconds(0));
    grpc_front_end.Shutdown(std::chrono::milliseconds(0));
    return 1;
  }
  const bool ready = repository.AllReady();
  grpc_front_end.SetServing(ready);
  server.set_state(ServerState::kReady);
  spdlog::info("protoserve {} ({} model(s), control mode {}, allocator {})",
               ready ? "ready" : "started with failed models", repository.Index().size(), flags.model_control_mode,
               PROTOSERVE_ALLOCATOR_NAME);

  const int signal = WaitForShutdownSignal();
  spdlog::info("received {}, draining for up to {} s", strsignal(signal), flags.shutdown_grace_secs);
  server.set_state(ServerState::kDraining);
  if (flags.shutdown_delay_secs > 0) {
    // Health says NOT_SERVING while calls are still served: clients and load
    // balancers that watch health move away before the listener closes
    // (gRPC fails calls that arrive after Server::Shutdown began).
    grpc_front_end.SetServing(false);
    spdlog::info("NOT_SERVING; still serving for {} s before draining", flags.shutdown_delay_secs);
    std::this_thread::sleep_for(std::chrono::seconds(flags.shutdown_delay_secs));
  }
  // Both front-ends drain at once, within one grace period, before the models go.
  const auto grace = std::chrono::seconds(flags.shutdown_grace_secs);
  auto http_stopped = std::async(std::launch::async, [&] { http_server.Shutdown(grace); });
  grpc_front_end.Shutdown(grace);
  http_stopped.wait();
  rollout.Stop();
  repository.Shutdown();
  if (tracing) tracing->Shutdown();  // the last spans go out
  feedback_loop.FlushLog();
  spdlog::info("protoserve stopped");
  return 0;
}
