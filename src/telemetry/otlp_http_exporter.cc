#include "telemetry/otlp_http_exporter.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>

namespace protoserve {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

StatusOr<OtlpEndpoint> ParseOtlpEndpoint(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    return InvalidArgument("OTLP endpoint '" + std::string(url) + "': only http:// URLs are supported");
  }
  std::string_view rest = url.substr(kScheme.size());
  OtlpEndpoint endpoint;
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) endpoint.target = std::string(rest.substr(slash));
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    int number = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (error != std::errc() || end != port.data() + port.size() || number <= 0 || number > 65535) {
      return InvalidArgument("OTLP endpoint '" + std::string(url) + "': bad port '" + std::string(port) + "'");
    }
    endpoint.port = std::string(port);
    authority = authority.substr(0, colon);
  }
  if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);  // [::1]
  }
  if (authority.empty()) return InvalidArgument("OTLP endpoint '" + std::string(url) + "': no host");
  endpoint.host = std::string(authority);
  return endpoint;
}

OtlpHttpExporter::OtlpHttpExporter(OtlpEndpoint endpoint, std::chrono::milliseconds timeout,
                                   ResourceAttributes resource, OtlpHeaders headers)
    : endpoint_(std::move(endpoint)), timeout_(timeout), resource_(std::move(resource)), headers_(std::move(headers)) {}

Status OtlpHttpExporter::Export(std::vector<SpanData>& spans) {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  EncodeSpans(spans, resource_, &request);
  std::string body;
  request.SerializeToString(&body);
  Status status = Post(body);
  if (!status.ok() && failures_++ % 100 == 0) {
    spdlog::warn("OTLP export to {}:{}{} failed ({} failure(s) so far): {}", endpoint_.host, endpoint_.port,
                 endpoint_.target, failures_, status.message());
  }
  return status;
}

Status OtlpHttpExporter::Post(const std::string& body) const {
  // Declared first, destroyed last: the I/O objects below use it.
  net::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  http::request<http::string_body> request{http::verb::post, endpoint_.target, 11};
  request.set(http::field::host, endpoint_.host + ":" + endpoint_.port);
  request.set(http::field::content_type, "application/x-protobuf");
  request.set(http::field::user_agent, "protoserve-otlp-exporter");
  for (const auto& [name, value] : headers_) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);  // an ExportTraceServiceResponse is small

  Status result = DeadlineExceeded("no answer within " + std::to_string(timeout_.count()) + " ms");
  auto fail = [&result](const char* step, const beast::error_code& ec) {
    result = Unavailable(std::string(step) + ": " + ec.message());
  };
  stream.expires_after(timeout_);
  resolver.async_resolve(endpoint_.host, endpoint_.port, [&](beast::error_code ec, tcp::resolver::results_type hosts) {
    if (ec) return fail("resolve", ec);
    stream.async_connect(hosts, [&](beast::error_code ec2, const tcp::endpoint&) {
      if (ec2) return fail("connect", ec2);
      http::async_write(stream, request, [&](beast::error_code ec3, size_t) {
        if (ec3) return fail("write", ec3);
        http::async_read(stream, buffer, parser, [&](beast::error_code ec4, size_t) {
          if (ec4) return fail("read", ec4);
          const unsigned code = parser.get().result_int();
          result = code / 100 == 2 ? Status::Ok()
                                   : Unavailable("the collector answered HTTP " + std::to_string(code));
          beast::error_code ignored;
          stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        });
      });
    });
  });
  // The stream's timer bounds connect/write/read; this bounds the resolve too.
  io.run_for(timeout_);
  return result;
}

}  // namespace protoserve
