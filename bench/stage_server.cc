// stage_server: a floor server answering through one stage of protoserve's
// request path, to measure what each stage costs under gRPC and under REST.
//
// --protocol grpc: the same engine and service as bench/floor_server
// (callback API, the seed's Recommender.GetRecommendations, Abseil tuned as
// protoserve does). --protocol rest: protoserve's own HTTP engine
// (http/http_server.h: Beast, 2 I/O threads, requests answered inline) and
// JSON twin (POST /v1/recommendations, parsed and written by
// http/recommend_rest.h's functions). The handler, on the thread the engine
// runs it on, does one of:
//
//   --stage floor  (rest only; gRPC's floor is floor_server) the canned reply
//                  of floor_server, written as JSON: the REST floor;
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
// `--stage model` also times each execution on the thread that runs it
// (CLOCK_THREAD_CPUTIME_ID, less the clock's own cost measured at start):
// SIGUSR1 prints the running totals, "model executions N thread_cpu_ns T",
// so a benchmark reads what the model's forward pass costs inside the server
// against what it costs alone (build/model_alone).
//
// --engine cq serves the gRPC stages on the completion-queue API instead of
// the callback API (--cq-threads queues, one polling thread each; replies
// sent from whichever thread completes the stage); --with-callback-health
// adds gRPC's default health service, a callback service, beside it.
//
// Beside floor_server (canned reply) and protoserve, it splits the server's
// CPU per request into the floor, the model under the protocol's engine, the
// core under it, and the rest of the server: docs/benchmarks.md, "Where the
// time goes". `--stage model` is the least any server pays that executes
// this model once per request on that engine's threads: it bounds the engine
// targets of issue 22 (gRPC against its floor, gRPC against REST).
//
//   stage_server --stage model --model-repository build/model_repository
//   stage_server --protocol rest --stage floor --model-repository build/model_repository
#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <ctime>
#include <iostream>
#include <memory>
#include <utility>

#include "bench_core.h"
#include "canned_reply.h"
#include "clock_nanos.h"
#include "cq_engine.h"
#include "grpc/engine_tuning.h"
#include "grpc/grpc_status.h"
#include "http/http_response.h"
#include "http/http_server.h"
#include "http/recommend_rest.h"
#include "recommender.grpc.pb.h"
#include "typed/typed_call.h"

namespace {

using protoserve::Status;

const std::string kMethod = "/Recommender/GetRecommendations";

int64_t ThreadCpuNs() { return static_cast<int64_t>(protoserve::bench::ClockNanos(CLOCK_THREAD_CPUTIME_ID)); }

// What one ThreadCpuNs() costs the thread reading it (a system call: this
// clock has no vDSO fast path), so a timed span can leave it out.
int64_t ThreadClockCostNs() {
  constexpr int kReads = 20000;
  const int64_t start = ThreadCpuNs();
  for (int i = 0; i < kReads; ++i) ThreadCpuNs();
  return (ThreadCpuNs() - start) / (kReads + 1);
}

// The model stage's executions: how many, and their thread CPU time in all.
struct ExecutionClock {
  int64_t clock_cost_ns = 0;
  std::atomic<int64_t> executions{0};
  std::atomic<int64_t> cpu_ns{0};
};

// The handler's work, whatever the protocol: `--stage model` or `--stage core`
// (or the REST floor's canned reply), answering `done` exactly once.
class Stage {
 public:
  using Done = std::function<void(Status)>;

  // `model` set: the model stage; else `server` answers (the core stage);
  // neither: the canned reply.
  Stage(protoserve::LoadedModel* model, const protoserve::InferenceServer* server, std::string name,
        ExecutionClock* clock)
      : model_(model), server_(server), name_(std::move(name)), clock_(clock) {}

  // `response` must live until `done` runs.
  void Answer(const RecommendationRequest& request, RecommendationResponse* response, Done done) const {
    if (model_ != nullptr) return done(RunModel(request, response));
    if (server_ == nullptr) {
      *response = canned_;
      return done(Status::Ok());
    }
    protoserve::RequestContext call;
    call.operation = "GetRecommendations";
    protoserve::typed::InferCompiled(*server_, name_, kMethod, std::move(call), request, response,
                                     [done = std::move(done)](Status status, protoserve::InferResult result) {
                                       result.scope.Release();
                                       done(std::move(status));
                                     });
  }

