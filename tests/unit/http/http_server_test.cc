// HttpServer over loopback with a scripted handler: keep-alive, pipelining
// order, limits, timeouts, errors and shutdown.
#include "http/http_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

#include <mutex>
#include <thread>

#include "core/metrics.h"
#include "http/http_request_parser.h"
#include "http/http_response.h"

namespace protoserve {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// /echo: the body back; /slow: answered 300 ms later from another thread;
// /throw: throws; anything else: the path.
class ScriptedHandler : public HttpHandler {
 public:
  ~ScriptedHandler() override {
    for (std::thread& t : threads_) t.join();
  }
  void Handle(HttpRequest request, Responder responder) override {
    const std::string target(request.target());
    if (target == "/throw") throw std::runtime_error("boom");
    if (target == "/slow") {
      std::lock_guard lock(mu_);
      threads_.emplace_back([responder] {
        std::this_thread::sleep_for(300ms);
        responder.Send(MakeResponse(200, "slow", "text/plain"));
      });
      return;
    }
    responder.Send(MakeResponse(200, target == "/echo" ? request.body() : target, "text/plain"));
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

class Client {
 public:
  explicit Client(int port) : socket_(io_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    // Reads give up after 5 s, so a broken server fails the test instead of hanging it.
    timeval timeout{5, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  void Send(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }
  // False once the server closed or reset the connection.
  bool TrySend(const std::string& bytes) {
    boost::beast::error_code ec;
    net::write(socket_, net::buffer(bytes), ec);
    return !ec;
  }
  void Close() { socket_.close(); }
  // The next response, or one with status 0 when the connection ended instead.
  http::response<http::string_body> Read() {
    http::response<http::string_body> response;
    boost::beast::error_code ec;
    http::read(socket_, buffer_, response, ec);
    if (ec) response.result(0);
    return response;
  }
  // True when the server closed the connection (EOF or reset) without sending more.
  bool Closed() {
    char byte;
    boost::beast::error_code ec;
    const size_t n = socket_.read_some(net::buffer(&byte, 1), ec);
    return n == 0 && (ec == net::error::eof || ec == net::error::connection_reset);
  }

 private:
  net::io_context io_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

std::string Get(const std::string& path) { return "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n"; }
std::string Post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    options.address = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, &handler_);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(1s);
  }

  ScriptedHandler handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  StartServer();
  Client client(server_->port());
  for (int i = 0; i < 5; ++i) {
    client.Send(Post("/echo", "hello " + std::to_string(i)));
    auto response = client.Read();
    EXPECT_EQ(response.result_int(), 200u);
    EXPECT_EQ(response.body(), "hello " + std::to_string(i));
    EXPECT_TRUE(response.keep_alive());
    EXPECT_EQ(response[http::field::server], "protoserve");
  }
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  Client client(server_->port());
  // The first finishes last, on another thread; the answers keep the request order.
  client.Send(Get("/slow") + Get("/fast") + Post("/echo", "third"));
  EXPECT_EQ(client.Read().body(), "slow");
  EXPECT_EQ(client.Read().body(), "/fast");
  EXPECT_EQ(client.Read().body(), "third");
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  Client client(server_->port());
  client.Send("GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  auto response = client.Read();
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_FALSE(response.keep_alive());
  EXPECT_TRUE(client.Closed());
}

TEST_F(HttpServerTest, BodyOverTheLimitIsRefusedFromContentLength) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  Client client(server_->port());
  // Only the header is sent: the answer must not wait for the body.
  client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n");
  auto response = client.Read();
  EXPECT_EQ(response.result_int(), 413u);
  EXPECT_NE(response.body().find("larger than the server's limit of 1024 bytes"), std::string::npos);
  EXPECT_FALSE(response.keep_alive());

  Client exact(server_->port());
  exact.Send(Post("/echo", std::string(1024, 'a')));
  EXPECT_EQ(exact.Read().result_int(), 200u);
}

TEST_F(HttpServerTest, ChunkedBodyOverTheLimitIsRefused) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  Client client(server_->port());
  const std::string chunk = "400\r\n" + std::string(1024, 'a') + "\r\n";
  client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk + "0\r\n\r\n");
  EXPECT_EQ(client.Read().result_int(), 413u);
}

TEST_F(HttpServerTest, MalformedRequestsAre400) {
  StartServer();
  Client client(server_->port());
  client.Send("NOT HTTP AT ALL\r\n\r\n");
  auto response = client.Read();
  EXPECT_EQ(response.result_int(), 400u);
  EXPECT_NE(response.body().find("malformed HTTP request"), std::string::npos);
  EXPECT_TRUE(client.Closed());

  Client bad_length(server_->port());
  bad_length.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: nope\r\n\r\n");
  EXPECT_EQ(bad_length.Read().result_int(), 400u);
}

TEST_F(HttpServerTest, OversizedHeaderIs431) {
  StartServer();
  Client client(server_->port());
  client.Send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(client.Read().result_int(), 431u);
}

TEST_F(HttpServerTest, HandlerExceptionsAre500AndTheConnectionLives) {
  StartServer();
  Client client(server_->port());
  client.Send(Get("/throw"));
  auto response = client.Read();
  EXPECT_EQ(response.result_int(), 500u);
  EXPECT_EQ(response.body(), R"({"error":"internal error"})");
  client.Send(Get("/after"));
  EXPECT_EQ(client.Read().body(), "/after");
}

TEST_F(HttpServerTest, SlowHeaderIsDisconnectedWhileOthersAreServed) {
  HttpServerOptions options;
  options.header_timeout = 1s;
  StartServer(options);
  Client slow(server_->port());
  slow.Send("GET /x HTTP/1.1\r\nHost: t\r\n");  // never finished
  const auto start = std::chrono::steady_clock::now();
  Client other(server_->port());
  for (int i = 0; i < 3; ++i) {
    other.Send(Get("/ok"));
    EXPECT_EQ(other.Read().result_int(), 200u);
  }
  EXPECT_TRUE(slow.Closed());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GT(elapsed, 800ms);
  EXPECT_LT(elapsed, 3s);
}

TEST_F(HttpServerTest, IdleConnectionsAreClosed) {
  HttpServerOptions options;
  options.idle_timeout = 1s;
  StartServer(options);
  Client client(server_->port());
  client.Send(Get("/x"));
  EXPECT_EQ(client.Read().result_int(), 200u);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.Closed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(HttpServerTest, ExpectContinue) {
  StartServer();
  Client client(server_->port());
  client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  auto go_ahead = client.Read();
  EXPECT_EQ(go_ahead.result_int(), 100u);
  client.Send("hello");
  EXPECT_EQ(client.Read().body(), "hello");
}

TEST_F(HttpServerTest, ShutdownLetsRequestsInProgressFinish) {
  StartServer();
  Client busy(server_->port());
  Client idle(server_->port());
  idle.Send(Get("/x"));
  EXPECT_EQ(idle.Read().result_int(), 200u);
  busy.Send(Get("/slow"));
  std::this_thread::sleep_for(50ms);  // the request is with the handler
  std::thread stopper([this] { server_->Shutdown(5s); });
  auto response = busy.Read();
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response.body(), "slow");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_TRUE(idle.Closed());
  stopper.join();
}

// A client sending one body byte every 50 ms (well within the idle timeout)
// is cut at the body deadline, counted from the end of its header.
TEST_F(HttpServerTest, SlowBodyIsCutWith408AtTheBodyDeadline) {
  HttpServerOptions options;
  options.body_timeout = 1s;
  StartServer(options);
  Client slow(server_->port());
  slow.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> answered{false};
  std::thread trickle([&] {
    while (!answered && slow.TrySend("a")) std::this_thread::sleep_for(50ms);  // pacing, not ordering
  });
  auto response = slow.Read();
  answered = true;
  const auto elapsed = std::chrono::steady_clock::now() - start;
  trickle.join();
  EXPECT_EQ(response.result_int(), 408u);
  EXPECT_NE(response.body().find("not received within 1 s (--http-body-timeout-secs)"), std::string::npos);
  EXPECT_FALSE(response.keep_alive());
  EXPECT_GT(elapsed, 900ms);
  EXPECT_LT(elapsed, 2500ms);

  // Bodies that arrive in time, and the connections after it, are served.
  Client other(server_->port());
  other.Send(Post("/echo", "in time"));
  EXPECT_EQ(other.Read().body(), "in time");
}

// After a 100 Continue the deadline still holds (a 408 may follow an
// interim response); a body that stalls is still closed by the idle
// timeout, without an answer, as before.
TEST_F(HttpServerTest, BodyDeadlineAfter100ContinueAndIdleStallWithin) {
  HttpServerOptions options;
  options.body_timeout = 1s;
  StartServer(options);
  Client client(server_->port());
  client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(client.Read().result_int(), 100u);
  EXPECT_EQ(client.Read().result_int(), 408u);  // the body never came

  options.body_timeout = 60s;
  options.idle_timeout = 1s;
  server_->Shutdown(1s);
  StartServer(options);
  Client stalled(server_->port());
  stalled.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(stalled.Closed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheCapAre503AndTheOthersStayServed) {
  Metrics metrics;
  HttpServerOptions options;
  options.max_connections = 3;
  options.metrics = &metrics;
  StartServer(options);
  std::vector<std::unique_ptr<Client>> served;
  for (int i = 0; i < 3; ++i) {
    served.push_back(std::make_unique<Client>(server_->port()));
    served.back()->Send(Get("/x"));  // answered: the connection holds its slot
    ASSERT_EQ(served.back()->Read().result_int(), 200u);
  }
  Client silent(server_->port());  // refused without sending anything
  auto refused = silent.Read();
  EXPECT_EQ(refused.result_int(), 503u);
  EXPECT_EQ(refused.body(), R"json({"error":"too many connections (max 3)"})json");
  EXPECT_EQ(refused[http::field::retry_after], "1");
  EXPECT_FALSE(refused.keep_alive());
  EXPECT_TRUE(silent.Closed());

  Client eager(server_->port());  // refused with its request already sent
  eager.Send(Post("/echo", std::string(10000, 'a')));
  EXPECT_EQ(eager.Read().result_int(), 503u);
  EXPECT_TRUE(eager.Closed());

  for (auto& client : served) {
    client->Send(Get("/still"));
    EXPECT_EQ(client->Read().body(), "/still");
  }
  EXPECT_NE(metrics.Serialize().find("protoserve_http_connections_refused_total 2"), std::string::npos);
}

// Past 64 refusals in progress (each drains for up to 1 s), a refused
// connection still gets its 503 when it has not sent anything yet.
TEST_F(HttpServerTest, AFloodOfRefusedConnectionsStillGetsTheirAnswers) {
  HttpServerOptions options;
  options.max_connections = 1;
  StartServer(options);
  Client served(server_->port());
  served.Send(Get("/x"));
  ASSERT_EQ(served.Read().result_int(), 200u);
  std::vector<std::unique_ptr<Client>> refused;  // kept open: their refusals stay in progress
  for (int i = 0; i < 80; ++i) {
    refused.push_back(std::make_unique<Client>(server_->port()));
    EXPECT_EQ(refused.back()->Read().result_int(), 503u) << "connection " << i;
  }
  served.Send(Get("/y"));
  EXPECT_EQ(served.Read().body(), "/y");
}

TEST_F(HttpServerTest, AClosedConnectionFreesItsSlot) {
  HttpServerOptions options;
  options.max_connections = 1;
  StartServer(options);
  auto first = std::make_unique<Client>(server_->port());
  first->Send(Get("/x"));
  ASSERT_EQ(first->Read().result_int(), 200u);
  Client refused(server_->port());
  EXPECT_EQ(refused.Read().result_int(), 503u);
  first->Close();
  // The slot is free once the server saw the close: poll with new
  // connections (each refusal is a round trip), for at most 5 s.
  unsigned status = 0;
  int attempts = 0;
  for (const auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;) {
    Client next(server_->port());
    next.Send(Get("/y"));
    status = next.Read().result_int();
    ++attempts;
    if (status == 200u) break;
    std::this_thread::sleep_for(10ms);  // polling interval
  }
  EXPECT_EQ(status, 200u) << attempts << " attempts";
}

// The session's parser does not reserve the declared Content-Length up
// front, and still parses what string_body's parser does.
TEST(HttpServerRequestParserTest, ReservesWhatArrivesNotWhatIsDeclared) {
  HttpRequestParser parser;
  ConfigureRequestParser(parser, size_t{64} << 20);
  boost::beast::error_code ec;
  const std::string header = "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 50000000\r\n\r\nab";
  size_t used = parser.put(net::buffer(header), ec);
  if (!ec && used < header.size()) used += parser.put(net::buffer(header.data() + used, header.size() - used), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_header_done());
  EXPECT_EQ(parser.get().body(), "ab");
  EXPECT_LE(parser.get().body().capacity(), kInitialBodyReserve);

  HttpRequestParser whole;
  ConfigureRequestParser(whole, 1 << 20);
  const std::string body(300000, 'z');
  const std::string request = "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n" + body;
  for (size_t at = 0; !whole.is_done() && !ec;) {
    const size_t piece = std::min<size_t>(7000, request.size() - at);  // as reads deliver it
    at += whole.put(net::buffer(request.data() + at, piece), ec);
    if (ec == http::error::need_more) ec = {};
  }
  ASSERT_FALSE(ec) << ec.message();
  const HttpRequest released = ReleaseRequest(whole);
  EXPECT_EQ(released.body(), body);
  EXPECT_EQ(released.body().capacity(), body.size());  // grown to exactly the declared length
  EXPECT_EQ(released[http::field::host], "t");
}

TEST(HttpServerStartTest, BadAddressFails) {
  ScriptedHandler handler;
  HttpServerOptions options;
  options.address = "192.0.2.1";  // TEST-NET-1: not an address of this host
  options.port = 0;
  HttpServer server(options, &handler);
  Status started = server.Start();
  EXPECT_EQ(started.code(), StatusCode::kUnavailable);
  EXPECT_EQ(server.port(), 0);
}

}  // namespace
}  // namespace protoserve
