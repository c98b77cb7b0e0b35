#include "cli/bench/http_transport.h"

#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <limits>
#include <optional>
#include <stdexcept>
#include <thread>

namespace protoserve::cli::bench {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Strand = net::strand<net::io_context::executor_type>;
using Request = http::request<http::string_body>;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

std::pair<std::string, std::string> SplitHostPort(const std::string& target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("--http-target must be HOST:PORT, got " + target);
  std::string host = target.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, target.substr(colon + 1)};
}

bool UseTls(const HttpOptions& o) { return o.tls || !o.tls_ca_file.empty() || !o.tls_cert_file.empty(); }

std::unique_ptr<ssl::context> MakeSslContext(const HttpOptions& o) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  if (o.tls_ca_file.empty()) {
    context->set_default_verify_paths();
  } else {
    context->load_verify_file(o.tls_ca_file);
  }
  context->set_verify_mode(ssl::verify_peer);
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) throw std::runtime_error("--tls-cert and --tls-key go together");
  if (!o.tls_cert_file.empty()) {
    context->use_certificate_chain_file(o.tls_cert_file);
    context->use_private_key_file(o.tls_key_file, ssl::context::pem);
  }
  return context;
}

// What all connections of a transport share; read-only once running.
struct Shared {
  HttpOptions options;
  std::string host;  // for SNI and certificate checks
  tcp::resolver::results_type endpoints;
  std::unique_ptr<ssl::context> ssl_context;  // null for plain HTTP
  std::vector<Request> requests;              // one per pool body
  CallSink* sink = nullptr;
};

// Makes a fresh stream on `strand` (a TLS stream cannot be reused after an error).
void Emplace(std::optional<PlainStream>& s, const Strand& strand, Shared&) { s.emplace(strand); }
void Emplace(std::optional<TlsStream>& s, const Strand& strand, Shared& shared) {
  s.emplace(strand, *shared.ssl_context);
  const std::string& name = shared.host;
  if (!SSL_set_tlsext_host_name(s->native_handle(), name.c_str())) throw std::runtime_error("cannot set TLS SNI");
  s->set_verify_callback(ssl::host_name_verification(name));
}

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void ConnectBlocking() = 0;
  virtual void Enqueue(int slot) = 0;  // on the strand
  virtual const Strand& strand() const = 0;
};

template <typename Stream>
class Connection final : public ConnectionBase, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(Shared* shared, net::io_context& io) : shared_(shared), strand_(net::make_strand(io)) {}

  const Strand& strand() const override { return strand_; }

  void ConnectBlocking() override {
    Emplace(stream_, strand_, *shared_);
    beast::get_lowest_layer(*stream_).connect(shared_->endpoints);
    if constexpr (std::is_same_v<Stream, TlsStream>) stream_->handshake(ssl::stream_base::client);
    connected_ = true;
  }

  void Enqueue(int slot) override {
    waiting_.push_back(slot);
    if (!busy_) Next();
  }

 private:
  void Next() {
    if (waiting_.empty()) {
      busy_ = false;
      return;
    }
    busy_ = true;
    slot_ = waiting_.front();
    waiting_.pop_front();
    request_ = &shared_->requests[next_++ % shared_->requests.size()];
    if (connected_) return Write();
    Emplace(stream_, strand_, *shared_);
    ArmTimer();
    beast::get_lowest_layer(*stream_).async_connect(
        shared_->endpoints, [self = this->shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return self->Fail(ec);
          if constexpr (std::is_same_v<Stream, TlsStream>) {
            self->stream_->async_handshake(ssl::stream_base::client, [self](beast::error_code handshake_ec) {
              if (handshake_ec) return self->Fail(handshake_ec);
              self->connected_ = true;
              self->Write();
            });
          } else {
            self->connected_ = true;
            self->Write();
          }
        });
  }

  void ArmTimer() {
    auto& socket = beast::get_lowest_layer(*stream_);
    if (shared_->options.timeout_secs > 0) {
      socket.expires_after(std::chrono::microseconds(static_cast<int64_t>(shared_->options.timeout_secs * 1e6)));
    } else {
      socket.expires_never();
    }
  }

  void Write() {
    ArmTimer();
    http::async_write(*stream_, *request_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail(ec);
      self->parser_.emplace();
      self->parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
      http::async_read(*self->stream_, self->buffer_, *self->parser_,
                       [self](beast::error_code read_ec, size_t) { self->OnRead(read_ec); });
    });
  }

  void OnRead(beast::error_code ec) {
    if (ec) return Fail(ec);
    const auto& response = parser_->get();
    CallResult result;
    result.request_bytes = request_->body().size();
    result.response_bytes = response.body().size();
    const unsigned status = response.result_int();
    if (status < 200 || status >= 300) result.error = "HTTP_" + std::to_string(status);
    if (!response.keep_alive()) Disconnect();
    Report(std::move(result));
  }

  void Fail(beast::error_code ec) {
    CallResult result;
    result.request_bytes = request_->body().size();
    result.error = ec == beast::error::timeout ? "TIMEOUT" : "CONNECTION_ERROR";
    Disconnect();
    Report(std::move(result));
  }

  void Disconnect() {
    beast::error_code ignored;
    beast::get_lowest_layer(*stream_).socket().close(ignored);
    connected_ = false;
    buffer_.clear();
  }

  void Report(CallResult result) {
    shared_->sink->OnCallDone(slot_, std::move(result));
    Next();
  }

  Shared* const shared_;
  Strand strand_;
  // Everything below is touched only on strand_.
  std::optional<Stream> stream_;
  bool connected_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::deque<int> waiting_;  // slots waiting for this connection
  bool busy_ = false;
  int slot_ = 0;
  const Request* request_ = nullptr;
  size_t next_ = 0;
};

