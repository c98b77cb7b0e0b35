#include "core/inference_server.h"

#include <random>

#include "core/classification.h"
#include "core/feedback_loop.h"
#include "core/shadow.h"

namespace protoserve {

namespace {

// Parses a version as it comes on the wire: "" or "0" is the server's choice.
StatusOr<int64_t> VersionNumber(std::string_view version) { return ParseModelVersion(std::string(version)); }

Status CheckName(const std::string& name) {
  if (!IsValidModelName(name)) return InvalidArgument("invalid model name '" + name + "'");
  return Status::Ok();
}

}  // namespace

std::string MakeRequestId() {
  static const uint64_t process_salt = [] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }();
  static std::atomic<uint64_t> counter{0};
  const uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  // splitmix64 of the counter: ids look random, yet never repeat in a process.
  uint64_t z = n + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(process_salt >> (60 - 4 * i)) & 15];
    id[16 + i] = kHex[(z >> (60 - 4 * i)) & 15];
  }
  return id;
}

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

InferenceServer::InferenceServer(ModelRepository* repository, Metrics* metrics, ServerOptions options)
    : repository_(repository), metrics_(metrics), options_(options) {}

bool InferenceServer::Ready() const { return state_.load() == ServerState::kReady && repository_->AllReady(); }

void InferenceServer::Prepare(RequestContext* context) const {
  if (!IsValidRequestId(context->id)) context->id = MakeRequestId();
  if (context->deadline == Clock::time_point::max() && options_.default_timeout.count() > 0) {
    context->deadline = Clock::now() + options_.default_timeout;
  }
}

RequestScope InferenceServer::Refused(RequestContext* context, const Status& status) const {
  Prepare(context);
  RequestScope scope;
  if (options_.tracer) scope.FinishTraceOnRelease(options_.tracer, StartTrace(*context), status);
  return scope;
}

std::shared_ptr<RequestTrace> InferenceServer::StartTrace(const RequestContext& context) const {
  auto trace =
      options_.tracer->Start(context.traceparent, context.tracestate, context.id, context.api, context.operation);
  trace->request_bytes = context.request_bytes;
  return trace;
}

void InferenceServer::Infer(RequestContext context, const std::string& name, std::string_view version,
                            const Decode& decode, InferDone done) const {
  Prepare(&context);
  std::shared_ptr<RequestTrace> trace;
  if (options_.tracer) {
    trace = StartTrace(context);
    trace->model = name;
    done = [tracer = options_.tracer, trace, done = std::move(done)](Status status, InferResult result) {
      if (result.model) trace->version = result.model->version();
      trace->request_id = result.id;
      trace->encode_start = Clock::now();
      result.scope.FinishTraceOnRelease(tracer, trace, status);
      done(std::move(status), std::move(result));
    };
  }
  const Clock::time_point start = feedback_loop_ ? Clock::now() : Clock::time_point();
  InferResult result;
  result.id = context.id;
  auto fail = [&](Status status) { done(std::move(status), std::move(result)); };
  if (Status s = CheckName(name); !s.ok()) return fail(s);
  auto number = VersionNumber(version);
  if (!number.ok()) return fail(number.status());
  // The model first: an unknown model is NOT_FOUND whatever the body holds.
  auto target = repository_->Get(name, *number);
  if (!target.ok()) return fail(target.status());
  if (trace) trace->decode_start = Clock::now();
  auto decoded = decode(**target);
  if (trace) trace->decode_end = Clock::now();
  if (!decoded.ok()) return fail(decoded.status());
  if (IsValidRequestId(decoded->id)) result.id = decoded->id;
  // Routing may pick another version than the probe above (traffic split).
  auto route = repository_->Route(name, *number, decoded->routing_key);
  if (!route.ok()) return fail(route.status());
  if (trace) {
    trace->NoteRoute(*number, route->split, route->primary->version(), route->shadow ? route->shadow->version() : 0);
  }

  result.scope = RequestScope(metrics_, context.api);
  InferenceRequest request = std::move(decoded->request);
  request.deadline = decoded->deadline != Clock::time_point::max() ? decoded->deadline : context.deadline;
  request.is_cancelled = std::move(context.is_cancelled);
  request.api = context.api;
  request.trace = trace.get();
  std::shared_ptr<const ItemRanking> ranking = std::move(decoded->ranking);
  std::function<void(const InferenceResponse&)> compare;
  std::function<void(const RankedItems&)> compare_items;
  if (route->shadow && ranking) {
    compare_items = MirrorRankingToShadow(request, *route->primary, route->shadow, ranking, metrics_);
  } else if (route->shadow) {
    compare = MirrorToShadow(request, *route->primary, route->shadow, metrics_, decoded->inputs_are_views);
  }
  std::shared_ptr<ModelVersion> primary = route->primary;
  ModelVersion* raw = primary.get();
  // One shared holder: moved into the callback on success, used by the refusal path otherwise.
  auto pending = std::make_shared<InferResult>(std::move(result));
  pending->model = std::move(primary);
  // The prediction log: recorded before the client has its answer (its feedback cannot come first).
  std::string routing_key = feedback_loop_ ? std::move(decoded->routing_key) : std::string();
  Status queued = raw->Infer(std::move(request), [pending, compare = std::move(compare),
                                                  compare_items = std::move(compare_items),
                                                  ranking = std::move(ranking), done, loop = feedback_loop_,
                                                  api = context.api, start,
                                                  routing_key = std::move(routing_key)](
                                                     Status status, InferenceResponse response) {
    if (status.ok() && ranking) {
      auto items = RankItems(*pending->model, response, *ranking);
      if (items.ok()) {
        pending->items = std::move(items).value();
        if (compare_items) compare_items(pending->items);
      } else {
        status = items.status();
      }
    }
    if (status.ok() && compare) compare(response);
    if (status.ok() && loop) {
      if (ranking) {
        loop->OnRecommendation(pending->id, api, routing_key, *pending->model, pending->items.item_ids,
                               Clock::now() - start);
      } else {
        loop->OnInference(pending->id, api, routing_key, *pending->model, response, Clock::now() - start);
      }
    }
    pending->response = std::move(response);
    done(std::move(status), std::move(*pending));
  });
  if (!queued.ok()) done(std::move(queued), std::move(*pending));
}

