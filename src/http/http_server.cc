#include "http/http_server.h"

#include <spdlog/spdlog.h>

#include <prometheus/counter.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <sstream>

#include "core/metrics.h"
#include "http/http_response.h"
#include "http/http_session.h"

namespace protoserve {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

namespace {

// A refused connection gets this long to take its 503 and go.
constexpr std::chrono::seconds kRefusalTime{1};
// Refusals in progress at most; beyond, a refused connection gets its 503
// only if the socket takes it at once, and is closed, so that a flood of
// connections cannot hold descriptors through its refusals either.
constexpr int kMaxRefusing = 64;

// The whole 503 answer, as bytes.
std::string RefusalBytes(int max_connections) {
  HttpResponse response = ErrorResponse(503, "too many connections (max " + std::to_string(max_connections) + ")");
  response.version(11);
  response.keep_alive(false);
  response.set(http::field::retry_after, "1");
  response.set(http::field::server, "protoserve");
  response.prepare_payload();
  std::ostringstream bytes;
  bytes << response;
  return bytes.str();
}

// Answers a connection accepted beyond max_connections with 503 and closes
// it. It does not wait for the request: a slow client must not hold even a
// refused connection. After the answer it reads and drops what the client
// sent, until the client closes or kRefusalTime passes, because closing a
// socket with unread input sends a reset, which can destroy the 503 before
// the client read it.
class RefusedConnection : public std::enable_shared_from_this<RefusedConnection> {
 public:
  RefusedConnection(tcp::socket socket, std::shared_ptr<HttpServerState> server,
                    std::shared_ptr<const std::string> answer)
      : server_(std::move(server)), stream_(std::move(socket)), answer_(std::move(answer)) {
    server_->refusing.fetch_add(1);
  }
  ~RefusedConnection() { server_->refusing.fetch_sub(1); }

  void Start() {
    stream_.expires_after(kRefusalTime);  // one deadline for the write and the drain
    net::async_write(stream_, net::buffer(*answer_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      if (!ec) self->Drain();
    });
  }

 private:
  void Drain() {
    stream_.async_read_some(net::buffer(drained_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) self->Drain();
    });
  }

  const std::shared_ptr<HttpServerState> server_;
  beast::tcp_stream stream_;
  const std::shared_ptr<const std::string> answer_;
  char drained_[4096];
};

}  // namespace

// Accepts connections and starts a session (on its own strand) for each.
class HttpListener : public std::enable_shared_from_this<HttpListener> {
 public:
  explicit HttpListener(std::shared_ptr<HttpServerState> server)
      : server_(std::move(server)),
        acceptor_(net::make_strand(server_->io_context)),
        retry_timer_(acceptor_.get_executor()),
        work_(net::make_work_guard(server_->io_context)) {}

