// CqRecommender: Recommender.GetRecommendations served on gRPC's
// completion-queue API, for the bench servers (floor_server --engine cq,
// stage_server --engine cq).
//
// `queues` completion queues, each polled by one thread, with `slots` calls
// armed per queue. Each call runs `answer` on its queue's thread; `answer`
// fills the response and calls `done` exactly once, on any thread (gRPC lets
// a reply be sent from any thread).
//
//   CqRecommender engine(answer);
//   engine.Register(&builder, queues);   // before BuildAndStart
//   engine.Start(slots);                 // after it
//   ...; server->Shutdown(); engine.Stop();
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "recommender.grpc.pb.h"

namespace protoserve::bench {

class CqRecommender {
 public:
  using Done = std::function<void(const grpc::Status&)>;
  using Answer = std::function<void(const RecommendationRequest&, RecommendationResponse*, Done)>;

  explicit CqRecommender(Answer answer) : answer_(std::move(answer)) {}

  void Register(grpc::ServerBuilder* builder, int queues) {
    builder->RegisterService(&service_);
    for (int i = 0; i < queues; ++i) queues_.push_back(builder->AddCompletionQueue());
  }

  void Start(int slots) {
    for (auto& queue : queues_) {
      for (int i = 0; i < slots; ++i) new Call(this, queue.get());
      pollers_.emplace_back([queue = queue.get()] {
        void* tag;
        bool ok;
        while (queue->Next(&tag, &ok)) static_cast<Call*>(tag)->Proceed(ok);
      });
    }
  }

  // After the server's Shutdown(): drains the queues and joins their threads.
  void Stop() {
    for (auto& queue : queues_) queue->Shutdown();
    for (auto& poller : pollers_) poller.join();
  }

 private:
  // One call: armed -> answered -> replied (then deleted).
  class Call {
   public:
    Call(CqRecommender* engine, grpc::ServerCompletionQueue* queue)
        : engine_(engine), queue_(queue), writer_(&context_) {
      engine_->service_.RequestGetRecommendations(&context_, &request_, &writer_, queue_, queue_, this);
    }
    void Proceed(bool ok) {
      if (answering_ || !ok) {
        delete this;
        return;
      }
      new Call(engine_, queue_);  // keep the slot armed
      answering_ = true;
      engine_->answer_(request_, &response_, [this](const grpc::Status& status) {
        if (status.ok()) {
          writer_.Finish(response_, status, this);
        } else {
          writer_.FinishWithError(status, this);
        }
      });
    }

   private:
    CqRecommender* const engine_;
    grpc::ServerCompletionQueue* const queue_;
    grpc::ServerContext context_;
    RecommendationRequest request_;
    RecommendationResponse response_;
    grpc::ServerAsyncResponseWriter<RecommendationResponse> writer_;
    bool answering_ = false;
  };

  const Answer answer_;
  ::Recommender::AsyncService service_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> pollers_;
};

}  // namespace protoserve::bench
