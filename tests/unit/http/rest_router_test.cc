// RestRouter with KServeRest and RecommendRest over a real ModelRepository
// whose models run on a fake backend: routes, statuses and the REST infer
// path end to end, without sockets.
#include "http/rest_router.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "http/json.h"
#include "support/fake_backend.h"

namespace protoserve {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

using testing::FakeBackend;
using testing::Gate;
using testing::WriteFile;

class RestRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("protoserve-rest-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    WriteFile(root_ / "double" / "config.pbtxt", R"(
        backend: "fake"
        max_batch_size: 4
        input { name: "x" data_type: TYPE_FP32 dims: [ 3 ] }
        output { name: "y" data_type: TYPE_FP32 dims: [ 3 ] label_filename: "labels.txt" }
        dynamic_batching { default_queue_policy { max_queue_size: 1 } })");
    WriteFile(root_ / "double" / "labels.txt", "a\nb\nc\n");
    fs::create_directories(root_ / "double" / "1");
    WriteFile(root_ / "broken" / "config.pbtxt", R"(
        backend: "missing"
        input { name: "x" data_type: TYPE_FP32 dims: [ 1 ] }
        output { name: "y" data_type: TYPE_FP32 dims: [ 1 ] })");
    fs::create_directories(root_ / "broken" / "1");
    backends_.Register("fake", std::make_shared<FakeBackend>(&gate_));
    repository_ = std::make_unique<ModelRepository>(root_, &backends_, &metrics_);
    ASSERT_TRUE(repository_->LoadAll().ok());
    MakeFrontEnd(/*explicit_control=*/false);
    io_thread_ = std::thread([this] { io_.run(); });
  }

  // The facade and the REST front-end over it, in or out of explicit model control mode.
  void MakeFrontEnd(bool explicit_control) {
    router_.reset();
    recommend_.reset();
    kserve_.reset();
    ServerOptions options;
    options.explicit_control = explicit_control;
    server_ = std::make_unique<InferenceServer>(repository_.get(), &metrics_, options);
    server_->set_state(ServerState::kReady);
    kserve_ = std::make_unique<KServeRest>(server_.get());
    recommend_ = std::make_unique<RecommendRest>(server_.get(), "double");
    router_ = std::make_unique<RestRouter>(kserve_.get(), recommend_.get(), repository_.get(), &metrics_);
  }

  void TearDown() override {
    gate_.Open();
    repository_->Shutdown();
    work_.reset();
    io_thread_.join();
    fs::remove_all(root_);
  }

  std::future<HttpResponse> Start(http::verb method, const std::string& target, const std::string& body = "",
                                  const std::string& json_size = "") {
    HttpRequest request(method, target, 11);
    request.body() = body;
    if (!json_size.empty()) request.set(kInferenceHeaderContentLength, json_size);
    auto promise = std::make_shared<std::promise<HttpResponse>>();
    auto future = promise->get_future();
    router_->Handle(std::move(request), Responder(io_.get_executor(), [promise](HttpResponse response) {
                      promise->set_value(std::move(response));
                    }));
    return future;
  }

  HttpResponse Call(http::verb method, const std::string& target, const std::string& body = "",
                    const std::string& json_size = "") {
    auto future = Start(method, target, body, json_size);
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready) << target;
    return future.get();
  }

  static std::string Error(const HttpResponse& response) {
    rapidjson::Document d;
    if (!json::Parse(response.body(), &d).ok() || !d.IsObject() || !d.HasMember("error")) return "";
    return d["error"].GetString();
  }

  fs::path root_;
  Gate gate_;
  BackendRegistry backends_;
  Metrics metrics_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<InferenceServer> server_;
  std::unique_ptr<KServeRest> kserve_;
  std::unique_ptr<RecommendRest> recommend_;
  std::unique_ptr<RestRouter> router_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  std::thread io_thread_;
};

constexpr auto kGet = http::verb::get;
constexpr auto kPost = http::verb::post;
const std::string kInfer = R"({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})";

TEST(PathSegmentsTest, SplitsAndIgnoresEmptySegmentsAndQuery) {
  EXPECT_EQ(PathSegments("/v2//models/m/?x=1/2"), (std::vector<std::string>{"v2", "models", "m"}));
  EXPECT_EQ(PathSegments("/"), std::vector<std::string>{});
  EXPECT_EQ(PathSegments(""), std::vector<std::string>{});
}