  // Binds and listens; returns the bound port.
  StatusOr<int> Listen(const std::string& address, int port) {
    beast::error_code ec;
    tcp::resolver resolver(server_->io_context);
    const auto endpoints = resolver.resolve(address, std::to_string(port),
                                            tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || endpoints.empty()) {
      return Unavailable("HTTP: cannot resolve address '" + address + "': " + (ec ? ec.message() : "no address"));
    }
    const tcp::endpoint endpoint = *endpoints.begin();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("HTTP: cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
    return static_cast<int>(acceptor_.local_endpoint().port());
  }

  void Accept() {
    acceptor_.async_accept(net::make_strand(server_->io_context),
                           [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                             self->OnAccept(ec, std::move(socket));
                           });
  }

  // Stops accepting (on the acceptor's strand).
  void Close() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_timer_.cancel();
    });
  }

  // Lets the I/O threads return once the last connection is done.
  void ReleaseThreads() { work_.reset(); }

 private:
  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;
    if (ec) {
      // E.g. out of file descriptors: try again shortly instead of spinning.
      spdlog::warn("HTTP: accept failed: {}", ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
        if (!wait_ec) self->Accept();
      });
      return;
    }
    // Responses are written whole; do not let Nagle hold their last segment.
    socket.set_option(tcp::no_delay(true), ec);
    // Only this strand adds connections, so the count cannot pass the cap.
    if (server_->open_connections.load() >= server_->options.max_connections) {
      Refuse(std::move(socket));
    } else {
      server_->open_connections.fetch_add(1);
      std::make_shared<HttpSession>(std::move(socket), server_)->Start();
    }
    Accept();
  }

  void Refuse(tcp::socket socket) {
    if (server_->refused_total) server_->refused_total->Increment();
    const bool logged = !refusal_logged_.exchange(true);
    if (logged) {
      spdlog::warn("HTTP: {} connections open (--http-max-connections); refusing more with 503 (logged once)",
                   server_->options.max_connections);
    }
    beast::error_code ignored;
    // A TLS client expects a handshake, not plaintext: it is closed at once.
    if (server_->tls) return (void)socket.close(ignored);
    if (server_->refusing.load() >= kMaxRefusing) {
      // Best effort: the 503 fits in an empty send buffer, but closing with
      // the request unread may reset the connection before it is read.
      socket.non_blocking(true, ignored);
      socket.write_some(net::buffer(*refusal_), ignored);
      return (void)socket.close(ignored);
    }
    std::make_shared<RefusedConnection>(std::move(socket), server_, refusal_)->Start();
  }

  const std::shared_ptr<HttpServerState> server_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::atomic<bool> refusal_logged_{false};
  const std::shared_ptr<const std::string> refusal_ =
      std::make_shared<const std::string>(RefusalBytes(server_->options.max_connections));
  // Keeps the I/O threads running while connections wait for a model (no
  // I/O is pending then) until shutdown is over.
  net::executor_work_guard<net::io_context::executor_type> work_;
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler* handler)
    : state_(std::make_shared<HttpServerState>(std::move(options), handler)) {
  if (Metrics* metrics = state_->options.metrics) {
    state_->refused_total = &prometheus::BuildCounter()
                                 .Name("protoserve_http_connections_refused_total")
                                 .Help("HTTP connections refused with 503 because --http-max-connections were open")
                                 .Register(*metrics->registry())
                                 .Add({});
  }
}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

namespace {

// The server's TLS context: TLS 1.2 or later, the certificate chain and key,
// and with a client CA, mandatory client certificates signed by it.
StatusOr<std::unique_ptr<net::ssl::context>> MakeTlsContext(const HttpServerOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return InvalidArgument("HTTP TLS needs both a certificate and a key");
  }
  if (!options.tls_client_ca_file.empty() && options.tls_cert_file.empty()) {
    return InvalidArgument("HTTP mutual TLS needs a server certificate and key");
  }
  auto context = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  context->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                       net::ssl::context::single_dh_use);
  boost::system::error_code ec;
  const char* step = "certificate";
  context->use_certificate_chain_file(options.tls_cert_file, ec);
  if (!ec) {
    step = "private key";
    context->use_private_key_file(options.tls_key_file, net::ssl::context::pem, ec);
  }
  if (!ec && !options.tls_client_ca_file.empty()) {
    step = "client CA";
    context->load_verify_file(options.tls_client_ca_file, ec);
    if (!ec) context->set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert, ec);
  }
  if (ec) return InvalidArgument(std::string("HTTP TLS ") + step + ": " + ec.message());
  return context;
}

}  // namespace

Status HttpServer::Start() {
  if (listener_) return FailedPrecondition("HTTP server already started");
  if (!state_->options.tls_cert_file.empty() || !state_->options.tls_client_ca_file.empty()) {
    auto tls = MakeTlsContext(state_->options);
    if (!tls.ok()) return tls.status();
    state_->tls = std::move(tls).value();
  }
  listener_ = std::make_shared<HttpListener>(state_);
  auto port = listener_->Listen(state_->options.address, state_->options.port);
  if (!port.ok()) {
    listener_->ReleaseThreads();
    return port.status();
  }
  port_ = *port;
  listener_->Accept();
  const int threads = std::max(state_->options.threads, 1);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([state = state_] {
      // Handlers catch their own exceptions; this is the last line of defence.
      for (;;) {
        try {
          state->io_context.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("HTTP I/O thread: {}", e.what());
        }
      }
    });
  }
  return Status::Ok();
}

void HttpServer::Shutdown(std::chrono::milliseconds grace) {
  if (threads_.empty()) return;
  state_->stopping = true;
  listener_->Close();
  for (const auto& session : state_->connections.Live()) session->Stop(/*force=*/false);
  if (!state_->connections.WaitUntilEmpty(std::chrono::steady_clock::now() + grace)) {
    const auto busy = state_->connections.Live();
    spdlog::warn("HTTP: closing {} connection(s) still busy after the grace period", busy.size());
    for (const auto& session : busy) session->Stop(/*force=*/true);
  }
  listener_->ReleaseThreads();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace protoserve
