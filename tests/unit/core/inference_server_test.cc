// InferenceServer, the facade every front-end calls: the order of checks
// (model before body), the default deadline, request ids, shadow mirroring,
// in-flight accounting and the explicit-control rule, over a real
// repository on the fake backend.
#include "core/inference_server.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "support/fake_backend.h"

namespace protoserve {
namespace {

using namespace std::chrono_literals;
using testing::DoublingConfig;
using testing::FakeBackend;
using testing::TempRepository;

DecodedRequest ValidRequest() {
  const float x[3] = {1, 2, 3};
  DecodedRequest decoded;
  decoded.request.inputs.push_back(
      {"x", Tensor::FromString(DataType::kFp32, {1, 3}, std::string(reinterpret_cast<const char*>(x), sizeof(x)))});
  return decoded;
}

struct Outcome {
  Status status;
  InferResult result;
};

class InferenceServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backends_.Register("fake", std::make_shared<FakeBackend>());
    disk_.AddModel("m", DoublingConfig("parameters { key: \"protoserve.shadow\" value { string_value: \"1:100\" } }\n"
                                       "version_policy { all {} }\n"),
                   {1, 2});
    repository_ = std::make_unique<ModelRepository>(disk_.root(), &backends_, &metrics_);
    BeforeLoad();
    ASSERT_TRUE(repository_->LoadAll().ok());
  }
  // Observer factories go in here (they must precede the load).
  virtual void BeforeLoad() {}

  InferenceServer Make(ServerOptions options = {}) {
    return InferenceServer(repository_.get(), &metrics_, options);
  }

  Outcome Infer(const InferenceServer& server, RequestContext context, const std::string& model,
                InferenceServer::Decode decode) {
    std::promise<Outcome> promise;
    server.Infer(std::move(context), model, "", decode, [&promise](Status s, InferResult r) {
      promise.set_value(Outcome{std::move(s), std::move(r)});
    });
    return promise.get_future().get();
  }

  double Gauge(const std::string& text) {
    const std::string metrics = metrics_.Serialize();
    const size_t at = metrics.find(text + " ");
    return at == std::string::npos ? -1 : std::stod(metrics.substr(at + text.size() + 1));
  }

  BackendRegistry backends_;
  TempRepository disk_{"facade-test"};
  Metrics metrics_;
  std::unique_ptr<ModelRepository> repository_;
};