// The routing table alone (RestRouter::Handle dispatches on it).
TEST(ClassifyRestRouteTest, RoutesMethodsAndNames) {
  const auto get = http::verb::get;
  const auto post = http::verb::post;
  struct Case {
    const char* target;
    RestRoute route;
    http::verb method;
    const char* model;
    const char* version;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"/v2/health/live", RestRoute::kHealthLive, get, "", ""},
           {"//v2/health/ready/?x=1", RestRoute::kHealthReady, get, "", ""},
           {"/v2", RestRoute::kServerMetadata, get, "", ""},
           {"/metrics", RestRoute::kMetrics, get, "", ""},
           {"/v1/recommendations", RestRoute::kRecommend, post, "", ""},
           {"/v2/repository/index", RestRoute::kRepositoryIndex, post, "", ""},
           {"/v2/repository/models/m/unload", RestRoute::kModelControl, post, "m", ""},
           {"/v2/models/stats", RestRoute::kAllModelStatistics, get, "", ""},
           {"/v2/models/m", RestRoute::kModelMetadata, get, "m", ""},
           {"/v2/models/m/versions/3", RestRoute::kModelMetadata, get, "m", "3"},
           {"/v2/models/m/versions/3/infer", RestRoute::kModelInfer, post, "m", "3"},
           {"/v2/models/m/ready", RestRoute::kModelReady, get, "m", ""},
           {"/v2/models/m/config", RestRoute::kModelConfig, get, "m", ""},
           {"/v2/models/m/versions/2/stats", RestRoute::kModelStatistics, get, "m", "2"},
           {"/v2/models/m/versions", RestRoute::kNotFound, http::verb::unknown, "", ""},
           {"/v2/models/m/explain", RestRoute::kNotFound, http::verb::unknown, "", ""},
           {"/v2/models/m/ready/x", RestRoute::kNotFound, http::verb::unknown, "", ""},
           {"/v2/models/m/rollout", RestRoute::kRolloutStatus, get, "m", ""},
           {"/v2/models/m/rollout/start", RestRoute::kRolloutStart, post, "m", ""},
           {"/v2/models/m/rollout/abort", RestRoute::kRolloutAbort, post, "m", ""},
           {"/v2/models/m/rollout/other", RestRoute::kNotFound, http::verb::unknown, "", ""},
           {"/v3", RestRoute::kNotFound, http::verb::unknown, "", ""},
           {"", RestRoute::kNotFound, http::verb::unknown, "", ""},
       }) {
    const RestRouteMatch match = ClassifyRestRoute(c.target);
    EXPECT_EQ(match.route, c.route) << c.target;
    EXPECT_EQ(match.method, c.method) << c.target;
    EXPECT_EQ(match.model, c.model) << c.target;
    EXPECT_EQ(match.version, c.version) << c.target;
  }
  EXPECT_TRUE(ClassifyRestRoute("/v2/repository/models/m/load").load);
  EXPECT_FALSE(ClassifyRestRoute("/v2/repository/models/m/unload").load);
}

TEST_F(RestRouterTest, HealthAndServerMetadata) {
  EXPECT_EQ(Call(kGet, "/v2/health/live").body(), R"({"live":true})");
  HttpResponse not_ready = Call(kGet, "/v2/health/ready");
  EXPECT_EQ(not_ready.result_int(), 503u);  // not until the server says so, and "broken" failed
  EXPECT_EQ(not_ready.body(), R"({"ready":false})");
  HttpResponse metadata = Call(kGet, "/v2");
  EXPECT_NE(metadata.body().find(R"("name":"protoserve")"), std::string::npos);
  EXPECT_NE(metadata.body().find("binary_tensor_data"), std::string::npos);
}

TEST_F(RestRouterTest, UnknownRoutesAndWrongMethods) {
  HttpResponse missing = Call(kGet, "/v3/health");
  EXPECT_EQ(missing.result_int(), 404u);
  EXPECT_EQ(Error(missing), "no route for GET /v3/health");
  EXPECT_EQ(Call(kGet, "/v2/models/double/versions/1/extra/more").result_int(), 404u);
  EXPECT_EQ(Call(kGet, "/v2/models/double/nonsense").result_int(), 404u);
  HttpResponse wrong = Call(kGet, "/v2/models/double/infer");
  EXPECT_EQ(wrong.result_int(), 405u);
  EXPECT_EQ(wrong[http::field::allow], "POST");
  EXPECT_EQ(Call(kPost, "/v2/health/live").result_int(), 405u);
  EXPECT_EQ(Call(http::verb::delete_, "/metrics").result_int(), 405u);
  EXPECT_EQ(Call(kGet, "/v1/recommendations").result_int(), 405u);
}

