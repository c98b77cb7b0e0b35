#include "http/http_session.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>

#include "core/log_context.h"
#include "http/http_response.h"

namespace protoserve {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr size_t kReadChunk = 16 * 1024;
// After refusing a body it did not read, the server reads and drops input
// this long before closing, so that the client, still sending, sees the
// response instead of a connection reset.
constexpr std::chrono::seconds kLingerTime{3};
constexpr size_t kMaxLoggedTarget = 512;

}  // namespace

// ---------------------------------------------------------------- registry

void ConnectionRegistry::Add(const std::shared_ptr<HttpSession>& session) {
  MutexLock lock(mu_);
  sessions_.emplace(session.get(), session);
}

void ConnectionRegistry::Remove(const HttpSession* session) {
  MutexLock lock(mu_);
  sessions_.erase(session);
  if (sessions_.empty()) empty_cv_.notify_all();
}

std::vector<std::shared_ptr<HttpSession>> ConnectionRegistry::Live() const {
  std::vector<std::shared_ptr<HttpSession>> live;
  MutexLock lock(mu_);
  for (const auto& [key, weak] : sessions_) {
    if (auto session = weak.lock()) live.push_back(std::move(session));
  }
  return live;
}

bool ConnectionRegistry::WaitUntilEmpty(SteadyClock::time_point deadline) {
  MutexLock lock(mu_);
  return empty_cv_.wait_until(lock.native(), deadline, [this]() REQUIRES(mu_) { return sessions_.empty(); });
}

// ---------------------------------------------------------------- session

HttpSession::HttpSession(tcp::socket socket, std::shared_ptr<HttpServerState> server)
    : server_(std::move(server)), stream_(std::move(socket)), body_timer_(stream_.get_executor()) {
  beast::error_code ec;
  const auto endpoint = stream_.socket().remote_endpoint(ec);
  if (!ec) peer_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  if (server_->tls) tls_.emplace(stream_, *server_->tls);
}

HttpSession::~HttpSession() {
  server_->connections.Remove(this);
  server_->open_connections.fetch_sub(1);
}

void HttpSession::Start() {
  server_->connections.Add(shared_from_this());
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->server_->stopping) return self->Close();
    if (self->tls_) return self->Handshake();
    self->AwaitRequest();
  });
}

void HttpSession::Handshake() {
  phase_ = Phase::kIdle;  // no request yet: a shutdown may close it at once
  // A client that connects and never finishes the handshake is a slow client.
  stream_.expires_after(server_->options.header_timeout);
  tls_->async_handshake(net::ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
    if (ec) {
      spdlog::debug("HTTP {}: TLS handshake failed: {}", self->peer_, ec.message());
      return self->Close();
    }
    self->AwaitRequest();
  });
}

void HttpSession::Stop(bool force) {
  net::post(stream_.get_executor(), [self = shared_from_this(), force] {
    // kClosed: only draining input after a refusal (413, 408...), no request
    // in progress: nothing for a graceful shutdown to wait for.
    if (force || self->phase_ == Phase::kIdle || self->phase_ == Phase::kClosed) self->Close();
  });
}

void HttpSession::AwaitRequest() {
  if (server_->stopping) return Close();
  phase_ = Phase::kIdle;
  if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
  // Waiting for the first byte is the idle time; the header timeout starts
  // once a request begins.
  stream_.expires_after(server_->options.idle_timeout);
  auto on_read = [self = shared_from_this()](beast::error_code ec, size_t n) {
    self->buffer_.commit(n);
    if (ec) return self->Close();
    self->ReadHeader();
  };
  WithStream([&](auto& stream) { stream.async_read_some(buffer_.prepare(kReadChunk), std::move(on_read)); });
}

void HttpSession::ReadHeader() {
  phase_ = Phase::kReading;
  started_ = SteadyClock::now();
  body_unread_ = false;
  body_timed_out_ = false;
  ++request_seq_;
  method_ = "-";
  target_ = "-";
  parser_.emplace();
  ConfigureRequestParser(*parser_, server_->options.max_body_bytes);
  stream_.expires_after(server_->options.header_timeout);
  auto on_header = [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); };
  WithStream([&](auto& stream) { http::async_read_header(stream, buffer_, *parser_, std::move(on_header)); });
}

