// CqEngine on a real gRPC server over loopback: replies from other threads,
// blocking handlers off the queue's thread, stream order, server streams and
// the fallback. The methods borrow the health and reflection messages (and
// their generated client stubs); nothing here waits on a clock.
#include "grpc/cq_engine.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "health.grpc.pb.h"
#include "reflection.grpc.pb.h"

namespace protoserve {
namespace {

namespace health = grpc::health::v1;
namespace rv = grpc::reflection::v1alpha;
using CheckCall = UnaryCall<health::HealthCheckRequest, health::HealthCheckResponse>;
using WatchCall = ServerStreamCall<health::HealthCheckRequest, health::HealthCheckResponse>;

class CqEngineTest : public ::testing::Test {
 protected:
  void Start() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    engine_.AddTo(&builder);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ && port_ > 0);
    engine_.Start();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    engine_.Stop();
    for (auto& thread : threads_) thread.join();
  }
  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return context;
  }
  grpc::Status Check(const std::string& service, health::HealthCheckResponse* response) {
    health::HealthCheckRequest request;
    request.set_service(service);
    return health::Health::NewStub(channel_)->Check(Context().get(), request, response);
  }

  CqEngine engine_{1};
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

TEST_F(CqEngineTest, AUnaryCallIsAnsweredFromAnotherThread) {
  engine_.AddUnary<health::HealthCheckRequest, health::HealthCheckResponse>(
      "/grpc.health.v1.Health/Check", [this](CheckCall* call) {
        threads_.emplace_back([call] {
          call->response()->set_status(call->request().service() == "up" ? health::HealthCheckResponse::SERVING
                                                                          : health::HealthCheckResponse::NOT_SERVING);
          call->Finish(call->request().service().empty() ? grpc::Status(grpc::StatusCode::NOT_FOUND, "none")
                                                         : grpc::Status::OK);
        });
      });
  Start();
  health::HealthCheckResponse response;
  ASSERT_TRUE(Check("up", &response).ok());
  EXPECT_EQ(response.status(), health::HealthCheckResponse::SERVING);
  grpc::Status failed = Check("", &response);
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(failed.error_message(), "none");
}

TEST_F(CqEngineTest, ABlockingHandlerLeavesTheQueueThreadFree) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::mutex mu;
  std::thread::id quick_thread, blocking_thread;
  // Check blocks until released; Watch answers at once (one message, then OK).
  engine_.AddUnary<health::HealthCheckRequest, health::HealthCheckResponse>(
      "/grpc.health.v1.Health/Check",
      [&](CheckCall* call) {
        {
          std::lock_guard lock(mu);
          blocking_thread = std::this_thread::get_id();
        }
        released.wait();
        call->Finish(grpc::Status::OK);
      },
      {.slots = 1, .blocking = true});
  engine_.AddServerStream<health::HealthCheckRequest, health::HealthCheckResponse>(
      "/grpc.health.v1.Health/Watch", [&](WatchCall* call) {
        {
          std::lock_guard lock(mu);
          quick_thread = std::this_thread::get_id();
        }
        call->set_on_done([] {});
        health::HealthCheckResponse response;
        response.set_status(health::HealthCheckResponse::SERVING);
        call->Write(response);
        call->Finish(grpc::Status::OK);
      });
  Start();
  auto blocked = std::async(std::launch::async, [this] {
    health::HealthCheckResponse response;
    return Check("x", &response).ok();
  });
  // While Check waits, the queue's thread still answers Watch.
  auto context = Context();
  auto reader = health::Health::NewStub(channel_)->Watch(context.get(), health::HealthCheckRequest());
  health::HealthCheckResponse message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(message.status(), health::HealthCheckResponse::SERVING);
  EXPECT_FALSE(reader->Read(&message));
  EXPECT_TRUE(reader->Finish().ok());
  release.set_value();
  EXPECT_TRUE(blocked.get());
  std::lock_guard lock(mu);
  EXPECT_NE(quick_thread, blocking_thread);
}

