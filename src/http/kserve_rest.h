// The KServe v2 REST API (Open Inference Protocol over HTTP) with Triton's
// classification, binary tensor data, model configuration, statistics and
// repository extensions: the REST twin of the gRPC InferenceService.
//
// Both front-ends take the same core path, so they agree on every answer
// and error: requests become an InferenceRequest (api = kHttp), routed by
// ModelRepository::Route (traffic split, shadow) and validated by
// ModelVersion::Infer; metadata, statistics and the repository index come
// from the gRPC service's Fill* functions, written out as JSON.
//
// The methods answer one route each; RestRouter maps paths to them. `model`
// and `version` are path segments as received ("" version: the server's
// choice). An infer request's deadline is its "timeout" parameter (Triton's
// schedule policy extension, microseconds): past it, 504.
// Thread-safety: every method may be called concurrently.
#pragma once

#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "core/model_repository.h"
#include "http/http_handler.h"

namespace protoserve {

class KServeRest {
 public:
  // `metrics` may be null. Both must outlive this object.
  KServeRest(ModelRepository* repository, Metrics* metrics) : repository_(repository), metrics_(metrics) {}
  ~KServeRest();  // waits for model loads/unloads in progress

  // Server readiness as for the gRPC ServerReady: false until the initial
  // load finished and again once shutdown began.
  void set_ready(bool ready) { ready_.store(ready); }
  // Model load/unload work only in explicit model control mode.
  void set_explicit_control(bool enabled) { explicit_control_.store(enabled); }

  HttpResponse ServerLive() const;                       // GET /v2/health/live
  HttpResponse ServerReady() const;                      // GET /v2/health/ready
  HttpResponse ServerMetadata() const;                   // GET /v2
  HttpResponse ModelMetadata(const std::string& model, const std::string& version) const;  // GET /v2/models/m
  HttpResponse ModelReady(const std::string& model, const std::string& version) const;     // .../ready
  HttpResponse ModelConfig(const std::string& model, const std::string& version) const;    // .../config
  // .../stats; an empty `model` means every model (GET /v2/models/stats).
  HttpResponse ModelStatistics(const std::string& model, const std::string& version) const;
  HttpResponse RepositoryIndex(const std::string& body) const;  // POST /v2/repository/index
  // POST /v2/repository/models/m/load|unload. A load takes as long as the
  // model's warm-up, so it runs on its own thread, not on an I/O thread.
  void RepositoryModelControl(const std::string& model, bool load, const std::string& body, Responder responder);

  // POST .../infer: answers through `responder` once the model has run.
  void Infer(const std::string& model, const std::string& version, HttpRequest request, Responder responder) const;

 private:
  ModelRepository* const repository_;
  Metrics* const metrics_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> explicit_control_{false};

  std::mutex control_mu_;
  std::vector<std::future<void>> control_tasks_;  // guarded by control_mu_: loads/unloads running
};

// Load/unload requests running at once beyond this are refused with 429.
inline constexpr size_t kMaxModelControlTasks = 4;

// The header of Triton's binary tensor data extension.
inline constexpr const char* kInferenceHeaderContentLength = "Inference-Header-Content-Length";

}  // namespace protoserve