StatusOr<bool> InferenceServer::ModelReady(const std::string& name, std::string_view version) const {
  RETURN_IF_ERROR(CheckName(name));
  ASSIGN_OR_RETURN(int64_t number, VersionNumber(version));
  auto ready = repository_->Get(name, number);
  const StatusCode code = ready.status().code();
  // Known but not ready (loading, failed, or no such version) is an answer,
  // not an error; an unknown model is NOT_FOUND.
  if (!ready.ok() && code != StatusCode::kUnavailable && code != StatusCode::kNotFound) return ready.status();
  if (code == StatusCode::kNotFound && !repository_->Config(name).ok()) return ready.status();
  return ready.ok();
}

StatusOr<ModelConfig> InferenceServer::Config(const std::string& name, std::string_view version) const {
  RETURN_IF_ERROR(CheckName(name));
  ASSIGN_OR_RETURN(int64_t number, VersionNumber(version));
  ASSIGN_OR_RETURN(ModelConfig config, repository_->Config(name));
  if (number != 0) RETURN_IF_ERROR(repository_->Get(name, number).status());
  return config;
}

Status InferenceServer::CheckModelControl() const {
  if (!options_.explicit_control) {
    return Unavailable("explicit model load/unload is not allowed: the server does not run with "
                       "--model-control-mode=explicit");
  }
  if (!options_.management_refused.empty()) return Status(StatusCode::kPermissionDenied, options_.management_refused);
  return Status::Ok();
}

Status InferenceServer::CheckManagement() const {
  if (!options_.management_refused.empty()) return Status(StatusCode::kPermissionDenied, options_.management_refused);
  return Status::Ok();
}

Status InferenceServer::LoadModel(const std::string& name, bool has_parameters) const {
  RETURN_IF_ERROR(CheckModelControl());
  RETURN_IF_ERROR(CheckName(name));
  if (has_parameters) return InvalidArgument("load parameters (config/file overrides) are not supported");
  return repository_->Sync(name);
}

Status InferenceServer::UnloadModel(const std::string& name) const {
  RETURN_IF_ERROR(CheckModelControl());
  RETURN_IF_ERROR(CheckName(name));
  return repository_->Unload(name);
}

}  // namespace protoserve
