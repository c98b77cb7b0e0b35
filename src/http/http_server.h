// HttpServer: HTTP/1.1 on Boost.Beast for the REST API, /metrics and probes.
//
// `threads` I/O threads run every connection; each connection is a strand,
// so its requests are read, handed to the HttpHandler and answered strictly
// in order (pipelining-safe), and a slow request on one connection never
// blocks another. Limits protect the server from its clients:
//   - a body over `max_body_bytes` is refused with 413 from its
//     Content-Length, before it is read (or as soon as a chunked body
//     crosses the limit), and the connection is closed;
//   - a request's header must arrive within `header_timeout` of its first
//     byte (slow-loris clients are disconnected);
//   - a connection idle for `idle_timeout` between requests, or whose body
//     or response makes no progress for that long, is closed;
//   - a request's body must arrive whole within `body_timeout` of the end of
//     its header, however steadily it trickles in; past it the client gets
//     408 and the connection is closed (a client sending one byte now and
//     then would otherwise hold its connection forever);
//   - at most `max_connections` connections are served at once; one
//     accepted beyond that is answered 503 (Retry-After: 1, without reading
//     its request) and closed, so slow clients cannot exhaust the process's
//     file descriptors, which gRPC and model loading need too.
//
// Lifecycle: Start() binds and starts serving; Shutdown() stops accepting,
// closes idle connections, lets requests in progress finish for up to
// `grace`, then closes the rest. Responses completing after that are
// dropped. Destroy the server after the model repository was shut down, so
// no inference callback is still to arrive (if one does, it is dropped
// safely).
// Thread-safety: Start and Shutdown from one thread; port() from any.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "http/http_handler.h"

namespace protoserve {

class Metrics;

struct HttpServerOptions {
  std::string address = "0.0.0.0";  // host name or IP to bind
  int port = 8000;                   // 0: pick a free port (see port())
  int threads = 2;                   // I/O threads (parsing, JSON, writing)
  size_t max_body_bytes = size_t{64} << 20;
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds body_timeout{60};
  int max_connections = 512;
  // When set, connections refused for max_connections are counted in
  // protoserve_http_connections_refused_total. Must outlive the server.
  Metrics* metrics = nullptr;
  // One spdlog line per request (method, path, status, bytes, latency),
  // for one request in `access_log_sample`.
  bool access_log = false;
  int access_log_sample = 1;
  // TLS (HTTPS) when both are set: PEM certificate chain and private key.
  // With tls_client_ca, clients must present a certificate signed by it
  // (mutual TLS). The handshake must finish within header_timeout.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
};

struct HttpServerState;  // shared with the connections (http_session.h)
class HttpListener;

class HttpServer {
 public:
  // `handler` must outlive the server.
  HttpServer(HttpServerOptions options, HttpHandler* handler);
  ~HttpServer();  // Shutdown(0) if still running

  // Binds address:port and starts the I/O threads. UNAVAILABLE when the
  // address cannot be resolved or bound; INVALID_ARGUMENT for unusable TLS files.
  Status Start();
  // The bound port (the chosen one when options.port was 0); 0 before Start.
  int port() const { return port_; }
  void Shutdown(std::chrono::milliseconds grace);

 private:
  std::shared_ptr<HttpServerState> state_;
  std::shared_ptr<HttpListener> listener_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

}  // namespace protoserve