void HttpSession::OnHeader(beast::error_code ec) {
  if (ec) return OnReadError(ec);
  const auto& request = parser_->get();
  version_ = request.version();
  method_ = std::string(request.method_string());
  target_ = std::string(request.target().substr(0, kMaxLoggedTarget));
  // Beast already refuses a Content-Length over body_limit while parsing
  // the header; this check keeps the guarantee explicit.
  const auto length = parser_->content_length();
  if (length && *length > server_->options.max_body_bytes) return OnReadError(http::error::body_limit);
  if (parser_->is_done()) return Dispatch();
  ArmBodyDeadline();
  if (beast::iequals(request[http::field::expect], "100-continue")) {
    auto go_ahead = std::make_shared<http::response<http::empty_body>>(http::status::continue_, version_);
    stream_.expires_after(server_->options.idle_timeout);
    auto on_written = [self = shared_from_this(), go_ahead](beast::error_code write_ec, size_t) {
      // Cut by the body deadline: part of the 100 went out, a 408 cannot follow.
      if (write_ec) return self->Close();
      self->ReadBody();
    };
    return WithStream([&](auto& stream) { http::async_write(stream, *go_ahead, std::move(on_written)); });
  }
  ReadBody();
}

void HttpSession::ReadBody() {
  if (parser_->is_done()) return Dispatch();
  if (body_timed_out_) return RejectSlowBody();
  // Restarted per read: this limit is on a stalled body; the body deadline
  // (ArmBodyDeadline) is the one on a slow body.
  stream_.expires_after(server_->options.idle_timeout);
  auto on_body = [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); };
  WithStream([&](auto& stream) { http::async_read_some(stream, buffer_, *parser_, std::move(on_body)); });
}

void HttpSession::OnBody(beast::error_code ec) {
  // The deadline cancelled this read: nothing was written for this request yet.
  if (ec == net::error::operation_aborted && body_timed_out_ && phase_ == Phase::kReading) return RejectSlowBody();
  if (ec) return OnReadError(ec);
  ReadBody();
}

void HttpSession::ArmBodyDeadline() {
  body_timer_.expires_after(server_->options.body_timeout);
  body_timer_.async_wait([self = shared_from_this(), seq = request_seq_](beast::error_code ec) {
    // Cancelled, or already queued when its request was dispatched or refused.
    if (ec || seq != self->request_seq_ || self->phase_ != Phase::kReading) return;
    self->OnBodyDeadline();
  });
}

void HttpSession::OnBodyDeadline() {
  body_timed_out_ = true;
  // Cancels the pending body read (its handler answers 408) or the 100
  // Continue being written (its handler closes). stream_'s own timer must not
  // do this: its expiry closes the socket.
  stream_.cancel();
}

void HttpSession::RejectSlowBody() {
  spdlog::debug("HTTP {} {} {}: body not received within {} s", peer_, method_, target_,
                server_->options.body_timeout.count());
  Reject(408, "request body not received within " + std::to_string(server_->options.body_timeout.count()) +
                  " s (--http-body-timeout-secs)");
}

void HttpSession::OnReadError(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    return Reject(413, "request body is larger than the server's limit of " +
                           std::to_string(server_->options.max_body_bytes) + " bytes (--http-max-body-mb)");
  }
  if (ec == http::error::header_limit) {
    return Reject(431, "request header is larger than " + std::to_string(kHttpHeaderLimit) + " bytes");
  }
  if (ec == beast::error::timeout) {
    spdlog::debug("HTTP {}: closing, request not received in time", peer_);
    return Close();
  }
  // A malformed request gets an answer; a vanished client does not.
  if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return Reject(400, "malformed HTTP request: " + ec.message());
  }
  Close();
}

