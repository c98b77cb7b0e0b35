#include "grpc/recommender_service.h"

#include "core/feedback_loop.h"
#include "grpc/grpc_status.h"
#include "grpc/trace_metadata.h"
#include "typed/typed_call.h"

namespace protoserve {

namespace {

const std::string kGetRecommendations = "/Recommender/GetRecommendations";
const std::string kStreamRecommendations = "/Recommender/StreamRecommendations";
const std::string kSendFeedback = "/Recommender/SendFeedback";

RequestContext CallContext(const InferenceServer& server, grpc::ServerContext* context,
                           const RecommendationRequest& request) {
  RequestContext call{{}, Api::kGrpc, SteadyDeadline(*context), [context] { return context->IsCancelled(); }, {}, {}, -1};
  call.operation = "GetRecommendations";
  if (server.tracing()) {
    ReadTraceMetadata(*context, &call);
    call.request_bytes = static_cast<int64_t>(request.ByteSizeLong());
  }
  return call;
}

// A client's x-request-id metadata becomes the request id (RecommendationResponse.request_id)
// and comes back as trailing metadata too, for clients built from the seed's
// file, whose response has no id field (nothing is added otherwise, keeping
// the hot path free of per-call metadata). Unary calls only: the messages of
// a stream each get an id of their own.
std::string ClientRequestId(grpc::ServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto id = metadata.find("x-request-id");
  if (id == metadata.end()) return {};
  std::string value(id->second.data(), id->second.size());
  if (!IsValidRequestId(value)) return {};
  context->AddTrailingMetadata("x-request-id", value);
  return value;
}

}  // namespace

void RecommenderService::Register(CqEngine* engine) {
  engine->AddUnary<RecommendationRequest, RecommendationResponse>(
      kGetRecommendations, [this](RecommendCall* call) { GetRecommendations(call); }, {.slots = 16});
  engine->AddBidiStream<RecommendationRequest, RecommendationResponse>(
      kStreamRecommendations,
      [this](grpc::ServerContext* context, std::unique_ptr<RecommendationRequest> request,
             std::function<void(RecommendationResponse)> done) {
        StreamRecommendation(context, std::move(request), std::move(done));
      });
  engine->AddUnary<RecommendationFeedback, RecommendationFeedbackResponse>(
      kSendFeedback, [this](FeedbackCall* call) { SendFeedback(call); });
}

void RecommenderService::StreamRecommendation(grpc::ServerContext* context,
                                              std::unique_ptr<RecommendationRequest> request,
                                              std::function<void(RecommendationResponse)> done) const {
  // Both messages live until the answer is handed over.
  std::shared_ptr<const RecommendationRequest> message(std::move(request));
  auto response = std::make_shared<RecommendationResponse>();
  typed::InferCompiled(*server_, default_model_, kStreamRecommendations, CallContext(*server_, context, *message),
                       *message, response.get(),
                       [server = server_, default_model = &default_model_, message, response, done = std::move(done)](
                           Status status, InferResult result) {
                         if (!status.ok()) {
                           response->Clear();
                           typed::SetCompiledError(*server, *default_model, kStreamRecommendations, status,
                                                   response.get());
                         }
                         result.scope.Release();
                         done(std::move(*response));
                       });
}

void RecommenderService::GetRecommendations(RecommendCall* call) const {
  grpc::ServerContext* context = call->context();
  RequestContext request_context = CallContext(*server_, context, call->request());
  request_context.id = ClientRequestId(context);  // echoed in the trailers when the client sent one
  // The id the server makes goes back in the answer's request_id only: an
  // x-request-id trailer as well cost a traced call ~8% of its CPU
  // (bench/tracing_bench.py at ratio 0.01; docs/observability.md).
  typed::InferCompiled(*server_, default_model_, kGetRecommendations, std::move(request_context), call->request(),
                       call->response(), [call](Status status, InferResult result) {
                         if (result.scope.traced()) {
                           if (status.ok()) {
                             result.scope.set_response_bytes(static_cast<int64_t>(call->response()->ByteSizeLong()));
                           }
                           AddTraceTrailers(call->context(), result.scope, {});
                         }
                         result.scope.Release();
                         call->Finish(ToGrpcStatus(status));
                       });
}

void RecommenderService::SendFeedback(FeedbackCall* call) const {
  FeedbackLoop* loop = server_->feedback_loop();
  if (!loop) {
    call->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "feedback is not enabled on this server"));
    return;
  }
  const RecommendationFeedback& request = call->request();
  RecommendationFeedbackQuery query;
  query.request_id = request.request_id();
  query.user_id = request.user_id();
  query.clicked.assign(request.clicked_item_ids().begin(), request.clicked_item_ids().end());
  query.bought.assign(request.bought_item_ids().begin(), request.bought_item_ids().end());
  query.time_unix_ms = request.time_unix_ms();
  auto result = loop->RecommendationFeedback(query);
  if (result.ok()) {
    RecommendationFeedbackResponse* response = call->response();
    response->set_request_id(result->request_id);
    response->set_model_name(result->model);
    response->set_model_version(result->version);
    response->set_matched_items(static_cast<int32_t>(result->matched_items));
  }
  call->Finish(ToGrpcStatus(result.status()));
}

}  // namespace protoserve
