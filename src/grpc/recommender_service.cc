#include "grpc/recommender_service.h"

#include "core/feedback_loop.h"
#include "grpc/grpc_status.h"
#include "grpc/ordered_stream.h"
#include "grpc/trace_metadata.h"

namespace protoserve {

namespace {

RecommendationQuery ToQuery(const RecommendationRequest& request) {
  RecommendationQuery query;
  query.user_id = request.user_id();
  query.features = std::span<const float>(request.features().data(), request.features_size());
  query.top_k = request.top_k();
  query.exclude_item_ids.assign(request.exclude_item_ids().begin(), request.exclude_item_ids().end());
  query.model_name = request.model_name();
  query.model_version = request.model_version();
  return query;
}

RequestContext CallContext(const InferenceServer& server, grpc::CallbackServerContext* context,
                           const RecommendationRequest& request) {
  RequestContext call{{}, Api::kGrpc, SteadyDeadline(*context), [context] { return context->IsCancelled(); }, {}, {}, -1};
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
std::string ClientRequestId(grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto id = metadata.find("x-request-id");
  if (id == metadata.end()) return {};
  std::string value(id->second.data(), id->second.size());
  if (!IsValidRequestId(value)) return {};
  context->AddTrailingMetadata("x-request-id", value);
  return value;
}

void FillResponse(Recommendation result, RecommendationResponse* response) {
  response->mutable_item_ids()->Reserve(result.item_ids.size());
  for (auto& id : result.item_ids) response->add_item_ids(std::move(id));
  response->mutable_scores()->Add(result.scores.begin(), result.scores.end());
  response->set_model_name(result.model_name);
  response->set_model_version(result.model_version);
  response->set_request_id(std::move(result.request_id));
}

class RecommendationStream final : public OrderedStreamReactor<RecommendationRequest, RecommendationResponse> {
 public:
  RecommendationStream(const InferenceServer* server, grpc::CallbackServerContext* context)
      : server_(server), context_(context) {}

 private:
  void Process(std::unique_ptr<RecommendationRequest> request,
               std::function<void(RecommendationResponse)> done) override {
    // Recommend() copies what it needs from the request before returning.
    server_->Recommend(CallContext(*server_, context_, *request), ToQuery(*request),
                       [done](Status status, Recommendation result, RequestScope scope) {
                         RecommendationResponse response;
                         if (status.ok()) {
                           FillResponse(std::move(result), &response);
                         } else {
                           response.set_error_message(status.ToString());
                         }
                         scope.Release();
                         done(std::move(response));
                       });
  }

  const InferenceServer* const server_;
  grpc::CallbackServerContext* const context_;
};

}  // namespace

grpc::ServerBidiReactor<RecommendationRequest, RecommendationResponse>* RecommenderService::StreamRecommendations(
    grpc::CallbackServerContext* context) {
  auto* stream = new RecommendationStream(server_, context);
  stream->Begin();
  return stream;
}

grpc::ServerUnaryReactor* RecommenderService::GetRecommendations(grpc::CallbackServerContext* context,
                                                                 const RecommendationRequest* request,
                                                                 RecommendationResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  RequestContext call = CallContext(*server_, context, *request);
  call.id = ClientRequestId(context);  // echoed in the trailers when the client sent one
  // The id the server makes goes back in the answer's request_id only: an
  // x-request-id trailer as well cost a traced call ~8% of its CPU
  // (bench/tracing_bench.py at ratio 0.01; docs/observability.md).
  server_->Recommend(std::move(call), ToQuery(*request),
                     [reactor, response, context](Status status, Recommendation result, RequestScope scope) {
                       if (status.ok()) FillResponse(std::move(result), response);
                       if (scope.traced()) {
                         if (status.ok()) scope.set_response_bytes(static_cast<int64_t>(response->ByteSizeLong()));
                         AddTraceTrailers(context, scope, {});
                       }
                       scope.Release();
                       reactor->Finish(ToGrpcStatus(status));
                     });
  return reactor;
}

}  // namespace protoserve

namespace protoserve {

grpc::ServerUnaryReactor* RecommenderService::SendFeedback(grpc::CallbackServerContext* context,
                                                           const RecommendationFeedback* request,
                                                           RecommendationFeedbackResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FeedbackLoop* loop = server_->feedback_loop();
  if (!loop) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "feedback is not enabled on this server"));
    return reactor;
  }
  RecommendationFeedbackQuery query;
  query.request_id = request->request_id();
  query.user_id = request->user_id();
  query.clicked.assign(request->clicked_item_ids().begin(), request->clicked_item_ids().end());
  query.bought.assign(request->bought_item_ids().begin(), request->bought_item_ids().end());
  query.time_unix_ms = request->time_unix_ms();
  auto result = loop->RecommendationFeedback(query);
  if (result.ok()) {
    response->set_request_id(result->request_id);
    response->set_model_name(result->model);
    response->set_model_version(result->version);
    response->set_matched_items(static_cast<int32_t>(result->matched_items));
  }
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

}  // namespace protoserve
