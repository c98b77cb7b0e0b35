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
#include "core/recommender.h"
#include "grpc/feedback_service.h"
#include "grpc/rollout_service.h"
#include "grpc/grpc_server.h"
#include "server/typed_apis.h"
#include "grpc/inference_service.h"
#include "grpc/recommender_service.h"
#include "http/feedback_rest.h"
#include "http/rollout_rest.h"
#include "server/rollout_wiring.h"
#include "http/grpc_web.h"
#include "http/http_auth.h"
#include "http/http_server.h"
#include "http/kserve_rest.h"
#include "http/recommend_rest.h"
#include "http/rest_router.h"
#include "telemetry/log_format.h"
#include "telemetry/trace_pipeline.h"
#include "telemetry/tracing_config.h"
#include "predlog/cloudevents_sink.h"
#include "predlog/sqlite_log_sink.h"

namespace {

struct Flags {
  std::string model_repository;
  std::string allow_symlinks_within;
  std::string address = "0.0.0.0";
  int grpc_port = 8001;
  int http_port = 8000;
  int http_threads = 2;
  int http_max_body_mb = 64;
  int http_idle_timeout_secs = 60;
  int http_body_timeout_secs = 60;
  int http_max_connections = 512;
  int http_header_timeout_secs = 10;
  bool http_access_log = false;
  int http_access_log_sample = 1;
  std::string model_control_mode = "none";
  int repository_poll_secs = 15;
  std::vector<std::string> load_models;
  int grpc_max_connection_age_secs = 300;
  int grpc_max_message_mb = 64;
  int shutdown_grace_secs = 15;
  int shutdown_delay_secs = 0;
  std::string tls_cert, tls_key, tls_client_ca;
  std::string http_address;  // empty: --address
  bool http_plaintext = false;
  std::string auth_tokens;
  bool auth_open_metadata = false;
  int grpc_max_concurrent_streams = 0;
  int request_timeout_secs = 0;
  bool reuse_grpc_port = false;
  bool allow_unauthenticated_management = false;
  int64_t max_tensor_elements = protoserve::kDefaultMaxTensorElements;
  std::string recommender_model = "recommender";
  bool web_ui = false;
  std::string web_ui_dir;
  std::vector<std::string> cors_allowed_origins;
  std::string log_level = "info";
  std::string log_format = "text";
  // OpenTelemetry settings by their environment variable's name (OTEL_...):
  // each is also the flag --otel-... (flag first, then the environment).
  std::map<std::string, std::string, std::less<>> otel;
  std::string prediction_log;
  std::string prediction_log_url;
  std::string prediction_log_source = "protoserve";
  int prediction_log_max_age_hours = 168;
  int64_t prediction_log_max_rows = 10'000'000;
  int prediction_log_queue = 65536;
  int feedback_window_entries = 65536;
  int feedback_window_secs = 3600;
  int rollout_interval_ms = 1000;
};

// OTEL_BSP_MAX_QUEUE_SIZE -> --otel-bsp-max-queue-size
std::string OtelFlagName(std::string_view variable) {
  std::string flag = "--" + std::string(variable);
  std::transform(flag.begin(), flag.end(), flag.begin(), [](unsigned char c) { return c == '_' ? '-' : static_cast<char>(std::tolower(c)); });
  return flag;
}

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
  Flags flags;
  CLI::App app{"protoserve: a gRPC (and REST) model server for TorchScript and XGBoost models"};
  // Also read from PROTOSERVE_MODEL_REPOSITORY (the container image sets it): a runtime's own
  // --model-repository (KServe: /mnt/models) then replaces it instead of repeating the flag.
  app.add_option("--model-repository", flags.model_repository, "Model repository directory")
      ->envname("PROTOSERVE_MODEL_REPOSITORY")
      ->required();
  app.add_option("--allow-symlinks-within", flags.allow_symlinks_within,
                 "Also load repository files whose symlinks resolve inside this one directory (e.g. /mnt/pvc, where "
                 "KServe's storage initializer links /mnt/models to); default: only inside the repository")
      ->check([](const std::string& dir) {
        std::error_code ec;
        const auto canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(dir, ec), ec);
        return !ec && canonical != canonical.root_path() ? std::string()
                                                         : std::string("must name a directory other than /");
      });
  app.add_option("--address", flags.address, "Address to bind (gRPC and HTTP)")->capture_default_str();
  app.add_option("--grpc-port", flags.grpc_port, "gRPC port; 0 picks a free one")->capture_default_str();
  app.add_option("--http-port", flags.http_port, "HTTP port (REST, /metrics, probes); 0 picks a free one")
      ->capture_default_str();
  app.add_option("--http-threads", flags.http_threads, "HTTP I/O threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--http-max-body-mb", flags.http_max_body_mb, "Largest HTTP request body, MiB (larger: 413)")
      ->check(CLI::Range(1, 2047))
      ->capture_default_str();
  app.add_option("--http-idle-timeout-secs", flags.http_idle_timeout_secs,
                 "Close HTTP connections idle (or stalled) this long")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--http-body-timeout-secs", flags.http_body_timeout_secs,
                 "An HTTP request body must arrive whole within this time after its header (else 408)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--http-max-connections", flags.http_max_connections,
                 "HTTP connections served at once; more are answered 503 and closed")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  app.add_option("--http-header-timeout-secs", flags.http_header_timeout_secs,
                 "Close HTTP connections whose request header takes longer than this (slow clients)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_flag("--http-access-log", flags.http_access_log, "Log one line per HTTP request");
  app.add_option("--http-access-log-sample", flags.http_access_log_sample, "Log 1 HTTP request in N")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--model-control-mode", flags.model_control_mode, "none | poll | explicit")
      ->check(CLI::IsMember({"none", "poll", "explicit"}))
      ->capture_default_str();
  app.add_option("--repository-poll-secs", flags.repository_poll_secs,
                 "poll mode: seconds between repository scans")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--load-model", flags.load_models, "explicit mode: model to load at start (repeatable)");
  app.add_option("--grpc-max-connection-age-secs", flags.grpc_max_connection_age_secs,
                 "Close gRPC connections after this age so clients rebalance; 0 disables")
      ->capture_default_str();
  app.add_option("--grpc-max-message-mb", flags.grpc_max_message_mb, "Largest gRPC message, MiB")
      ->check(CLI::Range(1, 2047))
      ->capture_default_str();
  app.add_option("--shutdown-delay-secs", flags.shutdown_delay_secs,
                 "On SIGTERM, report NOT_SERVING but keep serving this long before draining (lets load "
                 "balancers and clients stop sending first)")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  app.add_option("--http-address", flags.http_address,
                 "Address to bind the HTTP port (default: --address), e.g. 127.0.0.1 for a port that only local "
                 "probes and scrapers use");
  app.add_flag("--http-plaintext", flags.http_plaintext,
               "With --tls-cert: keep the HTTP port plaintext (e.g. with --http-address=127.0.0.1 for local probes)");
  app.add_option("--tls-cert", flags.tls_cert, "PEM server certificate chain: serve gRPC and HTTP over TLS")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", flags.tls_key, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", flags.tls_client_ca,
                 "PEM CA bundle: require client certificates signed by it (mutual TLS)")
      ->check(CLI::ExistingFile);
  app.add_option("--auth-tokens", flags.auth_tokens,
                 "File of 'TOKEN SCOPE[,SCOPE]' lines (scopes: infer, manage); every call but health then needs "
                 "'authorization: Bearer TOKEN'. Reloaded when it changes")
      ->check(CLI::ExistingFile);
  app.add_flag("--auth-open-metadata", flags.auth_open_metadata,
               "With --auth-tokens: server/model metadata, model config, repository index and reflection need no "
               "token");
  app.add_option("--grpc-max-concurrent-streams", flags.grpc_max_concurrent_streams,
                 "Concurrent calls per gRPC connection; 0: gRPC's default (unlimited)")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app.add_option("--max-tensor-elements", flags.max_tensor_elements,
                 "Largest input tensor of a request, in elements (larger: INVALID_ARGUMENT before allocation)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--request-timeout-secs", flags.request_timeout_secs,
                 "Deadline of calls whose client set none; 0: none")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  app.add_flag("--allow-unauthenticated-management", flags.allow_unauthenticated_management,
               "Without --auth-tokens: let any loopback client manage (load/unload models in explicit mode, start/abort "
               "rollouts) (unsafe behind a local proxy or sidecar); by default management then needs a token");
  app.add_flag("--reuse-grpc-port", flags.reuse_grpc_port,
               "Let other processes listen on the same gRPC port (SO_REUSEPORT); off: a port in use is an error");
  app.add_option("--shutdown-grace-secs", flags.shutdown_grace_secs,
                 "On SIGTERM, time allowed for in-flight calls to finish")
      ->capture_default_str();
  app.add_option("--recommender-model", flags.recommender_model,
                 "Model answering Recommender.GetRecommendations when the request names none")
      ->capture_default_str();
  app.add_flag("--web-ui", flags.web_ui, "Serve the web demo (examples/web) at / on the HTTP port");
  app.add_option("--web-ui-dir", flags.web_ui_dir,
                 "Directory of the --web-ui files; default: web/ beside the binary (the bundle the build makes), or ./examples/web/dist (npm run build)");
  app.add_option("--cors-allowed-origins", flags.cors_allowed_origins,
                 "Origins (comma-separated, or '*') whose browser pages may call gRPC-Web cross-origin; default none")
      ->delimiter(',');
  app.add_option("--log-level", flags.log_level, "trace | debug | info | warn | error")->capture_default_str();
  app.add_option("--log-format", flags.log_format,
                 "text | json (one JSON object per line; lines about a request carry request_id and trace_id)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  for (std::string_view variable : protoserve::kTracingVariables) {
    const std::string name(variable);
    app.add_option(OtelFlagName(variable), flags.otel[name],
                   "Tracing (docs/observability.md): as the OpenTelemetry SDK variable " + name + ", which it overrides")
        ->envname(name)
        ->group("Tracing (OpenTelemetry)");
  }
  app.add_option("--prediction-log", flags.prediction_log,
                 "SQLite file (WAL mode) of sampled predictions and their feedback; created if missing. Sampling: "
                 "config.pbtxt parameter prediction_log_sample_rate (default 1 for the Recommender API, 0 for KServe "
                 "infer)");
  app.add_option("--prediction-log-url", flags.prediction_log_url,
                 "Also send each logged prediction and feedback as a CloudEvent (binary mode, KServe's payload-logger "
                 "format) to this http:// URL");
  app.add_option("--prediction-log-source", flags.prediction_log_source, "ce-source of --prediction-log-url events")
      ->capture_default_str();
  app.add_option("--prediction-log-max-age-hours", flags.prediction_log_max_age_hours,
                 "--prediction-log retention: delete rows older than this; 0 keeps them")
      ->check(CLI::Range(0, 24 * 3650))
      ->capture_default_str();
  app.add_option("--prediction-log-max-rows", flags.prediction_log_max_rows,
                 "--prediction-log retention: keep at most this many rows per table; 0: no limit")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--prediction-log-queue", flags.prediction_log_queue,
                 "Entries waiting for each prediction log sink; when full, entries are dropped and counted "
                 "(protoserve_prediction_log_entries_total{result=\"dropped\"}), predictions never wait")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  app.add_option("--feedback-window-entries", flags.feedback_window_entries,
                 "Predictions that feedback can still be joined to (the most recent ones)")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  app.add_option("--rollout-interval-ms", flags.rollout_interval_ms,
                 "How often the rollout controller evaluates each rollout's step (docs/rollout.md)")
      ->check(CLI::Range(10, 3'600'000))
      ->capture_default_str();
  app.add_option("--feedback-window-secs", flags.feedback_window_secs,
                 "Feedback later than this after its prediction is refused as expired")
      ->check(CLI::Range(1, 7 * 86400))
      ->capture_default_str();
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
  RecommendationEngine recommender(&repository, flags.recommender_model, &metrics);
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
  InferenceServer server(&repository, &recommender, &metrics, server_options);
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
  RecommenderService recommender_service(&server);
  InferenceService inference_service(&server);
  KServeRest kserve_rest(&server);
  RecommendRest recommend_rest(&server);
  RestRouter rest_router(&kserve_rest, &recommend_rest, &repository, &metrics);
  GrpcWebHandler grpc_web(&server, CorsPolicy(flags.cors_allowed_origins));
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
  spdlog::info("protoserve {} ({} model(s), control mode {})", ready ? "ready" : "started with failed models",
               repository.Index().size(), flags.model_control_mode);

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
