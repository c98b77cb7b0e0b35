#include "telemetry/otlp_encoder.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

namespace otlp = opentelemetry::proto;

TEST(OtlpEncoderTest, SpansBecomeOneResourceAndScope) {
  SpanData server;
  server.trace_id = NewTraceId();
  server.span_id = NewSpanId();
  server.parent_span_id = NewSpanId();
  server.remote_parent = true;
  server.trace_state = "vendor=1";
  server.name = "ModelInfer";
  server.kind = SpanKind::kServer;
  server.start_unix_nano = 1'700'000'000'000'000'000;
  server.end_unix_nano = server.start_unix_nano + 1000;
  server.Set("s", std::string("text"));
  server.Set("i", int64_t{7});
  server.Set("d", 0.5);
  server.Set("b", true);
  server.error = true;
  server.status_message = "boom";
  SpanData execute;
  execute.trace_id = server.trace_id;
  execute.span_id = NewSpanId();
  execute.name = "execute";
  execute.links.push_back({server.trace_id, server.span_id, {{"protoserve.request_id", std::string("r1")}}});

  otlp::collector::trace::v1::ExportTraceServiceRequest request;
  EncodeSpans({server, execute}, ServerResource("svc", "1.2.3"), &request);
  // Round trip through the wire format: what a collector reads.
  std::string wire;
  ASSERT_TRUE(request.SerializeToString(&wire));
  otlp::collector::trace::v1::ExportTraceServiceRequest read;
  ASSERT_TRUE(read.ParseFromString(wire));

  ASSERT_EQ(read.resource_spans_size(), 1);
  const auto& resource = read.resource_spans(0).resource();
  ASSERT_GE(resource.attributes_size(), 2);
  EXPECT_EQ(resource.attributes(0).key(), "service.name");
  EXPECT_EQ(resource.attributes(0).value().string_value(), "svc");
  ASSERT_EQ(read.resource_spans(0).scope_spans_size(), 1);
  const auto& scope = read.resource_spans(0).scope_spans(0);
  EXPECT_EQ(scope.scope().name(), "protoserve");
  ASSERT_EQ(scope.spans_size(), 2);

  const otlp::trace::v1::Span& s = scope.spans(0);
  EXPECT_EQ(s.trace_id(), std::string(reinterpret_cast<const char*>(server.trace_id.data()), 16));
  EXPECT_EQ(s.span_id().size(), 8u);
  EXPECT_EQ(s.parent_span_id(), std::string(reinterpret_cast<const char*>(server.parent_span_id.data()), 8));
  EXPECT_EQ(s.trace_state(), "vendor=1");
  EXPECT_EQ(s.name(), "ModelInfer");
  EXPECT_EQ(s.kind(), otlp::trace::v1::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(s.start_time_unix_nano(), 1'700'000'000'000'000'000u);
  EXPECT_EQ(s.end_time_unix_nano() - s.start_time_unix_nano(), 1000u);
  EXPECT_EQ(s.flags(), 0x301u);  // sampled, parent known to be remote
  ASSERT_EQ(s.attributes_size(), 4);
  EXPECT_EQ(s.attributes(0).value().string_value(), "text");
  EXPECT_EQ(s.attributes(1).value().int_value(), 7);
  EXPECT_EQ(s.attributes(2).value().double_value(), 0.5);
  EXPECT_TRUE(s.attributes(3).value().bool_value());
  EXPECT_EQ(s.status().code(), otlp::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(s.status().message(), "boom");

  const otlp::trace::v1::Span& e = scope.spans(1);
  EXPECT_TRUE(e.parent_span_id().empty());
  EXPECT_EQ(e.kind(), otlp::trace::v1::Span::SPAN_KIND_INTERNAL);
  EXPECT_EQ(e.status().code(), otlp::trace::v1::Status::STATUS_CODE_UNSET);
  ASSERT_EQ(e.links_size(), 1);
  EXPECT_EQ(e.links(0).span_id(), s.span_id());
  EXPECT_EQ(e.links(0).attributes(0).value().string_value(), "r1");
}

}  // namespace
}  // namespace protoserve
