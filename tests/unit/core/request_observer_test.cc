// Request observers: the events a model version tells them, in order, for a
// served, an invalid, a refused (full queue) and a failed request; and the two
// observers the server keeps, statistics and Prometheus metrics, over them.
#include "core/request_observer.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <vector>

#include "core/infer_statistics.h"
#include "core/metrics.h"
#include "core/model_repository.h"
#include "support/fake_backend.h"

namespace protoserve {
namespace {

using testing::DoublingConfig;
using testing::FakeBackend;
using testing::Gate;
using testing::TempRepository;

// Records every event as a short string.
class Recorder : public RequestObserver {
 public:
  void OnReceived(Api api) override { Add(std::string("received ") + ApiName(api)); }
  void OnQueued(Api api) override { Add(std::string("queued ") + ApiName(api)); }
  void OnExecuted(int64_t rows, Clock::duration) override { Add("executed " + std::to_string(rows)); }
  void OnCompleted(Api api, Clock::duration, const BatchTiming& timing, int64_t rows) override {
    Add(std::string("completed ") + ApiName(api) + " rows=" + std::to_string(rows) +
        " batch=" + std::to_string(timing.batch_rows));
  }
  void OnFailed(Api api, StatusCode code, Clock::duration) override {
    Add(std::string("failed ") + ApiName(api) + " " + StatusCodeName(code));
  }
  void OnResponded(Clock::duration) override { Add("responded"); }
  std::vector<std::string> Take() {
    std::lock_guard lock(mu_);
    return std::exchange(events_, {});
  }

 private:
  void Add(std::string event) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
  }
  std::mutex mu_;
  std::vector<std::string> events_;
};

InferenceRequest Rows(int rows, Api api = Api::kGrpc) {
  std::vector<float> x(static_cast<size_t>(rows) * 3, 1.0f);
  InferenceRequest request;
  request.api = api;
  request.inputs.push_back({"x", Tensor::FromString(DataType::kFp32, {rows, 3},
                                                    std::string(reinterpret_cast<const char*>(x.data()),
                                                                x.size() * sizeof(float)))});
  return request;
}

class RequestObserverTest : public ::testing::Test {
 protected:
  void Load(const std::string& config) {
    backends_.Register("fake", std::make_shared<FakeBackend>(&gate_));
    disk_.AddModel("m", config);
    repository_ = std::make_unique<ModelRepository>(disk_.root(), &backends_, &metrics_);
    repository_->AddObserverFactory([this](const std::string& model, int64_t version) {
      EXPECT_EQ(model, "m");
      EXPECT_EQ(version, 1);
      return recorder_;
    });
    ASSERT_TRUE(repository_->LoadAll().ok());
    version_ = repository_->Get("m").value();
    recorder_->Take();  // warm-up executions
  }

  // Starts `request`; the future holds its final status.
  std::future<Status> Start(InferenceRequest request, Status* accepted) {
    auto promise = std::make_shared<std::promise<Status>>();
    auto future = promise->get_future();
    *accepted = version_->Infer(std::move(request), [promise](Status s, InferenceResponse) { promise->set_value(s); });
    if (!accepted->ok()) promise->set_value(*accepted);
    return future;
  }

