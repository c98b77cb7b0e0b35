// OtlpHttpExporter: OTLP/HTTP with protobuf bodies (the OpenTelemetry
// protocol's `http/protobuf`): each batch is one POST of an
// ExportTraceServiceRequest to the traces endpoint (e.g.
// http://collector:4318/v1/traces), Content-Type application/x-protobuf.
//
// The connection is kept alive between exports (HTTP/1.1), as the
// OpenTelemetry SDKs do: a new connection per batch cost a resolver
// thread, a TCP handshake and the collector's accept every time. A kept
// connection the collector has closed meanwhile is replaced once, in the
// same export.
//
// Every export is bounded by `timeout` as a whole (resolve, connect, write,
// read): a collector that is down, hangs or answers 5xx costs the export
// thread at most that, never a request. Failures are not retried (the
// batch is counted as failed, and logged with the first and every 100th).
// Only plain http:// endpoints (no TLS).
//
// Thread-safety: Export() is called from one thread (BatchSpanProcessor).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch_span_processor.h"
#include "core/status.h"
#include "telemetry/otlp_encoder.h"
#include "telemetry/tracing_config.h"

namespace protoserve {

struct OtlpEndpoint {
  std::string host;
  std::string port = "80";
  std::string target = "/";  // path (and query) as sent
};

// "http://host[:port][/path]"; INVALID_ARGUMENT otherwise (https included).
StatusOr<OtlpEndpoint> ParseOtlpEndpoint(std::string_view url);

class OtlpHttpExporter final : public SpanExporter {
 public:
  // `headers` go on every POST (OTEL_EXPORTER_OTLP_HEADERS).
  OtlpHttpExporter(OtlpEndpoint endpoint, std::chrono::milliseconds timeout, ResourceAttributes resource,
                   OtlpHeaders headers = {});

  Status Export(std::vector<SpanData>& spans) override;

 private:
  // One POST of `body`; OK on a 2xx answer.
  Status Post(std::string body);
  // One exchange on the kept connection (opened first if there is none).
  // `stale` is set when a kept connection failed before any byte of an
  // answer: the collector closed it meanwhile, and a new one may do.
  Status Exchange(const boost::beast::http::request<boost::beast::http::string_body>& request,
                  std::chrono::steady_clock::time_point deadline, bool* stale);

  const OtlpEndpoint endpoint_;
  const std::chrono::milliseconds timeout_;
  const ResourceAttributes resource_;
  const OtlpHeaders headers_;
  uint64_t failures_ = 0;  // Export's thread only
  // The connection (Export's thread only); empty until the first export
  // and after any failure.
  boost::asio::io_context io_;
  std::optional<boost::beast::tcp_stream> stream_;
};

}  // namespace protoserve