TEST_F(RestRouterTest, ModelMetadataReadyConfigStats) {
  HttpResponse metadata = Call(kGet, "/v2/models/double");
  EXPECT_EQ(metadata.body(), R"({"name":"double","versions":["1"],"platform":"fake","inputs":[{"name":"x",)"
                             R"("datatype":"FP32","shape":[-1,3]}],"outputs":[{"name":"y","datatype":"FP32",)"
                             R"("shape":[-1,3]}]})");
  EXPECT_EQ(Call(kGet, "/v2/models/double/versions/1").result_int(), 200u);
  EXPECT_EQ(Call(kGet, "/v2/models/double/versions/2").result_int(), 404u);
  EXPECT_EQ(Call(kGet, "/v2/models/double/versions/x").result_int(), 400u);
  EXPECT_EQ(Call(kGet, "/v2/models/nope").result_int(), 404u);
  EXPECT_EQ(Call(kGet, "/v2/models/..").result_int(), 400u);

  EXPECT_EQ(Call(kGet, "/v2/models/double/ready").body(), R"({"name":"double","ready":true})");
  HttpResponse broken = Call(kGet, "/v2/models/broken/versions/1/ready");
  EXPECT_EQ(broken.result_int(), 503u);
  EXPECT_EQ(broken.body(), R"({"name":"broken","ready":false})");
  EXPECT_EQ(Call(kGet, "/v2/models/double/versions/9/ready").result_int(), 503u);
  EXPECT_EQ(Call(kGet, "/v2/models/nope/ready").result_int(), 404u);

  HttpResponse config = Call(kGet, "/v2/models/double/config");
  EXPECT_NE(config.body().find(R"("max_batch_size":4)"), std::string::npos) << config.body();
  EXPECT_EQ(Call(kGet, "/v2/models/broken/config").result_int(), 200u);  // known config, no ready version

  EXPECT_EQ(Call(kGet, "/v2/models/double/stats").result_int(), 200u);
  EXPECT_EQ(Call(kGet, "/v2/models/broken/stats").result_int(), 503u);
  HttpResponse all = Call(kGet, "/v2/models/stats");
  EXPECT_NE(all.body().find(R"("model_stats":[{"name":"double")"), std::string::npos) << all.body();
}

TEST_F(RestRouterTest, RepositoryIndex) {
  HttpResponse index = Call(kPost, "/v2/repository/index");
  rapidjson::Document d;
  ASSERT_TRUE(json::Parse(index.body(), &d).ok() && d.IsArray() && d.Size() == 2) << index.body();
  EXPECT_STREQ(d[0]["name"].GetString(), "broken");
  EXPECT_STREQ(d[0]["state"].GetString(), "FAILED");
  EXPECT_NE(std::string(d[0]["reason"].GetString()).find("missing"), std::string::npos);
  EXPECT_STREQ(d[1]["state"].GetString(), "READY");
  EXPECT_EQ(Call(kPost, "/v2/repository/index", R"({"ready": true})").body(),
            R"([{"name":"double","version":"1","state":"READY","reason":""}])");
  EXPECT_EQ(Call(kPost, "/v2/repository/index", "{").result_int(), 400u);
  EXPECT_EQ(Call(kPost, "/v2/repository/models/double/load").result_int(), 503u);
}

TEST_F(RestRouterTest, ModelControlOnlyInExplicitMode) {
  HttpResponse refused = Call(kPost, "/v2/repository/models/double/unload");
  EXPECT_EQ(refused.result_int(), 503u);
  EXPECT_NE(Error(refused).find("--model-control-mode=explicit"), std::string::npos);
  MakeFrontEnd(/*explicit_control=*/true);
  EXPECT_EQ(Call(kPost, "/v2/repository/models/double/unload").result_int(), 200u);
  EXPECT_EQ(Call(kPost, "/v2/models/double/infer", kInfer).result_int(), 503u);  // known, not loaded
  EXPECT_EQ(Call(kPost, "/v2/repository/models/double/load", R"({"parameters": {"config": "{}"}})").result_int(), 400u);
  EXPECT_EQ(Call(kPost, "/v2/repository/models/double/load", R"({"parameters": {}})").result_int(), 200u);
  EXPECT_EQ(Call(kGet, "/v2/models/double/ready").result_int(), 200u);
  EXPECT_EQ(Call(kPost, "/v2/repository/models/.hidden/load").result_int(), 400u);
  EXPECT_EQ(Call(kGet, "/v2/repository/models/double/load").result_int(), 405u);
}

