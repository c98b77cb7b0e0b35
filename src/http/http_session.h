// HttpSession: one HTTP/1.1 connection of an HttpServer (internal to
// src/http). Reads a request, hands it to the handler, writes the answer,
// then reads the next: one request at a time, all on the connection's
// strand, with the timeouts and limits of HttpServerOptions.
//
// Ownership: a session is kept alive by its pending I/O operation or by the
// Responder of the request being handled; it holds the HttpServerState, and
// through it the io_context, so the io_context outlives every session even
// if a model finishes a request after the server was destroyed.
#pragma once

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/thread_annotations.h"
#include "http/http_request_parser.h"
#include "http/http_server.h"

namespace prometheus {
class Counter;
}

namespace protoserve {

class HttpSession;

// The live connections of a server, so that shutdown can close them and
// wait for them. Thread-safe.
class ConnectionRegistry {
 public:
  void Add(const std::shared_ptr<HttpSession>& session);
  void Remove(const HttpSession* session);
  std::vector<std::shared_ptr<HttpSession>> Live() const;
  // Waits until no connection is left or `deadline` passed; true when none is left.
  bool WaitUntilEmpty(std::chrono::steady_clock::time_point deadline);

 private:
  mutable Mutex mu_;
  std::condition_variable empty_cv_;  // waits on mu_: sessions_ became empty
  std::unordered_map<const HttpSession*, std::weak_ptr<HttpSession>> sessions_ GUARDED_BY(mu_);
};

// What the server and all its connections share.
struct HttpServerState {
  HttpServerState(HttpServerOptions server_options, HttpHandler* server_handler)
      : options(std::move(server_options)), handler(server_handler), io_context(options.threads) {}

  const HttpServerOptions options;
  HttpHandler* const handler;
  boost::asio::io_context io_context;
  ConnectionRegistry connections;
  // Set by HttpServer::Start when the server serves TLS (before any session).
  std::unique_ptr<boost::asio::ssl::context> tls;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> answered{0};  // responses written, for access-log sampling
  // Sessions alive (toward max_connections): incremented by the listener
  // before it creates one, decremented by ~HttpSession, so a slot is free
  // again once the connection's last operation is over and its socket closed.
  std::atomic<int> open_connections{0};
  // Connections being refused for the cap (their 503 being written).
  std::atomic<int> refusing{0};
  prometheus::Counter* refused_total = nullptr;  // null without metrics
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<HttpServerState> server);
  ~HttpSession();

  // Registers with the server and starts reading. Call once, from any thread.
  void Start();
  // Closes the connection now if `force`, if it is between requests or if it
  // only drains input after a refusal;
  // otherwise it closes after the response in progress. Any thread.
  void Stop(bool force);

 private:
  enum class Phase { kIdle, kReading, kHandling, kWriting, kClosed };

  void Handshake();
  void AwaitRequest();
  void ReadHeader();
  void OnHeader(boost::beast::error_code ec);
  void ReadBody();
  void OnBody(boost::beast::error_code ec);
  // Starts the whole-body deadline (body_timeout) of the current request.
  void ArmBodyDeadline();
  void OnBodyDeadline();
  void RejectSlowBody();  // 408
  void Dispatch();
  // While the handler works nothing is read: watches the socket for the
  // client's close (marks client_gone_), leaving pipelined bytes unread.
  void WatchForDisconnect();
  void Write(HttpResponse response);
  void OnWritten(boost::beast::error_code ec);
  // Answers a request that will not be handed to the handler, then closes.
  void Reject(unsigned status, const std::string& message);
  // A read failed: reject it (limit, malformed) or just close (timeout, EOF).
  void OnReadError(boost::beast::error_code ec);
  void CloseAfterResponse();
  void DiscardInput();
  void Close();
  // One access-log line (request and trace ids from the response's headers).
  void LogAccess(const HttpResponse& response) const;

  // Declared first: destroyed last, after the stream that uses its io_context.
  const std::shared_ptr<HttpServerState> server_;
  boost::beast::tcp_stream stream_;
  // The TLS layer over stream_ when the server serves TLS; reads and writes
  // of requests and responses then go through it (WithStream), while the
  // timeouts and the socket stay stream_'s.
  std::optional<boost::asio::ssl::stream<boost::beast::tcp_stream&>> tls_;
  template <typename Operation>
  void WithStream(Operation&& operation) {
    if (tls_) {
      operation(*tls_);
    } else {
      operation(stream_);
    }
  }
  boost::beast::flat_buffer buffer_;
  std::optional<HttpRequestParser> parser_;
  // The body deadline. Not stream_'s own timer: when that one expires, Beast
  // closes the socket, and the 408 could no longer be written.
  boost::asio::steady_timer body_timer_;
  std::optional<HttpResponse> response_;  // while being written
  std::string peer_;

  // The request in progress (all touched only on the connection's strand).
  Phase phase_ = Phase::kIdle;
  bool keep_alive_ = false;
  bool body_unread_ = false;  // refused before its input was read
  bool body_timed_out_ = false;  // the body deadline passed while reading it
  std::shared_ptr<std::atomic<bool>> client_gone_;  // of the request being handled
  uint64_t request_seq_ = 0;  // tells a stale body-deadline completion apart
  unsigned version_ = 11;
  std::string method_;
  std::string target_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace protoserve
