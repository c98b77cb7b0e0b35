#include "server/flags.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string_view>

#include "telemetry/tracing_config.h"

namespace protoserve {

namespace {

// OTEL_BSP_MAX_QUEUE_SIZE -> --otel-bsp-max-queue-size
std::string OtelFlagName(std::string_view variable) {
  std::string flag = "--" + std::string(variable);
  std::transform(flag.begin(), flag.end(), flag.begin(), [](unsigned char c) { return c == '_' ? '-' : static_cast<char>(std::tolower(c)); });
  return flag;
}

}  // namespace

void AddServerFlags(CLI::App& app, Flags& flags) {
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
  app.add_option("--grpc-threads", flags.grpc_threads,
                 "gRPC completion queues, each polled by one thread that also runs quick handlers and quick "
                 "models inline (docs/architecture.md)")
      ->check(CLI::Range(1, 64))
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
}

}  // namespace protoserve
