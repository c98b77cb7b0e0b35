#include "grpc/recommender_service.h"

#include "grpc/grpc_status.h"
#include "grpc/ordered_stream.h"

namespace protoserve {

namespace {

RecommendationQuery ToQuery(const RecommendationRequest& request, grpc::CallbackServerContext* context) {
  RecommendationQuery query;
  query.user_id = request.user_id();
  query.features = std::span<const float>(request.features().data(), request.features_size());
  query.top_k = request.top_k();
  query.exclude_item_ids.assign(request.exclude_item_ids().begin(), request.exclude_item_ids().end());
  query.model_name = request.model_name();
  query.model_version = request.model_version();
  query.deadline = SteadyDeadline(*context);
  query.is_cancelled = [context] { return context->IsCancelled(); };
  return query;
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
  RecommendationStream(const RecommendationEngine* engine, Metrics* metrics, grpc::CallbackServerContext* context)
      : engine_(engine), metrics_(metrics), context_(context) {}

 private:
  void Process(std::unique_ptr<RecommendationRequest> request,
               std::function<void(RecommendationResponse)> done) override {
    auto inflight = std::make_shared<InFlightGuard>(metrics_, Api::kGrpc);
    auto finish = [done, inflight](Status status, Recommendation result) {
      RecommendationResponse response;
      if (status.ok()) {
        FillResponse(std::move(result), &response);
      } else {
        response.set_error_message(status.ToString());
      }
      done(std::move(response));
    };
    // Recommend() copies what it needs from the request before returning.
    Status status = engine_->Recommend(ToQuery(*request, context_), finish);
    if (!status.ok()) finish(status, {});
  }

  const RecommendationEngine* const engine_;
  Metrics* const metrics_;
  grpc::CallbackServerContext* const context_;
};

}  // namespace

grpc::ServerBidiReactor<RecommendationRequest, RecommendationResponse>* RecommenderService::StreamRecommendations(
    grpc::CallbackServerContext* context) {
  auto* stream = new RecommendationStream(recommender_, metrics_, context);
  stream->Begin();
  return stream;
}

grpc::ServerUnaryReactor* RecommenderService::GetRecommendations(grpc::CallbackServerContext* context,
                                                                 const RecommendationRequest* request,
                                                                 RecommendationResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto inflight = std::make_shared<InFlightGuard>(metrics_, Api::kGrpc);
  Status status = recommender_->Recommend(ToQuery(*request, context), [reactor, response, inflight](
                                                                           Status status, Recommendation result) {
    if (status.ok()) FillResponse(std::move(result), response);
    reactor->Finish(ToGrpcStatus(status));
  });
  if (!status.ok()) reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace protoserve
