// The server's flags (Triton's names where Triton has the flag; DESIGN.md):
// the values, their defaults, and their definitions on a CLI11 app. Only
// main.cc reads them.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/input_validation.h"

namespace protoserve {

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
  int grpc_threads = 1;
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

// Defines every flag on `app`, bound to the fields of `flags` (which must
// outlive the parse).
void AddServerFlags(CLI::App& app, Flags& flags);

}  // namespace protoserve
