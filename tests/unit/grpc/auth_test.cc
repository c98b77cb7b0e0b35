#include "grpc/auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "grpc/inference_service.h"
#include "health.grpc.pb.h"
#include "inference.grpc.pb.h"

namespace protoserve {
namespace {

constexpr char kInferToken[] = "infer-token-0123456789";
constexpr char kManageToken[] = "manage-token-0123456789";

std::filesystem::path TempDir() {
  char name[] = "/tmp/protoserve-auth-XXXXXX";
  return mkdtemp(name);
}

std::shared_ptr<const TokenAuthorizer> Tokens(const std::filesystem::path& dir, const std::string& text) {
  const auto path = dir / "tokens";
  std::ofstream(path) << text;
  auto made = TokenAuthorizer::Create({path, std::chrono::milliseconds(0)});
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return std::shared_ptr<const TokenAuthorizer>(std::move(made).value());
}

TEST(GrpcAuthTest, ClassifiesMethods) {
  EXPECT_EQ(ClassifyGrpcMethod("/grpc.health.v1.Health/Check"), GrpcMethodAccess::kOpen);
  EXPECT_EQ(ClassifyGrpcMethod("/grpc.health.v1.Health/Watch"), GrpcMethodAccess::kOpen);
  EXPECT_EQ(ClassifyGrpcMethod("/inference.GRPCInferenceService/ServerLive"), GrpcMethodAccess::kOpen);
  EXPECT_EQ(ClassifyGrpcMethod("/inference.GRPCInferenceService/ServerReady"), GrpcMethodAccess::kOpen);
  EXPECT_EQ(ClassifyGrpcMethod("/inference.GRPCInferenceService/ModelMetadata"), GrpcMethodAccess::kMetadata);
  EXPECT_EQ(ClassifyGrpcMethod("/inference.GRPCInferenceService/RepositoryIndex"), GrpcMethodAccess::kMetadata);
  EXPECT_EQ(ClassifyGrpcMethod("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            GrpcMethodAccess::kMetadata);
  EXPECT_EQ(ClassifyGrpcMethod("/inference.GRPCInferenceService/ModelInfer"), GrpcMethodAccess::kInfer);
  EXPECT_EQ(ClassifyGrpcMethod("/inference.GRPCInferenceService/ModelStatistics"), GrpcMethodAccess::kInfer);
  EXPECT_EQ(ClassifyGrpcMethod("/Recommender/GetRecommendations"), GrpcMethodAccess::kInfer);
  EXPECT_EQ(ClassifyGrpcMethod("/inference.GRPCInferenceService/RepositoryModelLoad"), GrpcMethodAccess::kManage);
  EXPECT_EQ(ClassifyGrpcMethod("/inference.GRPCInferenceService/RepositoryModelUnload"), GrpcMethodAccess::kManage);
  EXPECT_EQ(ClassifyGrpcMethod("/protoserve.rollout.v1.Rollout/StartRollout"), GrpcMethodAccess::kManage);
  EXPECT_EQ(ClassifyGrpcMethod("/protoserve.rollout.v1.Rollout/AbortRollout"), GrpcMethodAccess::kManage);
  EXPECT_EQ(ClassifyGrpcMethod("/protoserve.rollout.v1.Rollout/GetRollout"), GrpcMethodAccess::kInfer);
  // Unknown methods are not open: deny by default.
  EXPECT_EQ(ClassifyGrpcMethod("/other.Service/Anything"), GrpcMethodAccess::kInfer);
  EXPECT_EQ(ClassifyGrpcMethod(""), GrpcMethodAccess::kInfer);
  EXPECT_EQ(ClassifyGrpcMethod("/inference.GRPCInferenceService/ServerLiveX"), GrpcMethodAccess::kInfer);
}

TEST(GrpcAuthTest, RecognisesLoopbackPeers) {
  for (const char* peer : {"ipv4:127.0.0.1:5000", "ipv4:127.8.9.1:1", "ipv6:[::1]:5000", "ipv6:[::ffff:127.0.0.1]:7",
                           "unix:/tmp/s"}) {
    EXPECT_TRUE(IsLoopbackPeer(peer)) << peer;
  }
  for (const char* peer : {"ipv4:10.0.0.1:5000", "ipv4:128.0.0.1:1", "ipv6:[::2]:1", "ipv6:[::1f]:1",
                           "ipv6:[::ffff:10.0.0.1]:1", "", "127.0.0.1:5"}) {
    EXPECT_FALSE(IsLoopbackPeer(peer)) << peer;
  }
}

TEST(GrpcAuthTest, DecidesPerMethodClass) {
  auto dir = TempDir();
  auto auth = Tokens(dir, std::string(kInferToken) + " infer\n" + kManageToken + " manage\n");
  const std::string infer = std::string("Bearer ") + kInferToken, manage = std::string("Bearer ") + kManageToken;
  EXPECT_TRUE(AuthorizeGrpcCall(*auth, false, "/grpc.health.v1.Health/Check", "").ok());
  EXPECT_EQ(AuthorizeGrpcCall(*auth, false, "/inference.GRPCInferenceService/ModelMetadata", "").code(),
            StatusCode::kUnauthenticated);
  EXPECT_TRUE(AuthorizeGrpcCall(*auth, true, "/inference.GRPCInferenceService/ModelMetadata", "").ok());
  EXPECT_EQ(AuthorizeGrpcCall(*auth, true, "/inference.GRPCInferenceService/ModelInfer", "").code(),
            StatusCode::kUnauthenticated);
  EXPECT_TRUE(AuthorizeGrpcCall(*auth, false, "/Recommender/GetRecommendations", infer).ok());
  EXPECT_EQ(AuthorizeGrpcCall(*auth, false, "/Recommender/GetRecommendations", manage).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(AuthorizeGrpcCall(*auth, false, "/inference.GRPCInferenceService/RepositoryModelLoad", infer).code(),
            StatusCode::kPermissionDenied);
  EXPECT_TRUE(AuthorizeGrpcCall(*auth, false, "/inference.GRPCInferenceService/RepositoryModelLoad", manage).ok());

  // No manage token configured: any valid token may manage (the loopback
  // rule then applies), an invalid one still may not.
  auto infer_only = Tokens(dir, std::string(kInferToken) + " infer\n");
  EXPECT_TRUE(AuthorizeGrpcCall(*infer_only, false, "/inference.GRPCInferenceService/RepositoryModelLoad", infer).ok());
  EXPECT_EQ(AuthorizeGrpcCall(*infer_only, false, "/inference.GRPCInferenceService/RepositoryModelLoad", "").code(),
            StatusCode::kUnauthenticated);
  std::filesystem::remove_all(dir);
}

TEST(GrpcAuthTest, RejectsBadTlsOptions) {
  GrpcSecurityOptions options;
  options.tls_cert_file = "/nonexistent.pem";
  EXPECT_EQ(MakeGrpcServerCredentials(options).status().code(), StatusCode::kInvalidArgument);  // no key
  options.tls_key_file = "/nonexistent.key";
  EXPECT_EQ(MakeGrpcServerCredentials(options).status().code(), StatusCode::kInvalidArgument);  // unreadable
  GrpcSecurityOptions ca_only;
  ca_only.tls_client_ca_file = "/etc/hostname";
  EXPECT_EQ(MakeGrpcServerCredentials(ca_only).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(MakeGrpcServerCredentials(GrpcSecurityOptions()).ok());
}

// A real in-process server: the KServe service over an explicit-mode
// repository holding one model that no backend can load (so an attempted
// load shows up as FAILED in the index), health, and the security options.
class AuthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    std::filesystem::create_directories(dir_ / "repo" / "m" / "1");
    std::ofstream(dir_ / "repo" / "m" / "config.pbtxt")
        << "platform: \"none\"\ninput { name: \"x\" data_type: TYPE_FP32 dims: [1] }\n"
           "output { name: \"y\" data_type: TYPE_FP32 dims: [1] }\n";
    repository_ = std::make_unique<ModelRepository>(dir_ / "repo", &backends_, nullptr);
    ServerOptions options;
    options.explicit_control = true;
    server_core_ = std::make_unique<InferenceServer>(repository_.get(), nullptr, options);
    service_ = std::make_unique<InferenceService>(server_core_.get());
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(0));
    repository_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  void Start(GrpcSecurityOptions security, std::function<bool(std::string_view)> trusted_peer = IsLoopbackPeer) {
    GrpcServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.security = std::move(security);
    options.security.trusted_peer = std::move(trusted_peer);
    server_ = std::make_unique<GrpcServer>(options, std::vector<GrpcService*>{service_.get()});
    Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    auto channel =
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    stub_ = inference::GRPCInferenceService::NewStub(channel);
    health_ = grpc::health::v1::Health::NewStub(channel);
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return context;
  }

  grpc::StatusCode Load(const std::string& token) {
    inference::RepositoryModelLoadRequest request;
    request.set_model_name("m");
    inference::RepositoryModelLoadResponse response;
    return stub_->RepositoryModelLoad(Context(token).get(), request, &response).error_code();
  }

  grpc::StatusCode Index(const std::string& token) {
    inference::RepositoryIndexRequest request;
    inference::RepositoryIndexResponse response;
    return stub_->RepositoryIndex(Context(token).get(), request, &response).error_code();
  }

  bool LoadWasAttempted() const { return !repository_->Index().empty(); }

  std::filesystem::path dir_;
  BackendRegistry backends_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<InferenceServer> server_core_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(AuthServerTest, TokensAreCheckedBeforeAnyHandlerOnAPlaintextPort) {
  GrpcSecurityOptions security;
  security.authorizer = Tokens(dir_, std::string(kInferToken) + " infer\n" + kManageToken + " manage\n");
  Start(security);

  grpc::health::v1::HealthCheckRequest check;
  grpc::health::v1::HealthCheckResponse health;
  EXPECT_TRUE(health_->Check(Context("").get(), check, &health).ok());
  inference::ServerLiveRequest live;
  inference::ServerLiveResponse live_response;
  EXPECT_TRUE(stub_->ServerLive(Context("").get(), live, &live_response).ok());

  EXPECT_EQ(Index(""), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Index("not-a-valid-token-at-all"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Index(kInferToken), grpc::StatusCode::OK);

  EXPECT_EQ(Load(""), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Load(kInferToken), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(LoadWasAttempted());
  const grpc::StatusCode with_manage = Load(kManageToken);
  EXPECT_NE(with_manage, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(with_manage, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(LoadWasAttempted());
}

TEST_F(AuthServerTest, ManagementFromANonLoopbackPeerIsRefusedWithoutReachingTheRepository) {
  GrpcSecurityOptions security;
  security.management_loopback_only = true;
  Start(security, [](std::string_view) { return false; });
  EXPECT_EQ(Load(""), grpc::StatusCode::PERMISSION_DENIED);
  inference::RepositoryModelUnloadRequest unload;
  unload.set_model_name("m");
  inference::RepositoryModelUnloadResponse unloaded;
  EXPECT_EQ(stub_->RepositoryModelUnload(Context("").get(), unload, &unloaded).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(LoadWasAttempted());
  EXPECT_EQ(Index(""), grpc::StatusCode::OK);  // other methods are untouched
}

TEST_F(AuthServerTest, ManagementFromALoopbackPeerReachesTheRepository) {
  GrpcSecurityOptions security;
  security.management_loopback_only = true;
  Start(security);
  EXPECT_NE(Load(""), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(LoadWasAttempted());
}

TEST_F(AuthServerTest, AManageTokenLiftsTheLoopbackRule) {
  GrpcSecurityOptions security;
  security.authorizer = Tokens(dir_, std::string(kManageToken) + " manage\n");
  security.management_loopback_only = true;
  Start(security, [](std::string_view) { return false; });
  EXPECT_EQ(Load(""), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(Load(kManageToken), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(LoadWasAttempted());
}

}  // namespace
}  // namespace protoserve
