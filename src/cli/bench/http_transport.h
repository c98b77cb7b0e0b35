// REST transport for the load generator: HTTP/1.1 keep-alive clients on
// Boost.Beast, optionally over TLS (Asio's OpenSSL stream).
//
// `connections` keep-alive connections are opened up front (not timed) and
// shared round-robin by the slots: HTTP/1.1 carries one request at a time
// per connection (no pipelining), so slots sharing a connection queue for it
// in FIFO order. A few I/O threads (`threads`) run all connections, each
// connection on its own strand. Every request is a POST of a body from a
// shared, read-only pool (JSON, or JSON + tensor bytes) plus `headers`.
// A failed or timed-out request closes its connection, which is reopened
// for the next request (the reconnect is part of that request's latency).
// Request/response bytes are body sizes (headers not counted). A non-2xx
// status is the error "HTTP_<code>"; socket errors "CONNECTION_ERROR", a
// request over --timeout "TIMEOUT".
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/bench/transport.h"

namespace protoserve::cli::bench {

struct HttpOptions {
  std::string target = "127.0.0.1:8000";  // HOST:PORT
  int connections = 1;
  int threads = 1;           // I/O threads shared by all connections
  double timeout_secs = 10;  // per request; <= 0: none
  std::vector<std::pair<std::string, std::string>> headers;
  // HTTPS when `tls` or any file is set; the server is verified against
  // tls_ca_file (else the system roots) for tls_server_name (else the host).
  bool tls = false;
  std::string tls_ca_file, tls_cert_file, tls_key_file, tls_server_name;
};

struct HttpRequestPool {
  std::string path;                 // e.g. "/v1/recommendations"
  std::vector<std::string> bodies;  // JSON bodies, sent round-robin
  // KServe binary tensor extension: for each body, the size of its leading
  // JSON, sent as Inference-Header-Content-Length with Content-Type
  // application/octet-stream. Empty: the bodies are plain JSON.
  std::vector<size_t> json_sizes;
};

std::unique_ptr<Transport> MakeHttpTransport(const HttpOptions& options,
                                             std::shared_ptr<const HttpRequestPool> pool);

// A blocking GET for setup (e.g. model metadata). Returns the body of a 200
// response; throws TargetError otherwise.
std::string HttpGet(const HttpOptions& options, const std::string& path);

}  // namespace protoserve::cli::bench
