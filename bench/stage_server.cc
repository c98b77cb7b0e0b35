// stage_server: the floor's gRPC server, answering through one stage of
// protoserve's request path, to measure what each stage costs under gRPC.
//
// The same engine and service as bench/floor_server (callback API, the
// seed's Recommender.GetRecommendations, Abseil tuned as protoserve does),
// whose handler, on the thread gRPC runs it on, does one of:
//
//   --stage model  the recommender's TorchScript execution only: the request's
//                  32 features and its user id's hash become the model's two
//                  input tensors (one row), the server's own torch backend
//                  executes them, and the reply carries the first 10 scores
//                  under fixed item ids (no top-k, no labels, no core);
//   --stage core   the whole core request: typed::InferCompiled ->
//                  InferenceServer (decode, route, batcher, model, top-k,
//                  encode, metrics, feedback window), as protoserve's
//                  RecommenderService calls it, without the rest of the server
//                  (no HTTP port, no other services, no tracing).
//
// Beside floor_server (canned reply) and protoserve, it splits the server's
// CPU per request into the floor, the model under gRPC, the core under gRPC,
// and the rest of the server: docs/benchmarks.md, "Where the time goes".
// `--stage model` is the least any server pays that executes this model once
// per request on gRPC's threads: it bounds the engine targets of issue 22.
//
//   stage_server --stage model --model-repository build/model_repository
#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "bench_core.h"
#include "grpc/engine_tuning.h"
#include "grpc/grpc_status.h"
#include "recommender.grpc.pb.h"
#include "typed/typed_call.h"

namespace {

using protoserve::Status;

class ModelStage final : public ::Recommender::CallbackService {
 public:
  // One loaded model shared by gRPC's threads: a TorchScript module's
  // forward() may run on several threads at once.
  ModelStage(protoserve::LoadedModel* model, std::string name) : model_(model), name_(std::move(name)) {}

  grpc::ServerUnaryReactor* GetRecommendations(grpc::CallbackServerContext* context,
                                               const RecommendationRequest* request,
                                               RecommendationResponse* response) override {
    auto* reactor = context->DefaultReactor();
    if (request->features_size() != 32) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "features must hold 32 values"));
      return reactor;
    }
    const std::vector<protoserve::Tensor> inputs = protoserve::bench::RecommenderRow(*request);
    std::vector<protoserve::Tensor> outputs;
    const Status status = model_->Execute(inputs, &outputs);
    if (status.ok()) {
      const auto* scores = reinterpret_cast<const float*>(outputs.front().data());
      for (int i = 0; i < 10; ++i) {
        response->add_item_ids(kItemIds[i]);
        response->add_scores(scores[i]);
      }
      response->set_model_name(name_);
    }
    reactor->Finish(protoserve::ToGrpcStatus(status));
    return reactor;
  }

 private:
  static constexpr const char* kItemIds[10] = {"item_c0_0000", "item_c1_0001", "item_c2_0002", "item_c3_0003",
                                               "item_c4_0004", "item_c5_0005", "item_c6_0006", "item_c7_0007",
                                               "item_c8_0008", "item_c9_0009"};
  protoserve::LoadedModel* const model_;
  const std::string name_;
};

class CoreStage final : public ::Recommender::CallbackService {
 public:
  CoreStage(const protoserve::InferenceServer* server, std::string model) : server_(server), model_(std::move(model)) {}

  grpc::ServerUnaryReactor* GetRecommendations(grpc::CallbackServerContext* context,
                                               const RecommendationRequest* request,
                                               RecommendationResponse* response) override {
    static const std::string kMethod = "/Recommender/GetRecommendations";
    auto* reactor = context->DefaultReactor();
    protoserve::RequestContext call;
    call.operation = "GetRecommendations";
    protoserve::typed::InferCompiled(*server_, model_, kMethod, std::move(call), *request, response,
                                     [reactor](Status status, protoserve::InferResult result) {
                                       result.scope.Release();
                                       reactor->Finish(protoserve::ToGrpcStatus(status));
                                     });
    return reactor;
  }

 private:
  const protoserve::InferenceServer* const server_;
  const std::string model_;
};

}  // namespace

int main(int argc, char** argv) {
  protoserve::TuneGrpcProcess();  // as protoserve's GrpcServer does
  std::string repository_dir, model = "recommender", stage = "core", address = "127.0.0.1";
  int port = 0;
  CLI::App app{"stage_server: the floor's gRPC server answering through one stage of protoserve's request path"};
  app.add_option("--model-repository", repository_dir, "the model repository")->required();
  app.add_option("--model", model, "the model answering Recommender/GetRecommendations")->capture_default_str();
  app.add_option("--stage", stage, "model: the model's execution only; core: the whole core request")
      ->check(CLI::IsMember({"model", "core"}))
      ->capture_default_str();
  app.add_option("--address", address)->capture_default_str();
  app.add_option("--port", port, "0 picks a free port")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  protoserve::bench::BenchCore core(repository_dir);
  if (Status s = core.Load(model); !s.ok()) {
    std::cerr << "load: " << s.message() << std::endl;
    return 1;
  }
  std::unique_ptr<protoserve::LoadedModel> loaded;
  if (stage == "model") {
    auto alone = core.LoadAlone(model);
    if (!alone.ok()) {
      std::cerr << "load: " << alone.status().message() << std::endl;
      return 1;
    }
    loaded = std::move(*alone);
  }

  std::unique_ptr<::Recommender::CallbackService> service;
  if (loaded) {
    service = std::make_unique<ModelStage>(loaded.get(), model);
  } else {
    service = std::make_unique<CoreStage>(&core.server(), model);
  }
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(address + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(service.get());
  auto rpc_server = builder.BuildAndStart();
  if (!rpc_server) return 1;
  std::cout << "gRPC listening on " << address << ":" << bound << " (stage " << stage << ")" << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  rpc_server->Shutdown();
  return 0;
}