TEST_F(CqEngineTest, AStreamAnswersInRequestOrderWhateverOrderTheAnswersComeIn) {
  constexpr int kMessages = 5;
  std::mutex mu;
  std::vector<std::pair<std::string, std::function<void(rv::ServerReflectionResponse)>>> held;
  engine_.AddBidiStream<rv::ServerReflectionRequest, rv::ServerReflectionResponse>(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      [&](grpc::ServerContext*, std::unique_ptr<rv::ServerReflectionRequest> request,
          std::function<void(rv::ServerReflectionResponse)> done) {
        std::vector<std::pair<std::string, std::function<void(rv::ServerReflectionResponse)>>> answer;
        {
          std::lock_guard lock(mu);
          held.emplace_back(request->host(), std::move(done));
          if (held.size() == kMessages) answer.swap(held);
        }
        // The last one in answers all of them, newest first, on another thread.
        if (!answer.empty()) {
          threads_.emplace_back([answer = std::move(answer)] {
            for (auto it = answer.rbegin(); it != answer.rend(); ++it) {
              rv::ServerReflectionResponse response;
              response.set_valid_host(it->first);
              it->second(std::move(response));
            }
          });
        }
      });
  Start();
  auto context = Context();
  auto stream = rv::ServerReflection::NewStub(channel_)->ServerReflectionInfo(context.get());
  for (int i = 0; i < kMessages; ++i) {
    rv::ServerReflectionRequest request;
    request.set_host("m" + std::to_string(i));
    ASSERT_TRUE(stream->Write(request));
  }
  ASSERT_TRUE(stream->WritesDone());
  rv::ServerReflectionResponse response;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.valid_host(), "m" + std::to_string(i));
  }
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(CqEngineTest, AServerStreamWritesInOrderAndTellsItsEndOnce) {
  std::promise<void> ended;
  std::atomic<int> ends{0};
  engine_.AddServerStream<health::HealthCheckRequest, health::HealthCheckResponse>(
      "/grpc.health.v1.Health/Watch", [&](WatchCall* call) {
        call->set_on_done([&] {
          if (ends.fetch_add(1) == 0) ended.set_value();
        });
        for (auto status : {health::HealthCheckResponse::NOT_SERVING, health::HealthCheckResponse::SERVING,
                            health::HealthCheckResponse::SERVICE_UNKNOWN}) {
          health::HealthCheckResponse response;
          response.set_status(status);
          call->Write(response);
        }
        call->Finish(grpc::Status(grpc::StatusCode::ABORTED, "enough"));
        call->Write(health::HealthCheckResponse());  // after Finish: ignored
      });
  Start();
  auto context = Context();
  auto reader = health::Health::NewStub(channel_)->Watch(context.get(), health::HealthCheckRequest());
  std::vector<int> statuses;
  health::HealthCheckResponse message;
  while (reader->Read(&message)) statuses.push_back(message.status());
  EXPECT_EQ(statuses, (std::vector<int>{2, 1, 3}));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  ended.get_future().wait();
  EXPECT_EQ(ends.load(), 1);
}

TEST_F(CqEngineTest, EveryOtherMethodReachesTheFallbackWithItsName) {
  engine_.SetFallback([](FallbackCall* call) {
    if (call->method() != "/grpc.health.v1.Health/Check") {
      call->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method " + call->method()));
      return;
    }
    health::HealthCheckResponse response;
    response.set_status(health::HealthCheckResponse::SERVING);
    bool own = false;
    ASSERT_TRUE(grpc::SerializationTraits<health::HealthCheckResponse>::Serialize(response, call->response(), &own)
                    .ok());
    call->Finish(grpc::Status::OK);
  });
  Start();
  health::HealthCheckResponse response;
  ASSERT_TRUE(Check("", &response).ok());
  EXPECT_EQ(response.status(), health::HealthCheckResponse::SERVING);
  auto context = Context();
  auto reader = health::Health::NewStub(channel_)->Watch(context.get(), health::HealthCheckRequest());
  EXPECT_FALSE(reader->Read(&response));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(status.error_message(), "unknown method /grpc.health.v1.Health/Watch");
}

}  // namespace
}  // namespace protoserve
