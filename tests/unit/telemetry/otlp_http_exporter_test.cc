// OtlpHttpExporter against collectors on loopback: one that accepts, one
// that answers 500, one that hangs (accepts, never answers), none at all.
#include "telemetry/otlp_http_exporter.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <thread>

namespace protoserve {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// Serves one connection on a thread: reads a request and answers `status`
// (0: reads and never answers, until the client gives up).
class OneShotCollector {
 public:
  explicit OneShotCollector(unsigned status) : acceptor_(io_, tcp::endpoint(tcp::v4(), 0)) {
    thread_ = std::thread([this, status] {
      beast::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      beast::flat_buffer buffer;
      http::request<http::string_body> request;
      http::read(socket, buffer, request, ec);
      if (ec) return;
      target_ = std::string(request.target());
      content_type_ = std::string(request[http::field::content_type]);
      api_key_ = std::string(request["x-api-key"]);
      body_ = request.body();
      if (status == 0) {
        char byte;
        socket.read_some(boost::asio::buffer(&byte, 1), ec);  // until the client closes
        return;
      }
      http::response<http::string_body> response{static_cast<http::status>(status), 11};
      response.prepare_payload();
      http::write(socket, response, ec);
    });
  }
  ~OneShotCollector() { Join(); }
  // Waits for the connection to end; the fields below are then written.
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/v1/traces"; }

  // What the collector read (after Join()).
  std::string target_, content_type_, body_, api_key_;

 private:
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// Answers `requests` POSTs with 200, keeping each connection open for the
// next request unless `close_after_each` (then it closes the connection
// after its answer without saying so, as a collector with a short idle
// timeout does).
class CountingCollector {
 public:
  CountingCollector(int requests, bool close_after_each) : acceptor_(io_, tcp::endpoint(tcp::v4(), 0)) {
    thread_ = std::thread([this, requests, close_after_each] {
      while (requests_ < requests) {
        beast::error_code ec;
        tcp::socket socket(io_);
        acceptor_.accept(socket, ec);
        if (ec) return;
        ++connections_;
        beast::flat_buffer buffer;
        while (requests_ < requests) {
          http::request<http::string_body> request;
          http::read(socket, buffer, request, ec);
          if (ec) break;  // the client closed it
          ++requests_;
          http::response<http::string_body> response{http::status::ok, 11};
          response.prepare_payload();
          http::write(socket, response, ec);
          if (ec || close_after_each) break;
        }
      }
    });
  }
  ~CountingCollector() {
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/v1/traces"; }
  int connections() const { return connections_; }
  int requests() const { return requests_; }

 private:
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<int> connections_{0}, requests_{0};
  std::thread thread_;
};

std::vector<SpanData> OneSpan() {
  std::vector<SpanData> spans(1);
  spans[0].trace_id = NewTraceId();
  spans[0].span_id = NewSpanId();
  spans[0].name = "ModelInfer";
  return spans;
}

OtlpHttpExporter Exporter(const std::string& url, std::chrono::milliseconds timeout) {
  return OtlpHttpExporter(*ParseOtlpEndpoint(url), timeout, ServerResource("test", "0"));
}

TEST(OtlpEndpointTest, ParsesHttpUrls) {
  auto e = ParseOtlpEndpoint("http://collector:4318/v1/traces");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "collector");
  EXPECT_EQ(e->port, "4318");
  EXPECT_EQ(e->target, "/v1/traces");
  EXPECT_EQ(ParseOtlpEndpoint("http://localhost")->port, "80");
  EXPECT_EQ(ParseOtlpEndpoint("http://localhost")->target, "/");
  EXPECT_EQ(ParseOtlpEndpoint("http://[::1]:4318/x")->host, "::1");
  EXPECT_FALSE(ParseOtlpEndpoint("https://collector:4318/v1/traces").ok());
  EXPECT_FALSE(ParseOtlpEndpoint("collector:4318").ok());
  EXPECT_FALSE(ParseOtlpEndpoint("http://collector:99999/").ok());
  EXPECT_FALSE(ParseOtlpEndpoint("http://:4318/").ok());
}

TEST(OtlpHttpExporterTest, PostsProtobufToTheTracesPath) {
  OneShotCollector collector(200);
  auto spans = OneSpan();
  EXPECT_TRUE(Exporter(collector.url(), std::chrono::seconds(30)).Export(spans).ok());
  collector.Join();
  EXPECT_EQ(collector.target_, "/v1/traces");
  EXPECT_EQ(collector.content_type_, "application/x-protobuf");
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  ASSERT_TRUE(request.ParseFromString(collector.body_));
  EXPECT_EQ(request.resource_spans(0).scope_spans(0).spans(0).name(), "ModelInfer");
}

TEST(OtlpHttpExporterTest, ExportsShareOneKeptAliveConnection) {
  CountingCollector collector(3, false);
  OtlpHttpExporter exporter = Exporter(collector.url(), std::chrono::seconds(30));
  for (int i = 0; i < 3; ++i) {
    auto spans = OneSpan();
    EXPECT_TRUE(exporter.Export(spans).ok()) << i;
  }
  EXPECT_EQ(collector.requests(), 3);
  EXPECT_EQ(collector.connections(), 1);
}

TEST(OtlpHttpExporterTest, AConnectionTheCollectorClosedIsReplacedInTheSameExport) {
  CountingCollector collector(3, true);
  OtlpHttpExporter exporter = Exporter(collector.url(), std::chrono::seconds(30));
  for (int i = 0; i < 3; ++i) {
    auto spans = OneSpan();
    EXPECT_TRUE(exporter.Export(spans).ok()) << i;  // no export fails for it
  }
  EXPECT_EQ(collector.requests(), 3);
  EXPECT_EQ(collector.connections(), 3);
}

TEST(OtlpHttpExporterTest, HeadersGoOnThePost) {
  OneShotCollector collector(200);
  auto spans = OneSpan();
  OtlpHttpExporter exporter(*ParseOtlpEndpoint(collector.url()), std::chrono::seconds(30), ServerResource("test", "0"),
                            {{"x-api-key", "s3cret"}});
  EXPECT_TRUE(exporter.Export(spans).ok());
  collector.Join();
  EXPECT_EQ(collector.api_key_, "s3cret");
}

TEST(OtlpHttpExporterTest, AnErrorAnswerFailsTheExport) {
  OneShotCollector collector(500);
  auto spans = OneSpan();
  Status status = Exporter(collector.url(), std::chrono::seconds(30)).Export(spans);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("500"), std::string::npos);
}

TEST(OtlpHttpExporterTest, AHangingCollectorIsGivenUpOnAtTheTimeout) {
  OneShotCollector collector(0);
  auto spans = OneSpan();
  // No bound on how long it took (sanitizer builds are slow): only that it
  // returned, with a timeout, instead of waiting for an answer forever.
  Status status = Exporter(collector.url(), std::chrono::milliseconds(200)).Export(spans);
  EXPECT_FALSE(status.ok());
}

TEST(OtlpHttpExporterTest, NoCollectorFailsTheExport) {
  uint16_t port;
  {
    boost::asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(tcp::v4(), 0));
    port = acceptor.local_endpoint().port();
  }  // closed: connections are refused
  auto spans = OneSpan();
  EXPECT_FALSE(
      Exporter("http://127.0.0.1:" + std::to_string(port) + "/v1/traces", std::chrono::seconds(30)).Export(spans).ok());
}

}  // namespace
}  // namespace protoserve
