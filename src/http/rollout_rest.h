// REST twins of protoserve.rollout.v1.Rollout (proto/rollout.proto), the
// same messages as JSON (fields by their proto names):
//   GET  /v2/models/{m}/rollout         the rollout's state, live evidence and decisions
//   POST /v2/models/{m}/rollout/start   body: a RolloutPolicy, e.g.
//                                       {"candidate_version": 2, "steps": [10, 50, 100], "min_feedback": 200}
//   POST /v2/models/{m}/rollout/abort   body: {} or {"reason": "..."}
// start and abort are management calls (http_auth.h), as load/unload.
// Errors: 400 a bad body or policy (naming the field), 404 unknown model or
// no rollout, 400 versions not ready or nothing to
// abort (FAILED_PRECONDITION, 400), 403 management refused, 501 without a
// controller.
#pragma once

#include <string>

#include "core/inference_server.h"
#include "http/http_handler.h"

namespace protoserve {

class RolloutRest {
 public:
  // `server` must outlive this object.
  explicit RolloutRest(const InferenceServer* server) : server_(server) {}

  HttpResponse Get(const std::string& model) const;
  HttpResponse Start(const std::string& model, const HttpRequest& request) const;
  HttpResponse Abort(const std::string& model, const HttpRequest& request) const;

 private:
  const InferenceServer* const server_;
};

}  // namespace protoserve
