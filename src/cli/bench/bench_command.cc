#include "cli/bench/bench_command.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <stdexcept>

#include "cli/bench/chart_command.h"
#include "cli/bench/grpc_transport.h"
#include "cli/bench/http_transport.h"
#include "cli/bench/load_runner.h"
#include "cli/bench/report.h"
#include "inference.grpc.pb.h"

namespace protoserve::cli::bench {

namespace {

using TransportFactory = std::function<std::unique_ptr<Transport>(int concurrency)>;

GrpcOptions MakeGrpcOptions(const BenchOptions& o) {
  GrpcOptions g;
  g.target = o.target;
  g.connections = o.connections > 0 ? o.connections : 1;
  g.timeout_secs = o.timeout_secs;
  for (const auto& m : o.metadata) g.metadata.push_back(ParseMetadata(m));
  g.tls = o.tls;
  g.tls_ca_file = o.tls_ca;
  g.tls_cert_file = o.tls_cert;
  g.tls_key_file = o.tls_key;
  g.tls_server_name = o.tls_server_name;
  return g;
}

HttpOptions MakeHttpOptions(const BenchOptions& o, int concurrency) {
  HttpOptions h;
  h.target = o.http_target;
  h.connections = o.connections > 0 ? o.connections : concurrency;
  h.threads = std::max(1, std::min(o.http_threads, h.connections));
  h.timeout_secs = o.timeout_secs;
  for (const auto& m : o.metadata) h.headers.push_back(ParseMetadata(m));
  h.tls = o.tls;
  h.tls_ca_file = o.tls_ca;
  h.tls_cert_file = o.tls_cert;
  h.tls_key_file = o.tls_key;
  h.tls_server_name = o.tls_server_name;
  return h;
}

std::vector<TensorSpec> GrpcInputSpecs(const BenchOptions& o) {
  const GrpcOptions g = MakeGrpcOptions(o);
  auto stub = inference::GRPCInferenceService::NewStub(MakeChannels(g, 1)[0]);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  for (const auto& [key, value] : g.metadata) context.AddMetadata(key, value);
  inference::ModelMetadataRequest request;
  request.set_name(o.payload.model);
  request.set_version(o.payload.model_version);
  inference::ModelMetadataResponse response;
  const grpc::Status status = stub->ModelMetadata(&context, request, &response);
  if (!status.ok()) {
    throw TargetError("ModelMetadata(" + o.payload.model + "): " + StatusCodeName(status.error_code()) + ": " +
                             status.error_message());
  }
  return InputSpecs(response);
}

std::string RestModelPath(const BenchOptions& o) {
  std::string path = "/v2/models/" + o.payload.model;
  if (!o.payload.model_version.empty()) path += "/versions/" + o.payload.model_version;
  return path;
}

// Builds the payloads once and returns how to make a transport for a run.
TransportFactory MakeFactory(const BenchOptions& o) {
  const bool infer = o.mode == "grpc-infer" || o.mode == "rest-infer";
  if (infer && o.payload.model.empty()) throw std::invalid_argument("--model is required for " + o.mode);
  const std::string& format = o.payload.input_tensor_format;
  if (!format.empty() && !(o.mode == "grpc-infer" && (format == "binary" || format == "typed")) &&
      !(o.mode == "rest-infer" && (format == "binary" || format == "json"))) {
    throw std::invalid_argument("--input-tensor-format " + format + " does not apply to " + o.mode +
                                " (grpc-infer: binary|typed; rest-infer: json|binary)");
  }
  if (o.mode == "grpc-recommend" || o.mode == "grpc-stream") {
    auto pool = std::make_shared<const std::vector<RecommendationRequest>>(MakeRecommendRequests(o.payload));
    const GrpcOptions g = MakeGrpcOptions(o);
    if (o.mode == "grpc-stream") return [g, pool](int) { return MakeStreamTransport(g, pool); };
    return [g, pool](int) { return MakeRecommendTransport(g, pool); };
  }
  if (o.mode == "grpc-infer") {
    const std::vector<TensorSpec> specs = o.payload.request_file.empty() ? GrpcInputSpecs(o) : std::vector<TensorSpec>{};
    auto requests = std::make_shared<std::vector<inference::ModelInferRequest>>();
    for (const InferPayload& p : MakeInferPayloads(o.payload, specs)) requests->push_back(ToModelInferRequest(p, o.payload));
    const GrpcOptions g = MakeGrpcOptions(o);
    return [g, requests](int) { return MakeInferTransport(g, requests); };
  }
  auto pool = std::make_shared<HttpRequestPool>();
  if (o.mode == "rest-recommend") {
    pool->path = "/v1/recommendations";
    for (const auto& r : MakeRecommendRequests(o.payload)) pool->bodies.push_back(RecommendToJson(r));
  } else if (o.mode == "rest-infer") {
    pool->path = RestModelPath(o) + "/infer";
    const std::vector<TensorSpec> specs =
        o.payload.request_file.empty() ? InputSpecsFromJson(HttpGet(MakeHttpOptions(o, 1), RestModelPath(o)))
                                       : std::vector<TensorSpec>{};
    for (const InferPayload& p : MakeInferPayloads(o.payload, specs)) {
      if (format == "binary") {
        pool->bodies.push_back(InferToBinary(p, &pool->json_sizes.emplace_back()));
      } else {
        pool->bodies.push_back(InferToJson(p));
      }
    }
  } else {
    throw std::invalid_argument("unknown --mode " + o.mode);
  }
  return [o, pool](int concurrency) { return MakeHttpTransport(MakeHttpOptions(o, concurrency), pool); };
}

void PrintProgress(const std::string& prefix, const Progress& p) {
  if (p.elapsed_s < 0) return;
  std::fprintf(stderr, "\r\033[K%s %6.1fs %10llu req %10.1f qps %6llu errors", prefix.c_str(), p.elapsed_s,
               static_cast<unsigned long long>(p.completed), p.qps, static_cast<unsigned long long>(p.errors));
  std::fflush(stderr);
}

}  // namespace

CLI::App* AddBenchCommand(CLI::App& app, BenchOptions* o) {
  auto* b = app.add_subcommand("bench", "Load generator: concurrency sweeps (closed loop) or fixed rate (open loop)");
  b->add_option("--mode", o->mode, "What to call")->check(CLI::IsMember(kModes))->capture_default_str();
  b->add_option("--target", o->target, "gRPC server HOST:PORT")->capture_default_str();
  b->add_option("--http-target", o->http_target, "REST server HOST:PORT")->capture_default_str();
  b->add_option("--request", o->payload.request_file,
                "JSON request to send: recommend {\"user_id\",\"features\",\"top_k\"}; infer KServe {\"inputs\":[...]}");
  b->add_option("--data", o->payload.data_file, "Recommend: samples file, a JSON list of {user_id, features}");
  b->add_option("--model", o->payload.model, "Model name (required for infer; recommend: model_name)");
  b->add_option("--model-version", o->payload.model_version, "Model version (default: latest)");
  b->add_option("--batch", o->payload.batch, "Infer: batch size of generated inputs")->capture_default_str();
  b->add_option("--input-tensor-format", o->payload.input_tensor_format,
                "Infer: how inputs travel: binary (gRPC raw_input_contents, the default; REST the binary tensor "
                "extension), typed (gRPC typed contents, e.g. fp32_contents), json (REST data arrays, the default)")
      ->check(CLI::IsMember({"binary", "typed", "json"}));
  b->add_option("--payload-floats", o->payload.payload_floats,
                "Recommend: features per generated request (32 for the demo model; more only for a model that "
                "accepts them, for payload-size experiments)")
      ->capture_default_str();
  b->add_option("--top-k", o->payload.top_k, "Recommend: items to return (0 = server default)");
  b->add_option("--concurrency,-c", o->concurrency,
                "Comma-separated sweep, one run each: requests in flight (default 1; 64 with --rate)");
  b->add_option("--rate", o->rate, "Open loop: requests/s on a fixed schedule (comma list = one run each)");
  b->add_option("--duration,-d", o->duration, "Measured time per run (e.g. 10s, 500ms)")->capture_default_str();
  b->add_option("--requests,-n", o->requests, "Measured requests per run (instead of --duration)");
  b->add_option("--warmup", o->warmup, "Unrecorded warm-up per run")->capture_default_str();
  b->add_option("--connections", o->connections,
                "gRPC channels / HTTP keep-alive connections, shared round-robin (default: gRPC 1, REST one per "
                "concurrent request)");
  b->add_option("--http-threads", o->http_threads, "REST: client I/O threads")->capture_default_str();
  b->add_option("--metadata,-H", o->metadata, "key=value: gRPC metadata / HTTP header (repeatable)");
  b->add_option("--timeout", o->timeout_secs, "Per-request deadline, seconds (0 = none)")->capture_default_str();
  b->add_flag("--tls", o->tls, "Use TLS with the system's root certificates (implied by --tls-ca/--tls-cert)");
  b->add_option("--tls-ca", o->tls_ca, "PEM root certificates to verify the server");
  b->add_option("--tls-cert", o->tls_cert, "PEM client certificate (mutual TLS)");
  b->add_option("--tls-key", o->tls_key, "PEM client private key (mutual TLS)");
  b->add_option("--tls-server-name", o->tls_server_name, "Name to verify in the server certificate");
  b->add_option("--format", o->format, "stdout format")->check(CLI::IsMember({"table", "json", "csv"}))->capture_default_str();
  b->add_option("--html", o->html, "Also write a self-contained HTML report (SVG charts) to this file");
  b->add_option("--seed", o->payload.seed, "Seed of the generated requests")->capture_default_str();
  b->add_flag_callback("--no-progress", [o] { o->progress = false; }, "No live progress line on stderr");
  auto* chart = b->add_subcommand("chart", "Draw one SVG chart from a JSON description (src/cli/bench/chart_command.h)");
  chart->add_option("spec", o->chart_spec, "JSON chart description ('-' = stdin)")->required();
  chart->add_option("--out,-o", o->chart_out, "SVG file to write (default: stdout)");
  return b;
}

int RunBench(const BenchOptions& o) {
  if (!o.chart_spec.empty()) return RunChart(o.chart_spec, o.chart_out);
  const std::vector<double> rates = o.rate.empty() ? std::vector<double>{0} : ParseRateList(o.rate);
  const std::vector<int> levels = ParseIntList(o.concurrency.empty() ? (o.rate.empty() ? "1" : "64") : o.concurrency);
  RunPlan base;
  base.warmup = ParseDuration(o.warmup);
  base.duration = ParseDuration(o.duration);
  base.requests = o.requests;
  if (base.requests == 0 && base.duration.count() == 0) throw std::invalid_argument("--duration must be > 0");
  const bool grpc = o.mode.rfind("grpc-", 0) == 0;
  const bool show_progress = o.progress && isatty(STDERR_FILENO);

  std::vector<RunResult> runs;
  bool failed = false;
  try {
    const TransportFactory factory = MakeFactory(o);
    for (double rate : rates) {
      for (int concurrency : levels) {
        RunPlan plan = base;
        plan.rate = rate;
        plan.concurrency = concurrency;
        const std::string prefix = o.mode + (rate > 0 ? " rate=" + std::to_string(static_cast<int64_t>(rate)) : "") +
                                   " c=" + std::to_string(concurrency);
        LoadRunner::ProgressFn progress;
        if (show_progress) progress = [prefix](const Progress& p) { PrintProgress(prefix, p); };
        auto transport = factory(concurrency);
        RunResult result = LoadRunner(transport.get(), plan, progress).Run();
        if (show_progress) std::fprintf(stderr, "\r\033[K");
        result.mode = o.mode;
        result.target = grpc ? o.target : o.http_target;
        runs.push_back(std::move(result));
      }
    }
  } catch (const TargetError& e) {
    std::cerr << nlohmann::json({{"error", {{"code", "UNAVAILABLE"}, {"message", e.what()}}}}).dump(2) << std::endl;
    if (runs.empty()) return 1;
    failed = true;  // still print the runs that completed
  }

  if (o.format == "json") {
    std::cout << RunsToJson(runs).dump(2) << std::endl;
  } else if (o.format == "csv") {
    PrintCsv(std::cout, runs);
  } else {
    PrintTable(std::cout, runs);
  }
  if (!o.html.empty()) {
    std::ofstream out(o.html);
    out << HtmlReport(runs, "protoserve-cli bench --mode " + o.mode + " (" + runs.front().target + ")");
    if (!out) {
      std::cerr << "cannot write " << o.html << std::endl;
      return 1;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace protoserve::cli::bench
