// The seam between the HTTP transport (HttpServer) and what answers requests
// (RestRouter and its REST handlers), so each side is testable alone.
//
// A request arrives complete (headers and body, within the size limit) on
// an I/O thread. The handler answers exactly once through its Responder,
// from any thread, possibly long after Handle() returned (an inference
// completes on a model instance thread). Requests of one connection are
// handed over strictly in order: the next is read only after the previous
// response was written, so HTTP/1.1 pipelining is safe without reordering.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace protoserve {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Where the answer to one request goes. Cheap to copy; thread-safe.
// The transport fills in version, keep-alive and Content-Length.
class Responder {
 public:
  // `peer_address` is the client's IP address ("127.0.0.1", "::1"), for
  // access decisions (HttpAuthHandler); empty when unknown.
  // `client_gone`, when given, turns true if the client closes its connection
  // before the answer is written (the transport watches the socket).
  Responder(boost::asio::any_io_executor executor, std::function<void(HttpResponse)> send,
            std::string peer_address = {}, std::shared_ptr<const std::atomic<bool>> client_gone = nullptr)
      : executor_(std::move(executor)),
        send_(std::move(send)),
        peer_address_(std::move(peer_address)),
        client_gone_(std::move(client_gone)) {}

  // Sends the response; call exactly once, from any thread. The write itself
  // happens on the connection's executor.
  void Send(HttpResponse response) const { send_(std::move(response)); }
  const std::string& peer_address() const { return peer_address_; }
  // A probe for the core's RequestContext::is_cancelled: true once the
  // client hung up (its queued request is then dropped). Null when unknown.
  std::function<bool()> CancellationProbe() const {
    if (!client_gone_) return {};
    return [gone = client_gone_] { return gone->load(std::memory_order_relaxed); };
  }

  // Runs `work` on the connection's executor (an I/O thread), e.g. to encode
  // a response there instead of on the model instance thread that finished it.
  template <typename Work>
  void Post(Work&& work) const {
    boost::asio::post(executor_, std::forward<Work>(work));
  }

 private:
  boost::asio::any_io_executor executor_;
  std::function<void(HttpResponse)> send_;
  std::string peer_address_;
  std::shared_ptr<const std::atomic<bool>> client_gone_;
};

// The request id header, in and out (as REST gateways and proxies use it).
inline constexpr const char* kRequestIdHeader = "x-request-id";

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Called on an I/O thread; must not block (queue work and answer later).
  // Exceptions are caught by the transport and answered with 500.
  virtual void Handle(HttpRequest request, Responder responder) = 0;
};

}  // namespace protoserve