// The load/unload task drops the connection's responder once it has
// answered; kept until ~KServeRest, it held the connection through the
// shutdown grace period and outlived the io_context (UBSan, test-asan).
TEST_F(RestRouterTest, ModelControlReleasesTheResponderWhenDone) {
  MakeFrontEnd(/*explicit_control=*/true);
  auto connection = std::make_shared<int>(0);  // stands for what a Responder keeps alive (the HTTP session)
  std::weak_ptr<int> watch = connection;
  auto promise = std::make_shared<std::promise<HttpResponse>>();
  auto answered = promise->get_future();
  HttpRequest request(kPost, "/v2/repository/models/double/unload", 11);
  router_->Handle(std::move(request), Responder(io_.get_executor(), [promise, connection](HttpResponse response) {
                    promise->set_value(std::move(response));
                  }));
  connection.reset();
  ASSERT_EQ(answered.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(answered.get().result_int(), 200u);
  for (int i = 0; i < 500 && !watch.expired(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(watch.expired()) << "the finished task still holds the responder";
}

TEST_F(RestRouterTest, InferJson) {
  HttpResponse response = Call(kPost, "/v2/models/double/infer", R"({"id": "7", "inputs": [{"name": "x",
      "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [0.5, -1, 0]]}]})");
  EXPECT_EQ(response.result_int(), 200u) << response.body();
  EXPECT_EQ(response[http::field::content_type], "application/json");
  EXPECT_EQ(response.body(), R"({"model_name":"double","model_version":"1","id":"7","outputs":[{"name":"y",)"
                             R"("datatype":"FP32","shape":[2,3],"data":[2,4,6,1,-2,0]}]})");
  EXPECT_EQ(Call(kPost, "/v2/models/double/versions/1/infer", kInfer).result_int(), 200u);
}

TEST_F(RestRouterTest, InferClassificationAndBinaryOutput) {
  HttpResponse top = Call(kPost, "/v2/models/double/infer", R"({"inputs": [{"name": "x", "shape": [1, 3],
      "datatype": "FP32", "data": [1, 3, 2]}], "outputs": [{"name": "y", "parameters": {"classification": 2}}]})");
  EXPECT_EQ(top.body(), R"({"model_name":"double","model_version":"1","outputs":[{"name":"y","datatype":"BYTES",)"
                        R"("shape":[1,2],"data":["6.000000:1:b","4.000000:2:c"]}]})");

  const std::string header = R"({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32",
      "parameters": {"binary_data_size": 12}}], "parameters": {"binary_data_output": true}})";
  const float x[3] = {1, 2, 3};
  HttpResponse binary = Call(kPost, "/v2/models/double/infer",
                             header + std::string(reinterpret_cast<const char*>(x), 12), std::to_string(header.size()));
  ASSERT_EQ(binary.result_int(), 200u) << binary.body();
  EXPECT_EQ(binary[http::field::content_type], "application/octet-stream");
  const size_t json_size = std::stoul(std::string(binary[kInferenceHeaderContentLength]));
  EXPECT_NE(binary.body().substr(0, json_size).find(R"("parameters":{"binary_data_size":12})"), std::string::npos);
  float y[3];
  ASSERT_EQ(binary.body().size(), json_size + 12);
  std::memcpy(y, binary.body().data() + json_size, 12);
  EXPECT_EQ(y[2], 6.f);
}

TEST_F(RestRouterTest, InferErrorsUseTheCoreMessages) {
  auto error = [&](const std::string& target, const std::string& body, unsigned status, const std::string& text,
                   const std::string& json_size = "") {
    HttpResponse r = Call(kPost, target, body, json_size);
    EXPECT_EQ(r.result_int(), status) << r.body();
    EXPECT_NE(Error(r).find(text), std::string::npos) << r.body();
  };
  error("/v2/models/double/infer", "{", 400, "malformed JSON at offset 1");
  auto one_input = [](const std::string& name, const std::string& shape, const std::string& dtype,
                      const std::string& data) {
    return R"({"inputs": [{"name": ")" + name + R"(", "shape": )" + shape + R"(, "datatype": ")" + dtype +
           R"(", "data": )" + data + "}]}";
  };
  error("/v2/models/double/infer", one_input("x", "[1, 2]", "FP32", "[1, 2]"), 400,
        "input 'x': shape [1,2] does not match [-1,3]");
  error("/v2/models/double/infer", one_input("x", "[1, 3]", "FP64", "[1, 2, 3]"), 400,
        "datatype FP64 does not match the model's FP32");
  error("/v2/models/double/infer", one_input("z", "[1, 3]", "FP32", "[1, 2, 3]"), 400, "unknown input 'z'");
  error("/v2/models/double/infer", R"({"inputs": [{"name": "x", "shape": [9, 3], "datatype": "FP32",
        "data": [1,2,3,1,2,3,1,2,3,1,2,3,1,2,3,1,2,3,1,2,3,1,2,3,1,2,3]}]})", 400, "batch size 9 is outside [1, 4]");
  error("/v2/models/double/infer", kInfer.substr(0, kInfer.size() - 1) + R"(, "outputs": [{"name": "q"}]})", 400,
        "unknown output 'q'");
  error("/v2/models/nope/infer", kInfer, 404, "model 'nope' is not in the repository");
  error("/v2/models/double/versions/3/infer", kInfer, 404, "has no version 3");
  error("/v2/models/double/versions/0/infer", kInfer, 400, "model_version '0' is not a positive integer");
  error("/v2/models/broken/infer", kInfer, 503, "has no ready version");
  error("/v2/models/double/infer", kInfer, 400, "is not a byte count", "12x");
}