TEST_F(InferenceServerTest, UnknownModelIsNotFoundBeforeTheBodyIsDecoded) {
  InferenceServer server = Make();
  bool decoded = false;
  auto bad_body = [&](const ModelVersion&) -> StatusOr<DecodedRequest> {
    decoded = true;
    return InvalidArgument("malformed body");
  };
  EXPECT_EQ(Infer(server, {}, "nope", bad_body).status.code(), StatusCode::kNotFound);
  EXPECT_EQ(Infer(server, {}, "../etc", bad_body).status.code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(decoded);
  EXPECT_EQ(Infer(server, {}, "m", bad_body).status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(decoded);
}

TEST_F(InferenceServerTest, AnswersWithTheIdAndMirrorsToTheShadow) {
  InferenceServer server = Make();
  Outcome made = Infer(server, {}, "m", [](const ModelVersion&) { return StatusOr<DecodedRequest>(ValidRequest()); });
  ASSERT_TRUE(made.status.ok()) << made.status.ToString();
  EXPECT_EQ(made.result.id.size(), 32u);
  EXPECT_EQ(made.result.model->version(), 2);  // the shadow (1) never answers
  EXPECT_EQ(made.result.response.outputs.at(0).tensor.data_as<float>()[2], 6.0f);
  RequestContext context;
  context.id = "client-id-1";
  EXPECT_EQ(Infer(server, context, "m", [](const ModelVersion&) { return StatusOr<DecodedRequest>(ValidRequest()); }).result.id,
            "client-id-1");
  // The shadow's copy ran on version 1 (its own statistics), asynchronously.
  const auto deadline = Clock::now() + 30s;
  auto shadow = repository_->Get("m", 1);
  ASSERT_TRUE(shadow.ok());
  while ((*shadow)->stats().success_count.load() < 2 && Clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ((*shadow)->stats().success_count.load(), 2u);
}

TEST_F(InferenceServerTest, DefaultDeadlineAppliesOnlyWhenTheClientSetNone) {
  ServerOptions options;
  options.default_timeout = 5s;
  InferenceServer server = Make(options);
  RequestContext none;
  const auto before = Clock::now();
  server.Prepare(&none);
  EXPECT_GE(none.deadline, before + 5s);
  EXPECT_LE(none.deadline, Clock::now() + 5s);
  RequestContext own;
  own.deadline = before + 1s;
  server.Prepare(&own);
  EXPECT_EQ(own.deadline, before + 1s);
  RequestContext unbounded;
  Make().Prepare(&unbounded);
  EXPECT_EQ(unbounded.deadline, Clock::time_point::max());
  // A deadline already passed: the request completes without executing.
  RequestContext late;
  late.deadline = Clock::now() - 1ms;
  EXPECT_EQ(Infer(server, late, "m", [](const ModelVersion&) { return StatusOr<DecodedRequest>(ValidRequest()); }).status.code(),
            StatusCode::kDeadlineExceeded);
}

TEST_F(InferenceServerTest, InFlightCountsUntilTheFrontEndReleases) {
  InferenceServer server = Make();
  const std::string gauge = R"(protoserve_inflight_requests{api="http"})";
  RequestContext context;
  context.api = Api::kHttp;
  Outcome done = Infer(server, context, "m", [](const ModelVersion&) { return StatusOr<DecodedRequest>(ValidRequest()); });
  ASSERT_TRUE(done.status.ok());
  EXPECT_EQ(Gauge(gauge), 1);
  done.result.scope.Release();
  EXPECT_EQ(Gauge(gauge), 0);
}

TEST_F(InferenceServerTest, ReadyFollowsTheStateAndModelControlTheMode) {
  InferenceServer server = Make();
  EXPECT_FALSE(server.Ready());
  server.set_state(ServerState::kReady);
  EXPECT_TRUE(server.Ready());
  server.set_state(ServerState::kDraining);
  EXPECT_FALSE(server.Ready());
  EXPECT_EQ(server.UnloadModel("m").code(), StatusCode::kUnavailable);
  ServerOptions options;
  options.explicit_control = true;
  InferenceServer managed = Make(options);
  EXPECT_EQ(managed.LoadModel("m", /*has_parameters=*/true).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(managed.UnloadModel("m").ok());
  EXPECT_EQ(*managed.ModelReady("m", ""), false);
  EXPECT_EQ(managed.ModelReady("nope", "").status().code(), StatusCode::kNotFound);
}

// Tracing through the facade: a traced request's spans come out when the
// front-end releases its RequestScope, parented on the caller's traceparent,
// with the route and the batch's execute span; failures always exported.
class TracedServerTest : public InferenceServerTest {
 protected:
  void BeforeLoad() override { repository_->AddObserverFactory(tracer_.ObserverFactory()); }
  void TearDown() override { repository_.reset(); }  // its observers point at tracer_

  InferenceServer MakeTraced() {
    ServerOptions options;
    options.tracer = &tracer_;
    return Make(options);
  }
  Outcome Infer(const InferenceServer& server, RequestContext context, const std::string& model) {
    return InferenceServerTest::Infer(server, std::move(context), model,
                                      [](const ModelVersion&) -> StatusOr<DecodedRequest> { return ValidRequest(); });
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
};

TEST_F(TracedServerTest, SpansEndWhenTheFrontEndReleasesItsScope) {
  InferenceServer server = MakeTraced();
  RequestContext context;
  context.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  context.request_bytes = 99;
  Outcome outcome = Infer(server, std::move(context), "m");
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
  const SpanData& request = spans.back();
  EXPECT_EQ(request.name, "ModelInfer");
  EXPECT_EQ(ToHex(request.parent_span_id), "b7ad6b7169203331");
  EXPECT_EQ(std::get<std::string>(*Attribute(request, "protoserve.route")), "latest");
  EXPECT_EQ(std::get<int64_t>(*Attribute(request, "protoserve.model.version")), 2);
  EXPECT_EQ(std::get<int64_t>(*Attribute(request, "protoserve.shadow.version")), 1);
  EXPECT_EQ(std::get<int64_t>(*Attribute(request, "protoserve.request.bytes")), 99);
  EXPECT_EQ(std::get<int64_t>(*Attribute(request, "protoserve.response.bytes")), 12);
  EXPECT_EQ(std::get<std::string>(*Attribute(request, "protoserve.request_id")), outcome.result.id);
  for (size_t i = 0; i + 1 < spans.size(); ++i) {
    EXPECT_EQ(spans[i].trace_id, request.trace_id) << spans[i].name;
    EXPECT_EQ(spans[i].parent_span_id, request.span_id) << spans[i].name;
  }
  ASSERT_EQ(spans[0].links.size(), 1u);
  EXPECT_EQ(spans[0].links[0].span_id, request.span_id);
}

TEST_F(TracedServerTest, UnsampledFailuresAreExportedAndSuccessesAreNot) {
  InferenceServer server = MakeTraced();
  Outcome ok = Infer(server, {}, "m");  // ratio 0, no parent: not sampled
  ASSERT_TRUE(ok.status.ok());
  EXPECT_TRUE(ok.result.scope.traced());
  EXPECT_EQ(ok.result.scope.TraceResponse(), "");  // no trace to look up: no traceresponse
  ok.result.scope.Release();
  EXPECT_TRUE(Spans().empty());

  {
    Outcome missing = Infer(server, {}, "nope");
    EXPECT_EQ(missing.status.code(), StatusCode::kNotFound);
    // Exported for its error: the caller learns its trace, flags 00 (not head-sampled).
    EXPECT_EQ(missing.result.scope.TraceResponse().substr(53), "00");
  }  // never released by a front-end: the scope's end finishes the trace
  std::vector<SpanData> spans = Spans();
  ASSERT_EQ(spans.size(), 2u);  // encode (of the error answer), ModelInfer
  EXPECT_EQ(spans[0].name, "encode");
  const SpanData& request = spans[1];
  EXPECT_TRUE(request.error);
  EXPECT_EQ(std::get<std::string>(*Attribute(request, "protoserve.status_code")), "NOT_FOUND");
  EXPECT_EQ(std::get<std::string>(*Attribute(request, "protoserve.model.name")), "nope");
  for (const SpanData& span : spans) EXPECT_EQ(span.flags, 0);  // exported for its error, not sampled
}

TEST_F(TracedServerTest, ARequestRefusedByItsFrontEndIsTracedAsAFailure) {
  InferenceServer server = MakeTraced();
  RequestContext context;
  context.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";  // not sampled: errors go all the same
  context.operation = "GetRecommendations";
  {
    RequestScope scope = server.Refused(&context, InvalidArgument("features: not an array"));
    EXPECT_FALSE(context.id.empty());  // made, as Prepare does
    EXPECT_EQ(scope.TraceResponse().substr(0, 36), "00-0af7651916cd43dd8448eb211c80319c-");
    EXPECT_TRUE(Spans().empty());  // until the front-end has answered
  }
  std::vector<SpanData> spans = Spans();
  ASSERT_EQ(spans.size(), 1u);  // the server span alone: nothing was decoded, queued or encoded
  EXPECT_EQ(spans[0].name, "GetRecommendations");
  EXPECT_TRUE(spans[0].error);
  EXPECT_EQ(spans[0].status_message, "features: not an array");
  EXPECT_EQ(ToHex(spans[0].parent_span_id), "b7ad6b7169203331");
  EXPECT_EQ(std::get<std::string>(*Attribute(spans[0], "protoserve.status_code")), "INVALID_ARGUMENT");
  EXPECT_EQ(std::get<std::string>(*Attribute(spans[0], "protoserve.request_id")), context.id);
}

TEST(RequestIdTest, MadeIdsAreUniqueAndClientIdsChecked) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(MakeRequestId());
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_TRUE(IsValidRequestId("abc-123"));
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId(std::string(129, 'a')));
  EXPECT_FALSE(IsValidRequestId("a\nb"));
}

}  // namespace
}  // namespace protoserve
