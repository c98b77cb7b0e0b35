// The KServe v2 REST API (Open Inference Protocol over HTTP) with Triton's
// classification, binary tensor data, model configuration, statistics and
// repository extensions: the REST twin of the gRPC InferenceService.
//
// Both front-ends call the same core facade (InferenceServer), so they agree
// on every answer and error; metadata, statistics and the repository index
// come from the KServe message builders (src/kserve), written out as JSON.
//
// The methods answer one route each; RestRouter maps paths to them. `model`
// and `version` are path segments as received ("" version: the server's
// choice). An infer request's deadline is its "timeout" parameter (Triton's
// schedule policy extension, microseconds): past it, 504.
// Thread-safety: every method may be called concurrently.
#pragma once

#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "core/inference_server.h"
#include "core/thread_annotations.h"
#include "http/http_handler.h"

namespace protoserve {

class KServeRest {
 public:
  // `server` must outlive this object.
  explicit KServeRest(const InferenceServer* server) : server_(server) {}
  ~KServeRest();  // waits for model loads/unloads in progress

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
  const InferenceServer* const server_;

  Mutex control_mu_;
  std::vector<std::future<void>> control_tasks_ GUARDED_BY(control_mu_);  // loads/unloads running
};

// Load/unload requests running at once beyond this are refused with 429.
inline constexpr size_t kMaxModelControlTasks = 4;

// The header of Triton's binary tensor data extension.
inline constexpr const char* kInferenceHeaderContentLength = "Inference-Header-Content-Length";

}  // namespace protoserve