 private:
  // One loaded model shared by the engine's threads: a TorchScript module's
  // forward() may run on several threads at once.
  Status RunModel(const RecommendationRequest& request, RecommendationResponse* response) const {
    if (request.features_size() != 32) return protoserve::InvalidArgument("features must hold 32 values");
    const std::vector<protoserve::Tensor> inputs = protoserve::bench::RecommenderRow(request);
    std::vector<protoserve::Tensor> outputs;
    const int64_t start = ThreadCpuNs();
    const Status status = model_->Execute(inputs, &outputs);
    clock_->cpu_ns.fetch_add(ThreadCpuNs() - start - clock_->clock_cost_ns, std::memory_order_relaxed);
    clock_->executions.fetch_add(1, std::memory_order_relaxed);
    if (!status.ok()) return status;
    const auto* scores = reinterpret_cast<const float*>(outputs.front().data());
    for (int i = 0; i < 10; ++i) {
      response->add_item_ids(kItemIds[i]);
      response->add_scores(scores[i]);
    }
    response->set_model_name(name_);
    return status;
  }

  static constexpr const char* kItemIds[10] = {"item_c0_0000", "item_c1_0001", "item_c2_0002", "item_c3_0003",
                                               "item_c4_0004", "item_c5_0005", "item_c6_0006", "item_c7_0007",
                                               "item_c8_0008", "item_c9_0009"};
  protoserve::LoadedModel* const model_;
  const protoserve::InferenceServer* const server_;
  const std::string name_;
  ExecutionClock* const clock_;
  const RecommendationResponse canned_ = protoserve::bench::CannedResponse();
};

class GrpcStage final : public ::Recommender::CallbackService {
 public:
  explicit GrpcStage(const Stage* stage) : stage_(stage) {}

  grpc::ServerUnaryReactor* GetRecommendations(grpc::CallbackServerContext* context,
                                               const RecommendationRequest* request,
                                               RecommendationResponse* response) override {
    auto* reactor = context->DefaultReactor();
    stage_->Answer(*request, response, [reactor](Status status) { reactor->Finish(protoserve::ToGrpcStatus(status)); });
    return reactor;
  }

 private:
  const Stage* const stage_;
};

// POST /v1/recommendations as protoserve's RecommendRest parses and answers it.
class RestStage final : public protoserve::HttpHandler {
 public:
  explicit RestStage(const Stage* stage) : stage_(stage) {}

  void Handle(protoserve::HttpRequest request, protoserve::Responder responder) override {
    if (request.method() != boost::beast::http::verb::post || request.target() != "/v1/recommendations") {
      return responder.Send(protoserve::ErrorResponse(404, "POST /v1/recommendations only"));
    }
    auto parsed = protoserve::ParseRecommendationJson(request.body());
    if (!parsed.ok()) return responder.Send(protoserve::ErrorResponse(parsed.status()));
    auto call = std::make_shared<std::pair<RecommendationRequest, RecommendationResponse>>();
    call->first = std::move(parsed).value();
    stage_->Answer(call->first, &call->second, [responder, call](Status status) {
      responder.Send(status.ok() ? protoserve::JsonResponse(200, protoserve::RecommendationToJson(call->second))
                                 : protoserve::ErrorResponse(status));
    });
  }

 private:
  const Stage* const stage_;
};

}  // namespace

