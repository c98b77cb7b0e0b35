#include "http/http_auth.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace protoserve {
namespace {

namespace http = boost::beast::http;

constexpr char kInferToken[] = "infer-token-0123456789";
constexpr char kManageToken[] = "manage-token-0123456789";

HttpRequest Request(http::verb method, std::string target, std::string content_type = "") {
  HttpRequest request(method, target, 11);
  if (!content_type.empty()) request.set(http::field::content_type, content_type);
  return request;
}

TEST(HttpAuthTest, ClassifiesRoutesLikeTheRouter) {
  using A = GrpcMethodAccess;
  const struct {
    http::verb method;
    const char* target;
    A access;
  } cases[] = {
      {http::verb::get, "/v2/health/live", A::kOpen},
      {http::verb::get, "/v2/health/ready?x=1", A::kOpen},
      {http::verb::options, "/v2/models/m/infer", A::kOpen},
      {http::verb::get, "/", A::kOpen},
      {http::verb::get, "/app.js", A::kOpen},
      {http::verb::get, "/v2", A::kMetadata},
      {http::verb::get, "/metrics", A::kMetadata},
      {http::verb::get, "/v2/models/m", A::kMetadata},
      {http::verb::get, "/v2/models/m/versions/2", A::kMetadata},
      {http::verb::get, "/v2/models/m/ready", A::kMetadata},
      {http::verb::get, "/v2/models/m/versions/2/config", A::kMetadata},
      {http::verb::post, "/v2/repository/index", A::kMetadata},
      {http::verb::post, "/v2/models/m/infer", A::kInfer},
      {http::verb::post, "/v2/models/m/versions/3/infer", A::kInfer},
      {http::verb::post, "/v2//models//m/infer", A::kInfer},
      {http::verb::get, "/v2/models/stats", A::kInfer},
      {http::verb::get, "/v2/models/m/stats", A::kInfer},
      {http::verb::post, "/v1/recommendations", A::kInfer},
      {http::verb::get, "/v2/models/infer/versions/1", A::kMetadata},  // a model called "infer"
      {http::verb::get, "/v2/unknown", A::kInfer},
      {http::verb::post, "/somewhere", A::kInfer},
      {http::verb::post, "/v2/repository/models/m/load", A::kManage},
      {http::verb::post, "/v2/repository/models/m/unload", A::kManage},
      {http::verb::get, "/v2/repository/models/m/load", A::kManage},  // the router answers 405; still manage
      {http::verb::post, "/v2/models/m/rollout/start", A::kManage},
      {http::verb::post, "/v2/models/m/rollout/abort", A::kManage},
      {http::verb::get, "/v2/models/m/rollout/start", A::kManage},  // 405; still manage
      {http::verb::get, "/v2/models/m/rollout", A::kInfer},
      {http::verb::get, "/v2/models/rollout/versions/1", A::kMetadata},  // a model called "rollout"
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ClassifyHttpRequest(Request(c.method, c.target)), c.access) << c.target;
  }
  EXPECT_EQ(ClassifyHttpRequest(Request(http::verb::post, "/Recommender/GetRecommendations", "application/grpc-web+proto")),
            A::kInfer);
  EXPECT_EQ(ClassifyHttpRequest(Request(http::verb::post, "/inference.GRPCInferenceService/ServerLive",
                                        "Application/GRPC-Web-Text")),
            A::kOpen);
  EXPECT_EQ(ClassifyHttpRequest(Request(http::verb::post, "/inference.GRPCInferenceService/RepositoryModelLoad",
                                        "application/grpc-web")),
            A::kManage);
}

TEST(HttpAuthTest, RecognisesLoopbackAddresses) {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) EXPECT_TRUE(IsLoopbackAddress(a)) << a;
  for (const char* a : {"", "10.0.0.1", "::2", "::ffff:10.0.0.1", "1127.0.0.1", "::11"}) {
    EXPECT_FALSE(IsLoopbackAddress(a)) << a;
  }
}

// Records what reaches the next handler.
class NextHandler : public HttpHandler {
 public:
  void Handle(HttpRequest request, Responder responder) override {
    ++calls;
    saw_authorization = request.count(http::field::authorization) > 0;
    responder.Send(HttpResponse(http::status::ok, 11));
  }
  int calls = 0;
  bool saw_authorization = false;
};

class HttpAuthHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/protoserve-http-auth-XXXXXX";
    dir_ = mkdtemp(name);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::shared_ptr<const TokenAuthorizer> Tokens(const std::string& text) {
    std::ofstream(dir_ / "tokens") << text;
    return std::shared_ptr<const TokenAuthorizer>(TokenAuthorizer::Create({dir_ / "tokens"}).value());
  }

  // Runs `request` through a handler with `options`; returns the status sent.
  HttpResponse Run(const HttpAuthOptions& options, HttpRequest request, const std::string& peer = "127.0.0.1") {
    HttpAuthHandler handler(options, &next_);
    HttpResponse sent;
    handler.Handle(std::move(request),
                   Responder(io_.get_executor(), [&sent](HttpResponse response) { sent = std::move(response); }, peer));
    return sent;
  }

  static HttpRequest WithToken(HttpRequest request, const std::string& token) {
    request.set(http::field::authorization, "Bearer " + token);
    return request;
  }

  std::filesystem::path dir_;
  boost::asio::io_context io_;
  NextHandler next_;
};

TEST_F(HttpAuthHandlerTest, TokensAndScopes) {
  HttpAuthOptions options;
  options.authorizer = Tokens(std::string(kInferToken) + " infer\n" + kManageToken + " manage\n");
  const HttpRequest infer = Request(http::verb::post, "/v2/models/m/infer");
  auto missing = Run(options, infer);
  EXPECT_EQ(missing.result_int(), 401);
  EXPECT_NE(std::string(missing[http::field::www_authenticate]).find("Bearer"), std::string::npos);
  EXPECT_EQ(Run(options, WithToken(infer, "no-such-token-000000")).result_int(), 401);
  EXPECT_EQ(Run(options, WithToken(infer, kManageToken)).result_int(), 403);
  EXPECT_EQ(next_.calls, 0);
  EXPECT_EQ(Run(options, WithToken(infer, kInferToken)).result_int(), 200);
  EXPECT_EQ(next_.calls, 1);
  EXPECT_FALSE(next_.saw_authorization);  // stripped before passing on

  EXPECT_EQ(Run(options, Request(http::verb::get, "/v2/health/ready")).result_int(), 200);
  EXPECT_EQ(Run(options, Request(http::verb::get, "/metrics")).result_int(), 401);
  options.open_metadata = true;
  EXPECT_EQ(Run(options, Request(http::verb::get, "/metrics")).result_int(), 200);
  EXPECT_EQ(Run(options, Request(http::verb::post, "/v1/recommendations")).result_int(), 401);

  auto two = WithToken(infer, kInferToken);
  two.insert(http::field::authorization, "Bearer " + std::string(kInferToken));
  EXPECT_EQ(Run(options, two).result_int(), 401);
}

TEST_F(HttpAuthHandlerTest, GrpcWebCallsGetGrpcStatuses) {
  HttpAuthOptions options;
  options.authorizer = Tokens(std::string(kInferToken) + " infer\n");
  auto response = Run(options, Request(http::verb::post, "/Recommender/GetRecommendations", "application/grpc-web+proto"));
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response["grpc-status"], "16");
  EXPECT_EQ(response[http::field::content_type], "application/grpc-web+proto");
  EXPECT_EQ(next_.calls, 0);
}

TEST_F(HttpAuthHandlerTest, ManagementOnlyFromLoopbackWithoutAManageToken) {
  HttpAuthOptions options;
  options.management_loopback_only = true;
  const HttpRequest load = Request(http::verb::post, "/v2/repository/models/m/load");
  EXPECT_EQ(Run(options, load, "10.1.2.3").result_int(), 403);
  EXPECT_EQ(Run(options, load, "").result_int(), 403);  // unknown peer: refused
  EXPECT_EQ(next_.calls, 0);
  EXPECT_EQ(Run(options, load, "::1").result_int(), 200);
  EXPECT_EQ(Run(options, Request(http::verb::post, "/v2/models/m/infer"), "10.1.2.3").result_int(), 200);
  options.authorizer = Tokens(std::string(kManageToken) + " manage\n");
  EXPECT_EQ(Run(options, WithToken(load, kManageToken), "10.1.2.3").result_int(), 200);
}

}  // namespace
}  // namespace protoserve
