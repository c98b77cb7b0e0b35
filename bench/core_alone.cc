// core_alone: what the server's core costs per request, with no wire.
//
// Loads one model of a repository through the server's own objects (the
// backends, ModelRepository with the typed contract loader, InferenceServer,
// the feedback loop the server always runs), then answers the seed's
// RecommendationRequest through the same function the gRPC, REST and
// gRPC-Web front-ends call (typed::InferCompiled -> InferenceServer::Infer:
// decode, route, batcher, model, top-k, encode, metrics, feedback join
// window), one request at a time on each of --threads threads. Prints the
// process CPU per request (every thread's, the framework's included) as JSON:
// with one thread, the core's own cost with hot caches; with two, what two
// cores executing requests side by side add (shared locks, counters, caches).
// With --evict-kb, each caller writes that much of its own memory before each
// request (not counted): the same request with cold caches. Each figure comes
// with the model's own share ("model_cpu_us"): the same rows executed by a
// second copy of the version through the same backend, in the same rounds.
//
// Beside `model_alone` (the model's execution only) and the server's CPU per
// request measured from outside, it splits a request's cost into the model,
// the core around it, and the wire (gRPC or HTTP and the kernel):
// docs/benchmarks.md, "Where the time goes".
//
//   core_alone --model-repository build/model_repository --model recommender --threads 1,2
//   core_alone --model-repository build/model_repository --threads 1 --evict-kb 0,512,2048,8192
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_core.h"
#include "clock_nanos.h"
#include "core/inference_server.h"
#include "recommender.pb.h"
#include "typed/typed_call.h"

