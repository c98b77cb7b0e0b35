#include "grpc/recommender_service.h"

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

// The seed's response has no id field: a client that sends x-request-id
// metadata gets it back as trailing metadata (nothing is added otherwise,
// keeping the hot path free of per-call metadata).
void EchoRequestId(grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto id = metadata.find("x-request-id");
  if (id == metadata.end()) return;
  const std::string value(id->second.data(), id->second.size());
  if (IsValidRequestId(value)) context->AddTrailingMetadata("x-request-id", value);
}

void FillResponse(Recommendation result, RecommendationResponse* response) {
  response->mutable_item_ids()->Reserve(result.item_ids.size());
  for (auto& id : result.item_ids) response->add_item_ids(std::move(id));
  response->mutable_scores()->Add(result.scores.begin(), result.scores.end());
  response->set_model_name(result.model_name);
  response->set_model_version(result.model_version);
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
  std::string id;  // traced calls: the id for the trailers (made here when the client sent none)
  if (server_->tracing()) {
    server_->Prepare(&call);
    id = call.id;
  } else {
    EchoRequestId(context);
  }
  server_->Recommend(std::move(call), ToQuery(*request),
                     [reactor, response, context, id = std::move(id)](Status status, Recommendation result,
                                                                RequestScope scope) {
                       if (status.ok()) FillResponse(std::move(result), response);
                       if (scope.traced()) {
                         if (status.ok()) scope.set_response_bytes(static_cast<int64_t>(response->ByteSizeLong()));
                         AddTraceTrailers(context, scope, id);
                       }
                       scope.Release();
                       reactor->Finish(ToGrpcStatus(status));
                     });
  return reactor;
}

}  // namespace protoserve
