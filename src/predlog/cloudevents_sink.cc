#include "predlog/cloudevents_sink.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <optional>

#include "predlog/log_json.h"

namespace protoserve {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

struct CloudEventsSink::Connection {
  boost::asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

StatusOr<std::unique_ptr<LogSink>> CloudEventsSink::Create(CloudEventsOptions options) {
  const std::string& url = options.url;
  constexpr std::string_view kScheme = "http://";
  if (url.compare(0, kScheme.size(), kScheme) != 0) {
    return InvalidArgument("--prediction-log-url " + url + ": an http:// URL expected");
  }
  const std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  const size_t colon = authority.rfind(':');
  std::string host = authority.substr(0, colon);
  std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgument("--prediction-log-url " + url + ": expected http://host[:port][/path]");
  }
  return std::unique_ptr<LogSink>(new CloudEventsSink(std::move(options), std::move(host), std::move(port), target));
}

CloudEventsSink::CloudEventsSink(CloudEventsOptions options, std::string host, std::string port, std::string target)
    : options_(std::move(options)),
      host_(std::move(host)),
      port_(std::move(port)),
      target_(std::move(target)),
      connection_(std::make_unique<Connection>()) {}

CloudEventsSink::~CloudEventsSink() = default;

Status CloudEventsSink::Write(std::span<const LogEntry> batch) {
  for (const LogEntry& entry : batch) {
    Status s = Post(entry);
    if (!s.ok()) {
      // Once more on a fresh connection (the receiver may have closed an idle one).
      connection_->stream.reset();
      s = Post(entry);
    }
    if (!s.ok()) {
      connection_->stream.reset();
      return s;
    }
  }
  return Status::Ok();
}

Status CloudEventsSink::Post(const LogEntry& entry) {
  Connection& c = *connection_;
  beast::error_code ec;
  if (!c.stream) {
    c.buffer.clear();
    tcp::resolver resolver(c.io);
    auto endpoints = resolver.resolve(host_, port_, ec);
    if (ec) return Unavailable("cloudevents: resolve " + host_ + ": " + ec.message());
    c.stream.emplace(c.io);
    c.stream->expires_after(options_.timeout);
    c.stream->connect(endpoints, ec);
    if (ec) return Unavailable("cloudevents: connect " + host_ + ":" + port_ + ": " + ec.message());
  }
  const auto* prediction = std::get_if<PredictionRecord>(&entry);
  const auto* feedback = std::get_if<FeedbackRecord>(&entry);
  http::request<http::string_body> request{http::verb::post, target_, 11};
  request.set(http::field::host, host_);
  request.set(http::field::content_type, "application/json");
  request.set("ce-specversion", "1.0");
  request.set("ce-type", prediction ? "org.kubeflow.serving.inference.response" : "org.protoserve.feedback");
  request.set("ce-id", prediction ? prediction->request_id : feedback->request_id);
  request.set("ce-source", options_.source);
  request.set("ce-time", Rfc3339(prediction ? prediction->time : feedback->time));
  request.set("ce-inferenceservicename", prediction ? prediction->model : feedback->model);
  request.set("ce-modelversion", std::to_string(prediction ? prediction->version : feedback->version));
  request.body() = EventJson(entry);
  request.prepare_payload();
  request.keep_alive(true);
  c.stream->expires_after(options_.timeout);
  http::write(*c.stream, request, ec);
  if (ec) return Unavailable("cloudevents: send: " + ec.message());
  http::response<http::string_body> response;
  http::read(*c.stream, c.buffer, response, ec);
  if (ec) return Unavailable("cloudevents: receive: " + ec.message());
  if (!response.keep_alive()) c.stream.reset();
  if (response.result_int() / 100 != 2) {
    return Unavailable("cloudevents: the receiver answered " + std::to_string(response.result_int()));
  }
  return Status::Ok();
}

}  // namespace protoserve
