// OtlpGrpcExporter against an in-process TraceService on loopback: one that
// accepts, one that fails the call, none at all; and the endpoint parser.
#include "telemetry/otlp_grpc_exporter.h"

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <mutex>

namespace protoserve {
namespace {

namespace otlp = opentelemetry::proto::collector::trace::v1;

class Collector final : public otlp::TraceService::Service {
 public:
  explicit Collector(grpc::StatusCode answer) : answer_(answer) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~Collector() override { server_->Shutdown(); }

  grpc::Status Export(grpc::ServerContext* context, const otlp::ExportTraceServiceRequest* request,
                      otlp::ExportTraceServiceResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(*request);
    auto key = context->client_metadata().find("x-api-key");
    if (key != context->client_metadata().end()) api_key_ = std::string(key->second.data(), key->second.size());
    return answer_ == grpc::StatusCode::OK ? grpc::Status::OK : grpc::Status(answer_, "collector says no");
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<otlp::ExportTraceServiceRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::string api_key() {
    std::lock_guard<std::mutex> lock(mu_);
    return api_key_;
  }

 private:
  const grpc::StatusCode answer_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::vector<otlp::ExportTraceServiceRequest> requests_;
  std::string api_key_;
};

std::vector<SpanData> Spans(int n) {
  std::vector<SpanData> spans(n);
  for (auto& span : spans) {
    span.trace_id = NewTraceId();
    span.span_id = NewSpanId();
    span.name = "GetRecommendations";
  }
  return spans;
}

OtlpGrpcExporter Exporter(const std::string& url, std::chrono::milliseconds timeout) {
  return OtlpGrpcExporter(*ParseOtlpGrpcEndpoint(url), timeout, ServerResource("test", "0"));
}

TEST(OtlpGrpcExporterTest, ParsesHostAndPortWithOrWithoutTls) {
  auto plain = ParseOtlpGrpcEndpoint("http://collector:4317");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->target, "collector:4317");
  EXPECT_FALSE(plain->tls);
  auto tls = ParseOtlpGrpcEndpoint("https://collector.example:443/");
  ASSERT_TRUE(tls.ok());
  EXPECT_EQ(tls->target, "collector.example:443");
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(ParseOtlpGrpcEndpoint("http://[::1]:4317")->target, "[::1]:4317");
  EXPECT_FALSE(ParseOtlpGrpcEndpoint("collector:4317").ok());
  EXPECT_FALSE(ParseOtlpGrpcEndpoint("http://collector").ok());
  EXPECT_FALSE(ParseOtlpGrpcEndpoint("http://collector:4317/v1/traces").ok());
  EXPECT_FALSE(ParseOtlpGrpcEndpoint("http://:4317").ok());
}

TEST(OtlpGrpcExporterTest, ExportsEachBatchAsOneCall) {
  Collector collector(grpc::StatusCode::OK);
  OtlpGrpcExporter exporter = Exporter(collector.url(), std::chrono::seconds(30));
  auto first = Spans(3), second = Spans(1);
  ASSERT_TRUE(exporter.Export(first).ok());
  ASSERT_TRUE(exporter.Export(second).ok());
  auto requests = collector.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].resource_spans(0).scope_spans(0).spans_size(), 3);
  EXPECT_EQ(requests[0].resource_spans(0).scope_spans(0).spans(0).name(), "GetRecommendations");
  EXPECT_EQ(requests[1].resource_spans(0).scope_spans(0).spans_size(), 1);
}

TEST(OtlpGrpcExporterTest, HeadersGoAsMetadata) {
  Collector collector(grpc::StatusCode::OK);
  OtlpGrpcExporter exporter(*ParseOtlpGrpcEndpoint(collector.url()), std::chrono::seconds(30),
                            ServerResource("test", "0"), {{"x-api-key", "s3cret"}});
  auto spans = Spans(1);
  ASSERT_TRUE(exporter.Export(spans).ok());
  EXPECT_EQ(collector.api_key(), "s3cret");
}

TEST(OtlpGrpcExporterTest, AFailedCallFailsTheExport) {
  Collector collector(grpc::StatusCode::RESOURCE_EXHAUSTED);
  auto spans = Spans(1);
  Status status = Exporter(collector.url(), std::chrono::seconds(30)).Export(spans);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("collector says no"), std::string::npos) << status.ToString();
}

TEST(OtlpGrpcExporterTest, NoCollectorFailsTheExportAtTheDeadline) {
  int port = 0;
  {
    Collector gone(grpc::StatusCode::OK);
    port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }  // shut down: nothing listens there now
  auto spans = Spans(1);
  // No bound on how long it took (sanitizer builds are slow): only that it
  // returned, failed, instead of waiting forever.
  EXPECT_FALSE(Exporter("http://127.0.0.1:" + std::to_string(port), std::chrono::milliseconds(300)).Export(spans).ok());
}

}  // namespace
}  // namespace protoserve
