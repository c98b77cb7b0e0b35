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
  std::string body;
  {
    google::protobuf::Arena arena;  // one allocation for the whole message tree
    auto* request =
        google::protobuf::Arena::CreateMessage<opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest>(&arena);
    EncodeSpans(spans, resource_, request);
    request->SerializeToString(&body);
  }
  Status status = Post(std::move(body));
  if (!status.ok() && failures_++ % 100 == 0) {
    spdlog::warn("OTLP export to {}:{}{} failed ({} failure(s) so far): {}", endpoint_.host, endpoint_.port,
                 endpoint_.target, failures_, status.message());
  }
  return status;
}

Status OtlpHttpExporter::Post(std::string body) {
  http::request<http::string_body> request{http::verb::post, endpoint_.target, 11};
  request.set(http::field::host, endpoint_.host + ":" + endpoint_.port);
  request.set(http::field::content_type, "application/x-protobuf");
  request.set(http::field::user_agent, "protoserve-otlp-exporter");
  for (const auto& [name, value] : headers_) request.set(name, value);
  request.keep_alive(true);
  request.body() = std::move(body);
  request.prepare_payload();
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  const bool kept = stream_.has_value();
  bool stale = false;
  Status status = Exchange(request, deadline, &stale);
  if (!status.ok() && kept && stale) status = Exchange(request, deadline, &stale);  // on a new connection
  return status;
}

Status OtlpHttpExporter::Exchange(const http::request<http::string_body>& request,
                                  std::chrono::steady_clock::time_point deadline, bool* stale) {
  Status result = DeadlineExceeded("no answer within " + std::to_string(timeout_.count()) + " ms");
  *stale = false;
  const bool kept = stream_.has_value();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);  // an ExportTraceServiceResponse is small
  bool abandoned = false;  // past the deadline: handlers still queued do nothing
  auto fail = [&result](const char* step, const beast::error_code& ec) {
    result = Unavailable(std::string(step) + ": " + ec.message());
  };
  auto exchange = [&] {
    stream_->expires_at(deadline);
    http::async_write(*stream_, request, [&](beast::error_code ec, size_t) {
      if (abandoned) return;
      if (ec) {
        *stale = kept;
        return fail("write", ec);
      }
      http::async_read(*stream_, buffer, parser, [&](beast::error_code ec2, size_t) {
        if (abandoned) return;
        if (ec2) {
          *stale = kept && !parser.got_some();
          return fail("read", ec2);
        }
        const unsigned code = parser.get().result_int();
        result = code / 100 == 2 ? Status::Ok() : Unavailable("the collector answered HTTP " + std::to_string(code));
      });
    });
  };
  io_.restart();
  tcp::resolver resolver(io_);
  if (kept) {
    exchange();
  } else {
    stream_.emplace(io_);
    stream_->expires_at(deadline);
    resolver.async_resolve(endpoint_.host, endpoint_.port, [&](beast::error_code ec, tcp::resolver::results_type hosts) {
      if (abandoned) return;
      if (ec) return fail("resolve", ec);
      stream_->async_connect(hosts, [&](beast::error_code ec2, const tcp::endpoint&) {
        if (abandoned) return;
        if (ec2) return fail("connect", ec2);
        exchange();
      });
    });
  }
  // The stream's timer bounds connect/write/read; this bounds the resolve too.
  io_.run_until(deadline);
  abandoned = true;
  if (!result.ok() || !parser.is_done() || !parser.keep_alive()) {
    // Closes the connection; the operations still pending complete (as
    // cancelled, doing nothing) while what they captured is alive.
    resolver.cancel();
    stream_.reset();
    io_.restart();
    io_.poll();
  }
  return result;
}

}  // namespace protoserve