  Gate gate_;
  TempRepository disk_{"observer"};
  BackendRegistry backends_;
  Metrics metrics_;
  std::shared_ptr<Recorder> recorder_ = std::make_shared<Recorder>();
  std::unique_ptr<ModelRepository> repository_;
  std::shared_ptr<ModelVersion> version_;
};

TEST_F(RequestObserverTest, ServedRequestIsReceivedQueuedExecutedCompletedResponded) {
  Load(DoublingConfig());
  Status accepted;
  EXPECT_TRUE(Start(Rows(2, Api::kHttp), &accepted).get().ok());
  EXPECT_EQ(recorder_->Take(), (std::vector<std::string>{"received http", "queued http", "executed 2",
                                                         "completed http rows=2 batch=2", "responded"}));
}

TEST_F(RequestObserverTest, InvalidRequestFailsWithoutBeingQueued) {
  Load(DoublingConfig());
  InferenceRequest request = Rows(1);
  request.inputs[0].name = "nope";
  Status accepted;
  EXPECT_EQ(Start(std::move(request), &accepted).get().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(recorder_->Take(), (std::vector<std::string>{"received grpc", "failed grpc INVALID_ARGUMENT"}));
}

TEST_F(RequestObserverTest, FullQueueRefusalIsQueuedThenFailed) {
  Load(DoublingConfig("instance_group [ { count: 1 kind: KIND_CPU } ]\n"
                      "dynamic_batching { default_queue_policy { max_queue_size: 1 } }\n"));
  gate_.Close();
  // A full batch executes at once (inline, on the calling thread: so from
  // another thread), held by the gate.
  auto executing = std::async(std::launch::async, [this] {
    Status accepted;
    return Start(Rows(4), &accepted).get();
  });
  struct Reopen {
    Gate& gate;
    ~Reopen() { gate.Open(); }  // before `executing` waits, even when an assertion fails
  } reopen{gate_};
  ASSERT_TRUE(gate_.AwaitEntered(1));
  Status accepted;
  auto waiting = Start(Rows(4), &accepted);  // waits in the queue (size 1)
  ASSERT_TRUE(accepted.ok());
  recorder_->Take();
  auto refused = Start(Rows(4), &accepted);
  EXPECT_EQ(accepted.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(recorder_->Take(),
            (std::vector<std::string>{"received grpc", "queued grpc", "failed grpc RESOURCE_EXHAUSTED"}));
  gate_.Open();
  EXPECT_TRUE(executing.get().ok());
  EXPECT_TRUE(waiting.get().ok());
}

TEST_F(RequestObserverTest, StatisticsAndMetricsCountWhatTheEventsSay) {
  Load(DoublingConfig());
  Status accepted;
  ASSERT_TRUE(Start(Rows(3), &accepted).get().ok());
  ASSERT_TRUE(Start(Rows(1, Api::kHttp), &accepted).get().ok());
  InferenceRequest bad = Rows(1);
  bad.inputs[0].name = "nope";
  EXPECT_FALSE(Start(std::move(bad), &accepted).get().ok());

  const InferStats& stats = version_->stats();
  EXPECT_EQ(stats.success_count.load(), 2u);
  EXPECT_EQ(stats.fail_count.load(), 1u);
  EXPECT_EQ(stats.inference_count.load(), 4u);  // rows
  EXPECT_GT(stats.success_ns.load(), 0u);
  EXPECT_GT(stats.last_inference_ms.load(), 0u);
  {
    MutexLock lock(stats.batch_mu);
    EXPECT_EQ(stats.by_batch_size.at(3).count, 1u);
    EXPECT_EQ(stats.by_batch_size.at(1).count, 1u);  // warm-up runs before READY, unobserved
  }

  const std::string text = metrics_.Serialize();
  auto has = [&](const std::string& line) { return text.find(line) != std::string::npos; };
  EXPECT_TRUE(has(R"(protoserve_requests_total{api="grpc",code="OK",model="m",version="1"} 1)")) << text;
  EXPECT_TRUE(has(R"(protoserve_requests_total{api="http",code="OK",model="m",version="1"} 1)"));
  EXPECT_TRUE(has(R"(protoserve_requests_total{api="grpc",code="INVALID_ARGUMENT",model="m",version="1"} 1)"));
  EXPECT_TRUE(has(R"(protoserve_batch_size_sum{model="m",version="1"} 4)"));
  EXPECT_TRUE(has(R"(protoserve_queue_duration_seconds_count{model="m",version="1"} 2)"));
}

TEST(InferStatisticsTest, FailuresCountTheirTimeAndSuccessesTheirParts) {
  InferStatistics statistics;
  BatchTiming timing;
  timing.queue = std::chrono::microseconds(5);
  timing.compute = std::chrono::microseconds(7);
  statistics.OnCompleted(Api::kGrpc, std::chrono::microseconds(20), timing, 8);
  statistics.OnResponded(std::chrono::microseconds(3));
  statistics.OnFailed(Api::kHttp, StatusCode::kInternal, std::chrono::microseconds(11));
  statistics.OnExecuted(8, std::chrono::microseconds(7));
  const InferStats& s = statistics.stats();
  EXPECT_EQ(s.success_count.load(), 1u);
  EXPECT_EQ(s.success_ns.load(), 20'000u);
  EXPECT_EQ(s.queue_ns.load(), 5'000u);
  EXPECT_EQ(s.compute_ns.load(), 7'000u);
  EXPECT_EQ(s.compute_output_ns.load(), 3'000u);
  EXPECT_EQ(s.inference_count.load(), 8u);
  EXPECT_EQ(s.fail_count.load(), 1u);
  EXPECT_EQ(s.fail_ns.load(), 11'000u);
  EXPECT_EQ(s.execution_count.load(), 1u);
}

}  // namespace
}  // namespace protoserve