TEST_F(RestRouterTest, FullQueueIsTooManyRequests) {
  gate_.Close();
  // Its own thread: an idle model may execute a request on the caller's thread.
  auto running = std::async(std::launch::async, [this] { return Call(kPost, "/v2/models/double/infer", kInfer); });
  gate_.AwaitEntered(1);                                            // executing: the queue is empty
  auto queued = Start(kPost, "/v2/models/double/infer", kInfer);  // fills the queue (size 1)
  HttpResponse refused = Call(kPost, "/v2/models/double/infer", kInfer);
  EXPECT_EQ(refused.result_int(), 429u) << refused.body();
  EXPECT_EQ(Error(refused), "request queue is full (max_queue_size=1)");
  gate_.Open();
  EXPECT_EQ(running.get().result_int(), 200u);
  EXPECT_EQ(queued.get().result_int(), 200u);
}

TEST_F(RestRouterTest, ExpiredTimeoutIsGatewayTimeout) {
  gate_.Close();
  auto running = std::async(std::launch::async, [this] { return Call(kPost, "/v2/models/double/infer", kInfer); });
  gate_.AwaitEntered(1);
  // Queued behind the running request with a 1 ms timeout, which passes before the model is free.
  const std::string with_timeout = kInfer.substr(0, kInfer.size() - 1) + R"(, "parameters": {"timeout": 1000}})";
  auto late = Start(kPost, "/v2/models/double/infer", with_timeout);  // queued (and its deadline set) on return
  // Until its deadline has passed on the core's clock: then it must expire, however the threads are scheduled.
  const Clock::time_point expired_after = Clock::now() + std::chrono::milliseconds(1);
  while (Clock::now() <= expired_after) std::this_thread::yield();
  gate_.Open();
  HttpResponse expired = late.get();
  EXPECT_EQ(expired.result_int(), 504u) << expired.body();
  EXPECT_NE(Error(expired).find("deadline exceeded"), std::string::npos);
  EXPECT_EQ(running.get().result_int(), 200u);
}

TEST_F(RestRouterTest, MetricsCountHttpRequests) {
  Call(kPost, "/v2/models/double/infer", kInfer);
  HttpResponse metrics = Call(kGet, "/metrics");
  EXPECT_EQ(metrics[http::field::content_type], "text/plain; version=0.0.4");
  EXPECT_NE(metrics.body().find(R"(protoserve_requests_total{api="http",code="OK",model="double",version="1"} 1)"),
            std::string::npos);
  EXPECT_NE(metrics.body().find(R"(protoserve_inflight_requests{api="http"} 0)"), std::string::npos);
}

TEST_F(RestRouterTest, RecommendationsGoThroughTheRecommenderContract) {
  // "double" declares no Recommender contract: refused (FAILED_PRECONDITION) as 400, before its body is read.
  HttpResponse r = Call(kPost, "/v1/recommendations", R"({"user_id": "u", "features": [1, 2, 3]})");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(Error(r), "model 'double' does not serve /Recommender/GetRecommendations (it declares no typed API)");
  // No ready model declares the contract, so none says which request field names the model: the
  // default model answers (the e2e tests cover model_name with the demo recommender).
  EXPECT_EQ(Call(kPost, "/v1/recommendations", R"({"user_id": "u", "model_name": "nope"})").result_int(), 400u);
  EXPECT_EQ(Call(kPost, "/v1/recommendations", R"({"user_id": 1})").result_int(), 400u);
}

}  // namespace
}  // namespace protoserve
