#include "telemetry/tracing_config.h"

#include <gtest/gtest.h>

#include <map>

namespace protoserve {
namespace {

StatusOr<TracingConfig> Parse(std::map<std::string, std::string, std::less<>> values) {
  return ParseTracingConfig([&values](std::string_view name) {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  });
}

TEST(TracingConfigTest, OffByDefaultWithTheSdkDefaults) {
  auto config = Parse({});
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->enabled);
  EXPECT_EQ(config->traces_endpoint, "http://localhost:4318/v1/traces");
  EXPECT_EQ(config->sampler.kind, SamplerKind::kParentBasedAlwaysOn);
  EXPECT_EQ(config->schedule_delay, std::chrono::milliseconds(5000));
  EXPECT_EQ(config->max_queue_size, 2048u);
  EXPECT_EQ(config->max_export_batch_size, 512u);
  EXPECT_EQ(config->export_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(config->service_name, "protoserve");
  EXPECT_FALSE(Parse({{"OTEL_TRACES_EXPORTER", "none"}})->enabled);
}

TEST(TracingConfigTest, EndpointsFollowTheSpec) {
  // The base gets /v1/traces appended; the traces variable is used as is and wins.
  EXPECT_EQ(Parse({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"}})->traces_endpoint,
            "http://collector:4318/v1/traces");
  EXPECT_EQ(Parse({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"},
                   {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:9999/custom"}})
                ->traces_endpoint,
            "http://other:9999/custom");
}

TEST(TracingConfigTest, GrpcProtocolUsesTheEndpointAsIs) {
  auto defaults = Parse({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}});
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->protocol, OtlpProtocol::kGrpc);
  EXPECT_EQ(defaults->traces_endpoint, "http://localhost:4317");
  // No /v1/traces for gRPC: the base names the collector.
  EXPECT_EQ(Parse({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"}})
                ->traces_endpoint,
            "http://collector:4317");
  // The traces-specific protocol wins over the general one.
  EXPECT_EQ(Parse({{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"}, {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"}})
                ->protocol,
            OtlpProtocol::kGrpc);
  EXPECT_EQ(Parse({})->protocol, OtlpProtocol::kHttpProtobuf);
}

TEST(TracingConfigTest, HeadersArePercentDecodedPairs) {
  auto config = Parse({{"OTEL_EXPORTER_OTLP_HEADERS", " X-Api-Key = s3cr%3Dt%2C1 ,tenant=blue,"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->headers, (OtlpHeaders{{"x-api-key", "s3cr=t,1"}, {"tenant", "blue"}}));
  // The traces-specific variable wins over the general one.
  EXPECT_EQ(Parse({{"OTEL_EXPORTER_OTLP_HEADERS", "a=1"}, {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2"}})->headers,
            (OtlpHeaders{{"b", "2"}}));
  EXPECT_TRUE(Parse({})->headers.empty());
  for (const char* bad : {"novalue", "=1", "a b=1", "k=%4", "k=%zz", "k=a%0Ab"}) {
    auto status = Parse({{"OTEL_EXPORTER_OTLP_HEADERS", bad}}).status();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(status.message().find("OTEL_EXPORTER_OTLP_HEADERS"), std::string::npos) << status.ToString();
  }
}

TEST(TracingConfigTest, ReadsEverySetting) {
  auto config = Parse({{"OTEL_TRACES_EXPORTER", "otlp"},
                       {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
                       {"OTEL_TRACES_SAMPLER", "traceidratio"},
                       {"OTEL_TRACES_SAMPLER_ARG", "0.01"},
                       {"OTEL_BSP_SCHEDULE_DELAY", "100"},
                       {"OTEL_BSP_MAX_QUEUE_SIZE", "64"},
                       {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "128"},
                       {"OTEL_BSP_EXPORT_TIMEOUT", "2000"},
                       {"OTEL_SERVICE_NAME", "ranker"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->enabled);
  EXPECT_EQ(config->sampler.kind, SamplerKind::kTraceIdRatio);
  EXPECT_DOUBLE_EQ(config->sampler.ratio, 0.01);
  EXPECT_EQ(config->schedule_delay, std::chrono::milliseconds(100));
  EXPECT_EQ(config->max_queue_size, 64u);
  EXPECT_EQ(config->max_export_batch_size, 64u);  // clamped to the queue
  EXPECT_EQ(config->export_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(config->service_name, "ranker");
}

TEST(TracingConfigTest, BadValuesNameTheVariable) {
  auto bad = [](std::map<std::string, std::string, std::less<>> values) { return Parse(std::move(values)).status(); };
  EXPECT_NE(bad({{"OTEL_TRACES_EXPORTER", "zipkin"}}).message().find("OTEL_TRACES_EXPORTER"), std::string::npos);
  EXPECT_NE(bad({{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}}).message().find("http/protobuf or grpc"),
            std::string::npos);
  EXPECT_NE(bad({{"OTEL_BSP_MAX_QUEUE_SIZE", "-1"}}).message().find("OTEL_BSP_MAX_QUEUE_SIZE"), std::string::npos);
  EXPECT_NE(bad({{"OTEL_BSP_SCHEDULE_DELAY", "5s"}}).message().find("OTEL_BSP_SCHEDULE_DELAY"), std::string::npos);
  EXPECT_EQ(bad({{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "2"}}).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace protoserve
