// Tracing through the facade: a traced request's spans come out when the
// front-end releases its RequestScope, parented on the caller's traceparent,
// with the route, the batch's execute span and failures always exported.
// A real repository on the fake backend; the tracer's sink collects spans.
#include <gtest/gtest.h>

#include <future>
#include <mutex>

#include "core/inference_server.h"
#include "support/fake_backend.h"

namespace protoserve {
namespace {

using testing::DoublingConfig;
using testing::FakeBackend;
using testing::TempRepository;

constexpr const char* kParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

struct Outcome {
  Status status;
  InferResult result;
};

class TracedServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backends_.Register("fake", std::make_shared<FakeBackend>());
    disk_.AddModel("m", DoublingConfig("parameters { key: \"protoserve.shadow\" value { string_value: \"1:100\" } }\n"
                                       "version_policy { all {} }\n"),
                   {1, 2});
    repository_ = std::make_unique<ModelRepository>(disk_.root(), &backends_, nullptr);
    repository_->AddObserverFactory(tracer_.ObserverFactory());
    ASSERT_TRUE(repository_->LoadAll().ok());
    ServerOptions options;
    options.tracer = &tracer_;
    server_ = std::make_unique<InferenceServer>(repository_.get(), nullptr, nullptr, options);
  }

  Outcome Infer(RequestContext context, const std::string& model) {
    auto decode = [](const ModelVersion&) -> StatusOr<DecodedRequest> {
      const float x[3] = {1, 2, 3};
      DecodedRequest decoded;
      decoded.request.inputs.push_back({"x", Tensor::FromString(DataType::kFp32, {1, 3},
                                                               std::string(reinterpret_cast<const char*>(x), 12))});
      return decoded;
    };
    std::promise<Outcome> promise;
    server_->Infer(std::move(context), model, "", decode, [&promise](Status s, InferResult r) {
      promise.set_value(Outcome{std::move(s), std::move(r)});
    });
    return promise.get_future().get();
  }

  std::vector<SpanData> Spans() {
    std::lock_guard lock(mu_);
    return spans_;
  }

  static const AttributeValue* Attribute(const SpanData& span, const std::string& key) {
    for (const auto& a : span.attributes) {
      if (a.key == key) return &a.value;
    }
    return nullptr;
  }

  std::mutex mu_;
  std::vector<SpanData> spans_;
  Tracer tracer_{{SamplerKind::kParentBasedTraceIdRatio, 0.0}, [this](std::vector<SpanData> batch) {
                   std::lock_guard lock(mu_);
                   for (auto& s : batch) spans_.push_back(std::move(s));
                 }};
  BackendRegistry backends_;
  TempRepository disk_{"trace-test"};
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<InferenceServer> server_;
};

TEST_F(TracedServerTest, SpansEndWhenTheFrontEndReleasesItsScope) {
  RequestContext context;
  context.traceparent = kParent;
  context.request_bytes = 99;
  Outcome outcome = Infer(std::move(context), "m");
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.ToString();
  ASSERT_TRUE(outcome.result.scope.traced());
  EXPECT_EQ(outcome.result.scope.TraceResponse().substr(0, 36), "00-0af7651916cd43dd8448eb211c80319c-");
  // The execute span went out with the batch; the request's wait for the front-end.
  std::vector<SpanData> spans = Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "execute");
  outcome.result.scope.set_response_bytes(12);
  outcome.result.scope.Release();

  spans = Spans();
  ASSERT_EQ(spans.size(), 5u);  // execute, decode, queue, encode, ModelInfer
  const SpanData& server = spans.back();
  EXPECT_EQ(server.name, "ModelInfer");
  EXPECT_EQ(ToHex(server.parent_span_id), "b7ad6b7169203331");
  EXPECT_EQ(std::get<std::string>(*Attribute(server, "protoserve.route")), "latest");
  EXPECT_EQ(std::get<int64_t>(*Attribute(server, "protoserve.model.version")), 2);
  EXPECT_EQ(std::get<int64_t>(*Attribute(server, "protoserve.shadow.version")), 1);
  EXPECT_EQ(std::get<int64_t>(*Attribute(server, "protoserve.request.bytes")), 99);
  EXPECT_EQ(std::get<int64_t>(*Attribute(server, "protoserve.response.bytes")), 12);
  EXPECT_EQ(std::get<std::string>(*Attribute(server, "protoserve.request_id")), outcome.result.id);
  for (size_t i = 0; i + 1 < spans.size(); ++i) {
    EXPECT_EQ(spans[i].trace_id, server.trace_id) << spans[i].name;
    EXPECT_EQ(spans[i].parent_span_id, server.span_id) << spans[i].name;
  }
  ASSERT_EQ(spans[0].links.size(), 1u);
  EXPECT_EQ(spans[0].links[0].span_id, server.span_id);
}

TEST_F(TracedServerTest, UnsampledFailuresAreExportedAndSuccessesAreNot) {
  Outcome ok = Infer({}, "m");  // ratio 0, no parent: not sampled
  ASSERT_TRUE(ok.status.ok());
  EXPECT_EQ(ok.result.scope.TraceResponse().substr(53), "00");
  ok.result.scope.Release();
  EXPECT_TRUE(Spans().empty());

  {
    Outcome missing = Infer({}, "nope");
    EXPECT_EQ(missing.status.code(), StatusCode::kNotFound);
  }  // never released by a front-end: the scope's end finishes the trace
  std::vector<SpanData> spans = Spans();
  ASSERT_EQ(spans.size(), 2u);  // encode (of the error answer), ModelInfer
  EXPECT_EQ(spans[0].name, "encode");
  const SpanData& server = spans[1];
  EXPECT_TRUE(server.error);
  EXPECT_EQ(std::get<std::string>(*Attribute(server, "protoserve.status_code")), "NOT_FOUND");
  EXPECT_EQ(std::get<std::string>(*Attribute(server, "protoserve.model.name")), "nope");
  for (const SpanData& span : spans) EXPECT_EQ(span.flags, 0);  // exported for its error, not sampled
}

}  // namespace
}  // namespace protoserve