int main(int argc, char** argv) {
  protoserve::TuneGrpcProcess();  // as protoserve's GrpcServer does
  std::string repository_dir, model = "recommender", stage_name = "core", protocol = "grpc", address = "127.0.0.1";
  int port = 0;
  CLI::App app{"stage_server: a floor server (gRPC or REST) answering through one stage of protoserve's request path"};
  app.add_option("--model-repository", repository_dir, "the model repository")->required();
  app.add_option("--model", model, "the model answering Recommender/GetRecommendations")->capture_default_str();
  app.add_option("--protocol", protocol, "grpc: floor_server's engine; rest: protoserve's HTTP engine")
      ->check(CLI::IsMember({"grpc", "rest"}))
      ->capture_default_str();
  app.add_option("--stage", stage_name,
                 "floor (rest only): the canned reply; model: the model's execution only; core: the whole core "
                 "request")
      ->check(CLI::IsMember({"floor", "model", "core"}))
      ->capture_default_str();
  std::string engine = "callback";
  int cq_threads = 1;
  app.add_option("--engine", engine, "gRPC: callback API, or cq (completion queues, one polling thread each)")
      ->check(CLI::IsMember({"callback", "cq"}))
      ->capture_default_str();
  app.add_option("--cq-threads", cq_threads, "gRPC --engine cq: completion queues")->capture_default_str();
  bool callback_health = false;
  app.add_flag("--with-callback-health", callback_health,
               "gRPC: also serve gRPC's default health service (callback API), as protoserve does");
  app.add_option("--address", address)->capture_default_str();
  app.add_option("--port", port, "0 picks a free port")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (stage_name == "floor" && protocol == "grpc") {
    std::cerr << "--stage floor is for --protocol rest: gRPC's floor is bench/floor_server" << std::endl;
    return 2;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  protoserve::bench::BenchCore core(repository_dir);
  std::unique_ptr<protoserve::LoadedModel> loaded;
  if (stage_name != "floor") {
    if (Status s = core.Load(model); !s.ok()) {
      std::cerr << "load: " << s.message() << std::endl;
      return 1;
    }
  }
  if (stage_name == "model") {
    auto alone = core.LoadAlone(model);
    if (!alone.ok()) {
      std::cerr << "load: " << alone.status().message() << std::endl;
      return 1;
    }
    loaded = std::move(*alone);
  }
  ExecutionClock clock;
  clock.clock_cost_ns = ThreadClockCostNs();
  const Stage stage(loaded.get(), stage_name == "core" ? &core.server() : nullptr, model, &clock);
  // Until SIGINT or SIGTERM; SIGUSR1 prints the model's execution totals.
  const auto wait_for_stop = [&] {
    int signal = 0;
    while (sigwait(&signals, &signal) == 0 && signal == SIGUSR1) {
      std::cout << "model executions " << clock.executions.load() << " thread_cpu_ns " << clock.cpu_ns.load()
                << " (clock cost " << clock.clock_cost_ns << " ns per read, left out)" << std::endl;
    }
  };

  if (protocol == "rest") {
    RestStage handler(&stage);
    protoserve::HttpServerOptions options;  // protoserve's defaults (2 I/O threads)
    options.address = address;
    options.port = port;
    protoserve::HttpServer http(options, &handler);
    if (Status s = http.Start(); !s.ok()) {
      std::cerr << "http: " << s.message() << std::endl;
      return 1;
    }
    std::cout << "HTTP listening on " << address << ":" << http.port() << " (stage " << stage_name << ")"
              << std::endl;
    wait_for_stop();
    http.Shutdown(std::chrono::milliseconds(500));
    return 0;
  }
  GrpcStage service(&stage);
  protoserve::bench::CqRecommender cq_engine(
      [&stage](const RecommendationRequest& request, RecommendationResponse* response,
               protoserve::bench::CqRecommender::Done done) {
        stage.Answer(request, response, [done = std::move(done)](Status status) {
          done(protoserve::ToGrpcStatus(status));
        });
      });
  // gRPC 1.51 runs callback services on a CQ of its own with at least two
  // "nexting" threads, which poll the same sockets as the CQ engine's thread.
  if (callback_health) grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(address + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &bound);
  if (engine == "callback") {
    builder.RegisterService(&service);
  } else {
    cq_engine.Register(&builder, cq_threads);
  }
  auto rpc_server = builder.BuildAndStart();
  if (!rpc_server) return 1;
  cq_engine.Start(64);
  std::cout << "gRPC listening on " << address << ":" << bound << " (stage " << stage_name << ", engine " << engine
            << ")" << std::endl;
  wait_for_stop();
  rpc_server->Shutdown();
  cq_engine.Stop();
  return 0;
}
