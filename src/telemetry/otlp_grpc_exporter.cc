#include "telemetry/otlp_grpc_exporter.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

namespace protoserve {

StatusOr<OtlpGrpcTarget> ParseOtlpGrpcEndpoint(std::string_view url) {
  OtlpGrpcTarget parsed;
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    rest = url.substr(8);
    parsed.tls = true;
  } else {
    return InvalidArgument("OTLP/gRPC endpoint '" + std::string(url) + "': expected http://host:port or https://host:port");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  const bool has_port = colon != std::string_view::npos && colon + 1 < rest.size() &&
                        rest.substr(colon + 1).find_first_not_of("0123456789") == std::string_view::npos &&
                        rest.find(']', colon) == std::string_view::npos;
  if (rest.empty() || rest.find('/') != std::string_view::npos || !has_port || colon == 0) {
    return InvalidArgument("OTLP/gRPC endpoint '" + std::string(url) + "': expected http://host:port or https://host:port");
  }
  parsed.target = std::string(rest);
  return parsed;
}

OtlpGrpcExporter::OtlpGrpcExporter(OtlpGrpcTarget target, std::chrono::milliseconds timeout,
                                   ResourceAttributes resource, OtlpHeaders headers)
    : target_(std::move(target)), timeout_(timeout), resource_(std::move(resource)), headers_(std::move(headers)) {
  auto credentials = target_.tls ? grpc::SslCredentials(grpc::SslCredentialsOptions()) : grpc::InsecureChannelCredentials();
  stub_ = opentelemetry::proto::collector::trace::v1::TraceService::NewStub(grpc::CreateChannel(target_.target, credentials));
}

Status OtlpGrpcExporter::Export(std::vector<SpanData>& spans) {
  google::protobuf::Arena arena;  // one allocation for the whole message tree
  auto& request =
      *google::protobuf::Arena::CreateMessage<opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest>(&arena);
  EncodeSpans(spans, resource_, &request);
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_);
  for (const auto& [name, value] : headers_) context.AddMetadata(name, value);
  const grpc::Status status = stub_->Export(&context, request, &response);
  if (!status.ok()) {
    if (failures_++ % 100 == 0) {
      spdlog::warn("OTLP/gRPC export to {} failed ({} failure(s) so far): {} {}", target_.target, failures_,
                   static_cast<int>(status.error_code()), status.error_message());
    }
    return Unavailable("OTLP/gRPC export to " + target_.target + ": " + status.error_message());
  }
  if (response.has_partial_success() && response.partial_success().rejected_spans() > 0) {
    spdlog::warn("OTLP/gRPC collector {} rejected {} of {} spans: {}", target_.target,
                 response.partial_success().rejected_spans(), spans.size(), response.partial_success().error_message());
  }
  return Status::Ok();
}

}  // namespace protoserve
