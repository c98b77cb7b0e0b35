// floor_server: the Recommender API answered with a canned response (no
// model, no batching), built on the same gRPC library and settings as
// protoserve. It measures the floor: what the RPC stack alone costs on this
// machine, so protoserve's figures can be stated as a ratio of it.
//
// --engine=callback uses gRPC's callback API (what protoserve uses);
// --engine=cq uses the completion-queue async API with one CQ and one
// polling thread per --threads, the shape gRPC's own benchmarks use for
// peak throughput. Comparing the two is how protoserve chose its engine.
#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <csignal>
#include <ctime>
#include <iostream>
#include <vector>

#include "canned_reply.h"
#include "clock_nanos.h"
#include "cq_engine.h"
#include "grpc/engine_tuning.h"
#include "recommender.grpc.pb.h"

namespace {

using protoserve::bench::CannedResponse;

// --touch-kb: every call reads this many KB (a model's weights stand-in),
// to measure what a working set between calls costs the RPC engine itself.
std::vector<float> g_touched;
volatile float g_touch_sink = 0;

// --spin-us: every call also computes this much CPU time on the handler's
// thread (a model's execution stand-in that lives in registers: no memory
// traffic). Counted in iterations of a multiply-add chain, calibrated at
// start against the thread's CPU clock, so a call preempted mid-way still
// computes exactly as much (a wall-clock spin would compute less).
uint64_t g_spin_iterations = 0;
volatile uint64_t g_spin_sink = 0;

uint64_t Spin(uint64_t iterations) {
  uint64_t x = 1;
  for (uint64_t i = 0; i < iterations; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  g_spin_sink = x;
  return x;
}

// Iterations of Spin() per microsecond of this thread's CPU: the fastest of
// a few 20 ms trials (the others were slowed by whatever shared the core).
double SpinIterationsPerUs() {
  constexpr uint64_t kTrial = 2'000'000;
  double best = 0;
  for (int trial = 0; trial < 7; ++trial) {
    const double start = protoserve::bench::ClockNanos(CLOCK_THREAD_CPUTIME_ID);
    Spin(kTrial);
    const double us = (protoserve::bench::ClockNanos(CLOCK_THREAD_CPUTIME_ID) - start) / 1e3;
    best = std::max(best, static_cast<double>(kTrial) / us);
  }
  return best;
}

void Touch() {
  if (g_spin_iterations > 0) Spin(g_spin_iterations);
  float sum = 0;
  for (size_t i = 0; i < g_touched.size(); i += 16) sum += g_touched[i];  // one read per 64-byte line
  g_touch_sink = sum;
}

class CallbackFloor final : public ::Recommender::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetRecommendations(grpc::CallbackServerContext* context, const RecommendationRequest*,
                                               RecommendationResponse* response) override {
    Touch();
    *response = canned_;
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const RecommendationResponse canned_ = CannedResponse();
};

}  // namespace

int main(int argc, char** argv) {
  protoserve::TuneGrpcProcess();  // as protoserve's GrpcServer does
  std::string address = "127.0.0.1";
  int port = 0;
  std::string engine = "callback";
  int threads = 2;
  int slots = 64;
  CLI::App app{"floor_server: canned Recommender responses, to measure the RPC floor"};
  app.add_option("--address", address)->capture_default_str();
  app.add_option("--port", port, "0 picks a free port")->capture_default_str();
  app.add_option("--engine", engine, "callback | cq")->check(CLI::IsMember({"callback", "cq"}))->capture_default_str();
  app.add_option("--threads", threads, "cq engine: CQs, one polling thread each")->capture_default_str();
  app.add_option("--slots", slots, "cq engine: calls armed per CQ")->capture_default_str();
  int touch_kb = 0, spin_us = 0;
  app.add_option("--spin-us", spin_us, "microseconds of CPU every call computes (0: none)")
      ->capture_default_str();
  app.add_option("--touch-kb", touch_kb, "KB of memory read by every call (0: none)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (spin_us > 0) {
    const double rate = SpinIterationsPerUs();
    g_spin_iterations = static_cast<uint64_t>(rate * spin_us);
    std::cout << "spin: " << g_spin_iterations << " iterations per call = " << spin_us << " us of thread CPU ("
              << rate << " per us)" << std::endl;
  }
  g_touched.assign(static_cast<size_t>(touch_kb) * 1024 / sizeof(float), 1.0f);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(address + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &bound);
  CallbackFloor callback_service;
  const RecommendationResponse canned = CannedResponse();
  protoserve::bench::CqRecommender cq_engine(
      [&canned](const RecommendationRequest&, RecommendationResponse* response,
                const protoserve::bench::CqRecommender::Done& done) {
        Touch();
        *response = canned;
        done(grpc::Status::OK);
      });
  if (engine == "callback") {
    builder.RegisterService(&callback_service);
  } else {
    cq_engine.Register(&builder, threads);
  }
  auto server = builder.BuildAndStart();
  if (!server) return 1;
  std::cout << "gRPC listening on " << address << ":" << bound << " (engine " << engine << ")" << std::endl;
  cq_engine.Start(slots);
  int signal = 0;
  sigwait(&signals, &signal);
  server->Shutdown();
  cq_engine.Stop();
  return 0;
}
