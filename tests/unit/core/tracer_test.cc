#include "core/tracer.h"

#include <gtest/gtest.h>

#include <mutex>

namespace protoserve {
namespace {

constexpr const char* kParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* kUnsampledParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

struct Sink {
  std::mutex mu;
  std::vector<SpanData> spans;
  Tracer::Sink callback() {
    return [this](std::vector<SpanData> batch) {
      std::lock_guard lock(mu);
      for (auto& s : batch) spans.push_back(std::move(s));
    };
  }
  const SpanData* Find(const std::string& name) {
    for (const auto& s : spans) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }
};

const AttributeValue* Attribute(const SpanData& span, const std::string& key) {
  for (const auto& a : span.attributes) {
    if (a.key == key) return &a.value;
  }
  return nullptr;
}

SamplerConfig Ratio(double ratio) { return {SamplerKind::kParentBasedTraceIdRatio, ratio}; }

TEST(TracerTest, TheCallersTraceparentIsTheServerSpansParent) {
  Sink sink;
  Tracer tracer(Ratio(0), sink.callback());
  auto trace = tracer.Start(kParent, "vendor=x", "req-1", Api::kHttp, "ModelInfer");
  EXPECT_TRUE(trace->sampled);  // parent-based: the caller sampled
  EXPECT_EQ(trace->TraceIdHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  trace->model = "m";
  trace->NoteRoute(0, true, 2, 3);
  const auto t0 = Clock::now() - std::chrono::milliseconds(1);  // phases in the past: Finish ends the span now
  trace->start = t0;
  trace->decode_start = t0;
  trace->decode_end = t0 + std::chrono::microseconds(5);
  trace->queued = t0 + std::chrono::microseconds(6);
  trace->batch_start = t0 + std::chrono::microseconds(10);
  trace->encode_start = t0 + std::chrono::microseconds(20);
  trace->request_bytes = 100;
  trace->response_bytes = 40;
  tracer.Finish(*trace, Status::Ok());

  ASSERT_EQ(sink.spans.size(), 4u);
  const SpanData* server = sink.Find("ModelInfer");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->kind, SpanKind::kServer);
  EXPECT_EQ(ToHex(server->parent_span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(server->remote_parent);
  EXPECT_EQ(server->trace_state, "vendor=x");
  EXPECT_FALSE(server->error);
  EXPECT_EQ(std::get<std::string>(*Attribute(*server, "protoserve.model.name")), "m");
  EXPECT_EQ(std::get<int64_t>(*Attribute(*server, "protoserve.model.version")), 2);
  EXPECT_EQ(std::get<std::string>(*Attribute(*server, "protoserve.route")), "split");
  EXPECT_EQ(std::get<int64_t>(*Attribute(*server, "protoserve.shadow.version")), 3);
  EXPECT_EQ(std::get<std::string>(*Attribute(*server, "protoserve.api")), "http");
  EXPECT_EQ(std::get<std::string>(*Attribute(*server, "protoserve.request_id")), "req-1");
  EXPECT_EQ(std::get<int64_t>(*Attribute(*server, "protoserve.request.bytes")), 100);
  EXPECT_EQ(std::get<int64_t>(*Attribute(*server, "protoserve.response.bytes")), 40);
  for (const char* child : {"decode", "queue", "encode"}) {
    const SpanData* span = sink.Find(child);
    ASSERT_NE(span, nullptr) << child;
    EXPECT_EQ(span->trace_id, server->trace_id);
    EXPECT_EQ(span->parent_span_id, server->span_id);
    EXPECT_LE(server->start_unix_nano, span->start_unix_nano);
    EXPECT_LE(span->start_unix_nano, span->end_unix_nano);
  }
  EXPECT_EQ(sink.Find("queue")->end_unix_nano - sink.Find("queue")->start_unix_nano, 4000);
}

TEST(TracerTest, AnInvalidTraceparentStartsANewTrace) {
  Sink sink;
  Tracer tracer({SamplerKind::kAlwaysOn, 1}, sink.callback());
  auto trace = tracer.Start("00-zz-nonsense", "vendor=x", "r", Api::kGrpc, "GetRecommendations");
  EXPECT_NE(trace->TraceIdHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  tracer.Finish(*trace, Status::Ok());
  ASSERT_EQ(sink.spans.size(), 1u);  // no phases recorded: the server span alone
  EXPECT_TRUE(IsZero(sink.spans[0].parent_span_id));
  EXPECT_TRUE(sink.spans[0].trace_state.empty());  // tracestate only travels with a valid parent
  EXPECT_EQ(trace->TraceResponse(), FormatTraceparent(trace->trace_id, trace->span_id, kTraceFlagSampled));
}

TEST(TracerTest, UnsampledRequestsAreExportedOnlyWhenTheyFail) {
  Sink sink;
  Tracer tracer(Ratio(0), sink.callback());
  auto ok = tracer.Start("", "", "a", Api::kGrpc, "ModelInfer");
  EXPECT_FALSE(ok->sampled);
  EXPECT_EQ(ok->TraceResponse().substr(53), "00");
  tracer.Finish(*ok, Status::Ok());
  EXPECT_TRUE(sink.spans.empty());

  auto refused = tracer.Start(kUnsampledParent, "", "b", Api::kGrpc, "ModelInfer");
  tracer.Finish(*refused, NotFound("model 'x' is not in the repository"));
  ASSERT_EQ(sink.spans.size(), 1u);
  EXPECT_TRUE(sink.spans[0].error);
  EXPECT_EQ(sink.spans[0].status_message, "model 'x' is not in the repository");
  EXPECT_EQ(std::get<std::string>(*Attribute(sink.spans[0], "protoserve.status_code")), "NOT_FOUND");
}

BatchEvent Batch(std::vector<RequestTrace*> members, size_t requests, bool ok) {
  BatchEvent event;
  event.start = Clock::now();
  for (RequestTrace* m : members) event.traced.push_back({m, event.start - std::chrono::microseconds(50)});
  event.requests = requests;
  event.rows = static_cast<int64_t>(requests);
  event.instance = 1;
  event.end = event.start + std::chrono::microseconds(100);
  event.ok = ok;
  return event;
}

TEST(TracerTest, ABatchIsOneExecuteSpanLinkedToItsSampledRequests) {
  Sink sink;
  Tracer tracer(Ratio(0), sink.callback());
  auto observer = tracer.ObserverFactory()("recommender", 7);
  auto a = tracer.Start(kUnsampledParent, "", "a", Api::kGrpc, "ModelInfer");
  auto b = tracer.Start(kParent, "", "b", Api::kGrpc, "ModelInfer");
  auto c = tracer.Start("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "", "c", Api::kHttp, "ModelInfer");
  observer->OnBatch(Batch({a.get(), b.get(), c.get()}, 4, true));

  ASSERT_EQ(sink.spans.size(), 1u);
  const SpanData& execute = sink.spans[0];
  EXPECT_EQ(execute.name, "execute");
  // In the first exported request's trace, under its server span.
  EXPECT_EQ(execute.trace_id, b->trace_id);
  EXPECT_EQ(execute.parent_span_id, b->span_id);
  ASSERT_EQ(execute.links.size(), 2u);  // a was not sampled
  EXPECT_EQ(execute.links[0].span_id, b->span_id);
  EXPECT_EQ(execute.links[1].trace_id, c->trace_id);
  EXPECT_EQ(execute.links[1].span_id, c->span_id);
  EXPECT_EQ(std::get<int64_t>(*Attribute(execute, "protoserve.batch.size")), 4);
  EXPECT_EQ(std::get<int64_t>(*Attribute(execute, "protoserve.instance")), 1);
  EXPECT_EQ(std::get<int64_t>(*Attribute(execute, "protoserve.model.version")), 7);
  EXPECT_EQ(execute.end_unix_nano - execute.start_unix_nano, 100000);
  // Every member learns its batch, sampled or not (its queue span).
  EXPECT_EQ(a->batch_requests, 4u);
  EXPECT_EQ(c->batch_span, execute.span_id);

  const auto execute_span_id = execute.span_id;  // `execute` points into sink.spans, which grows below
  tracer.Finish(*c, Status::Ok());
  const SpanData* server = sink.Find("ModelInfer");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(std::get<std::string>(*Attribute(*server, "protoserve.batch.span_id")), ToHex(execute_span_id));
  EXPECT_EQ(std::get<int64_t>(*Attribute(*server, "protoserve.batch.size")), 4);
}

TEST(TracerTest, AFailedBatchLinksEveryRequestAndAnUnsampledOneIsSkipped) {
  Sink sink;
  Tracer tracer(Ratio(0), sink.callback());
  auto observer = tracer.ObserverFactory()("m", 1);
  auto a = tracer.Start("", "", "a", Api::kGrpc, "ModelInfer");
  auto b = tracer.Start("", "", "b", Api::kGrpc, "ModelInfer");
  observer->OnBatch(Batch({a.get(), b.get()}, 2, true));
  EXPECT_TRUE(sink.spans.empty());  // nobody sampled, the batch succeeded
  observer->OnBatch(Batch({a.get(), b.get()}, 2, false));
  ASSERT_EQ(sink.spans.size(), 1u);
  EXPECT_TRUE(sink.spans[0].error);
  EXPECT_EQ(sink.spans[0].links.size(), 2u);
}

}  // namespace
}  // namespace protoserve