class HttpTransport final : public Transport {
 public:
  HttpTransport(const HttpOptions& options, std::shared_ptr<const HttpRequestPool> pool) : pool_(std::move(pool)) {
    if (pool_->bodies.empty()) throw std::runtime_error("no requests to send");
    shared_.options = options;
  }

  void Open(int slots, CallSink* sink) override {
    const HttpOptions& o = shared_.options;
    auto [host, port] = SplitHostPort(o.target);
    shared_.host = o.tls_server_name.empty() ? host : o.tls_server_name;
    shared_.sink = sink;
    if (UseTls(o)) shared_.ssl_context = MakeSslContext(o);
    for (size_t i = 0; i < pool_->bodies.size(); ++i) {
      Request& request = shared_.requests.emplace_back(http::verb::post, pool_->path, 11);
      request.set(http::field::host, o.target);
      if (pool_->json_sizes.empty()) {
        request.set(http::field::content_type, "application/json");
      } else {
        request.set(http::field::content_type, "application/octet-stream");
        request.set("Inference-Header-Content-Length", std::to_string(pool_->json_sizes.at(i)));
      }
      request.set(http::field::user_agent, "protoserve-cli bench");
      for (const auto& [key, value] : o.headers) request.set(key, value);
      request.keep_alive(true);
      request.body() = pool_->bodies[i];
      request.prepare_payload();
    }
    try {
      shared_.endpoints = tcp::resolver(io_).resolve(host, port);
      for (int i = 0; i < std::max(1, o.connections); ++i) {
        std::shared_ptr<ConnectionBase> connection;
        if (shared_.ssl_context) {
          connection = std::make_shared<Connection<TlsStream>>(&shared_, io_);
        } else {
          connection = std::make_shared<Connection<PlainStream>>(&shared_, io_);
        }
        connection->ConnectBlocking();
        connections_.push_back(std::move(connection));
      }
    } catch (const std::exception& e) {
      throw TargetError("cannot connect to " + o.target + " (HTTP): " + e.what());
    }
    for (int i = 0; i < std::max(1, o.threads); ++i) threads_.emplace_back([this] { io_.run(); });
  }

  void Start(int slot) override {
    auto connection = connections_[slot % connections_.size()];
    net::post(connection->strand(), [connection, slot] { connection->Enqueue(slot); });
  }

  void Close() override {
    work_.reset();
    io_.stop();  // every call was reported; nothing left worth finishing
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    connections_.clear();
  }

 private:
  const std::shared_ptr<const HttpRequestPool> pool_;
  net::io_context io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{net::make_work_guard(io_)};
  Shared shared_;
  std::vector<std::shared_ptr<ConnectionBase>> connections_;
  std::vector<std::thread> threads_;
};

template <typename Stream>
std::string Get(Stream& stream, const HttpOptions& options, const std::string& path) {
  Request request(http::verb::get, path, 11);
  request.set(http::field::host, options.target);
  for (const auto& [key, value] : options.headers) request.set(key, value);
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  if (response.result() != http::status::ok) {
    throw TargetError("GET " + path + ": HTTP " + std::to_string(response.result_int()) + " " + response.body());
  }
  return response.body();
}

}  // namespace

std::unique_ptr<Transport> MakeHttpTransport(const HttpOptions& options, std::shared_ptr<const HttpRequestPool> pool) {
  return std::make_unique<HttpTransport>(options, std::move(pool));
}

std::string HttpGet(const HttpOptions& options, const std::string& path) {
  auto [host, port] = SplitHostPort(options.target);
  net::io_context io;
  Shared shared;
  shared.host = options.tls_server_name.empty() ? host : options.tls_server_name;
  const auto endpoints = tcp::resolver(io).resolve(host, port);
  const auto timeout = std::chrono::seconds(static_cast<int64_t>(options.timeout_secs > 0 ? options.timeout_secs : 10));
  try {
    if (!UseTls(options)) {
      PlainStream stream(io);
      stream.expires_after(timeout);
      stream.connect(endpoints);
      return Get(stream, options, path);
    }
    shared.ssl_context = MakeSslContext(options);
    std::optional<TlsStream> stream;
    stream.emplace(io, *shared.ssl_context);
    SSL_set_tlsext_host_name(stream->native_handle(), shared.host.c_str());
    stream->set_verify_callback(ssl::host_name_verification(shared.host));
    beast::get_lowest_layer(*stream).connect(endpoints);
    stream->handshake(ssl::stream_base::client);
    return Get(*stream, options, path);
  } catch (const boost::system::system_error& e) {
    throw TargetError("GET " + options.target + path + ": " + e.what());
  }
}

}  // namespace protoserve::cli::bench