void HttpSession::Dispatch() {
  phase_ = Phase::kHandling;
  body_timer_.cancel();
  HttpRequest request = ReleaseRequest(*parser_);
  parser_.reset();
  keep_alive_ = request.keep_alive();
  // No I/O is pending while the handler works (a model may take its time).
  stream_.expires_never();
  auto executor = stream_.get_executor();
  beast::error_code peer_ec;
  const auto peer = stream_.socket().remote_endpoint(peer_ec);
  client_gone_ = std::make_shared<std::atomic<bool>>(false);
  Responder responder(
      executor,
      [self = shared_from_this(), executor](HttpResponse response) {
        net::post(executor, [self, response = std::move(response)]() mutable { self->Write(std::move(response)); });
      },
      peer_ec ? std::string() : peer.address().to_string(), client_gone_);
  WatchForDisconnect();
  try {
    server_->handler->Handle(std::move(request), std::move(responder));
  } catch (const std::exception& e) {
    spdlog::error("HTTP {} {}: handler failed: {}", method_, target_, e.what());
    Write(ErrorResponse(500, "internal error"));
  }
}

void HttpSession::WatchForDisconnect() {
  stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this(), seq = request_seq_](
                                                          beast::error_code ec) {
    if (ec || seq != self->request_seq_ || self->phase_ != Phase::kHandling) return;
    // Readable: the next pipelined request (left for the parser), or the
    // client's close (recv returns 0) or reset.
    char byte;
    const ssize_t n = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      self->client_gone_->store(true, std::memory_order_relaxed);
    }
  });
}

void HttpSession::Reject(unsigned status, const std::string& message) {
  phase_ = Phase::kHandling;
  body_timer_.cancel();
  keep_alive_ = false;
  body_unread_ = true;
  Write(ErrorResponse(status, message));
}

void HttpSession::Write(HttpResponse response) {
  if (phase_ != Phase::kHandling) {
    // Closed by a forced shutdown meanwhile, or a handler answered twice.
    if (phase_ != Phase::kClosed) spdlog::error("HTTP {} {}: second response dropped", method_, target_);
    return;
  }
  phase_ = Phase::kWriting;
  beast::error_code cancel_ec;
  stream_.socket().cancel(cancel_ec);  // the disconnect watch (no other I/O is pending while handling)
  response.version(version_);
  response.keep_alive(keep_alive_ && !server_->stopping);
  response.set(http::field::server, "protoserve");
  response.prepare_payload();
  response_.emplace(std::move(response));
  stream_.expires_after(server_->options.idle_timeout);
  auto on_written = [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWritten(ec); };
  WithStream([&](auto& stream) { http::async_write(stream, *response_, std::move(on_written)); });
}

void HttpSession::OnWritten(beast::error_code ec) {
  LogAccess(*response_);
  const bool keep_alive = response_->keep_alive();
  response_.reset();
  if (ec) return Close();
  if (!keep_alive) return CloseAfterResponse();
  AwaitRequest();
}

void HttpSession::CloseAfterResponse() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  // No drain once shutdown began: it would hold the shutdown for kLingerTime.
  if (!body_unread_ || ec || server_->stopping) return Close();
  phase_ = Phase::kClosed;
  stream_.expires_after(kLingerTime);
  DiscardInput();
}

void HttpSession::DiscardInput() {
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(kReadChunk), [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) return self->Close();
    self->DiscardInput();
  });
}

void HttpSession::Close() {
  phase_ = Phase::kClosed;
  body_timer_.cancel();
  if (!stream_.socket().is_open()) return;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

void HttpSession::LogAccess(const HttpResponse& response) const {
  const auto& options = server_->options;
  if (!options.access_log) return;
  if (server_->answered.fetch_add(1, std::memory_order_relaxed) % std::max(options.access_log_sample, 1) != 0) return;
  const double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - started_).count();
  // The line joins the request's trace (traced servers send traceresponse).
  ScopedLogContext ids(response[kRequestIdHeader], TraceIdOf(response[kTraceResponseHeader]));
  spdlog::info("HTTP {} \"{} {}\" {} {}B {:.3f}ms", peer_, method_, target_, response.result_int(),
               response.body().size(), ms);
}

}  // namespace protoserve