namespace {

using protoserve::bench::ClockNanos;

// Writes one byte per 64-byte line of `buffer`: pushes what the last request
// left in this core's caches out, as other work between two requests does.
// Returns this thread's CPU time it took, which the caller does not count.
double Evict(std::vector<char>& buffer) {
  if (buffer.empty()) return 0;
  const double start = ClockNanos(CLOCK_THREAD_CPUTIME_ID);
  for (size_t i = 0; i < buffer.size(); i += 64) buffer[i] = static_cast<char>(buffer[i] + 1);
  return ClockNanos(CLOCK_THREAD_CPUTIME_ID) - start;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"core_alone: the server core's CPU per request, no wire"};
  std::string repository_dir, model = "recommender";
  int requests = 20000, rounds = 5;
  std::vector<int> thread_counts{1, 2};
  std::vector<int> evict_kbs{0};
  int evict_kb = 0;  // the size being measured
  app.add_option("--model-repository", repository_dir, "the model repository")->required();
  app.add_option("--model", model, "the model answering Recommender/GetRecommendations");
  app.add_option("--requests", requests, "requests per round (after a 10% warm-up)");
  app.add_option("--rounds", rounds, "rounds (the median is printed)");
  app.add_option("--threads", thread_counts, "comma-separated numbers of calling threads")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--evict-kb", evict_kbs,
                 "comma-separated: before each request, each calling thread writes this many KB of its own memory "
                 "(cold caches; that CPU is not counted), one run per size")
      ->delimiter(',')
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  using namespace protoserve;
  bench::BenchCore core(repository_dir);
  if (Status s = core.Load(model); !s.ok()) {
    std::fprintf(stderr, "load: %s\n", s.message().c_str());
    return 1;
  }
  // The model alone, measured in the same rounds: a second copy of the
  // version the core serves, executing the same rows at batch 1.
  auto alone = core.LoadAlone(model);
  if (!alone.ok()) {
    std::fprintf(stderr, "model: %s\n", alone.status().message().c_str());
    return 1;
  }
  const InferenceServer& server = core.server();

  std::mt19937_64 rng(42);
  std::uniform_real_distribution<float> uniform(0, 1);
  std::vector<RecommendationRequest> bodies(256);
  std::vector<std::vector<Tensor>> rows;
  for (size_t i = 0; i < bodies.size(); ++i) {
    bodies[i].set_user_id("user-" + std::to_string(i));
    for (int f = 0; f < 32; ++f) bodies[i].add_features(uniform(rng));
    rows.push_back(bench::RecommenderRow(bodies[i]));
  }
  static const std::string kMethod = "/Recommender/GetRecommendations";
  std::atomic<size_t> failures{0};
  auto one = [&](size_t i) {
    RecommendationResponse response;
    std::atomic<bool> answered{false};
    RequestContext call;
    call.operation = "GetRecommendations";
    typed::InferCompiled(server, model, kMethod, std::move(call), bodies[i % bodies.size()], &response,
                         [&](Status status, InferResult result) {
                           if ((!status.ok() || response.item_ids_size() == 0) && failures++ == 0) {
                             std::fprintf(stderr, "request: %s\n", status.message().c_str());
                           }
                           result.scope.Release();
                           answered.store(true);
                           answered.notify_one();
                         });
    // With an idle instance the batcher executes the request on this thread
    // (answered before InferCompiled returns); else the thread finishing an
    // execution answers it.
    answered.wait(false);
  };
  auto execute = [&](size_t i) {
    std::vector<Tensor> outputs;
    if (Status s = (*alone)->Execute(rows[i % rows.size()], &outputs); !s.ok() && failures++ == 0) {
      std::fprintf(stderr, "model: %s\n", s.message().c_str());
    }
  };
  // Calls `request` `count` times on each of `threads` threads; returns the
  // CPU the callers spent evicting (not the requests' cost).
  auto run = [&](int threads, int count, const std::function<void(size_t)>& request) {
    std::vector<std::thread> callers;
    std::vector<double> evicting(threads, 0);
    for (int t = 0; t < threads; ++t) {
      callers.emplace_back([&, t] {
        std::vector<char> buffer(static_cast<size_t>(evict_kb) * 1024);
        for (int i = 0; i < count; ++i) {
          evicting[t] += Evict(buffer);
          request(static_cast<size_t>(t * count + i));
        }
      });
    }
    for (auto& caller : callers) caller.join();
    return std::accumulate(evicting.begin(), evicting.end(), 0.0);
  };
  // The eviction sizes, and the core request and the model alone, take
  // turns within each round, so that a noisy neighbour slows them alike
  // rather than the one that ran then.
  auto measure = [&](int threads, const std::function<void(size_t)>& request) {
    run(threads, requests / 10 / threads, request);
    const double start = ClockNanos(CLOCK_PROCESS_CPUTIME_ID);
    const double evicting = run(threads, requests / threads, request);
    return (ClockNanos(CLOCK_PROCESS_CPUTIME_ID) - start - evicting) / 1e3 / (requests / threads * threads);
  };
  auto median = [](std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
  };
  std::printf("{\"model\": \"%s\", \"runs\": [", model.c_str());
  const char* sep = "";
  for (const int threads : thread_counts) {
    std::vector<std::vector<double>> per_request(evict_kbs.size()), model_only(evict_kbs.size());
    for (int r = 0; r < rounds; ++r) {
      for (size_t e = 0; e < evict_kbs.size(); ++e) {
        evict_kb = evict_kbs[e];
        per_request[e].push_back(measure(threads, one));
        model_only[e].push_back(measure(threads, execute));
      }
    }
    for (size_t e = 0; e < evict_kbs.size(); ++e) {
      std::printf("%s{\"threads\": %d, \"evict_kb\": %d, \"cpu_us_per_request\": %.2f, \"model_cpu_us\": %.2f, "
                  "\"rounds_us\": [",
                  sep, threads, evict_kbs[e], median(per_request[e]), median(model_only[e]));
      for (size_t i = 0; i < per_request[e].size(); ++i) std::printf("%s%.2f", i ? ", " : "", per_request[e][i]);
      std::printf("]}");
      sep = ", ";
    }
  }
  std::printf("]}\n");
  if (failures > 0) {
    std::fprintf(stderr, "%zu failed requests\n", failures.load());
    return 1;
  }
  return 0;
}
