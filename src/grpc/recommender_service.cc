#include "grpc/recommender_service.h"

#include "grpc/grpc_status.h"

namespace protoserve {

grpc::ServerUnaryReactor* RecommenderService::GetRecommendations(grpc::CallbackServerContext* context,
                                                                 const RecommendationRequest* request,
                                                                 RecommendationResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto inflight = std::make_shared<InFlightGuard>(metrics_, Api::kGrpc);
  RecommendationQuery query;
  query.user_id = request->user_id();
  query.features = std::span<const float>(request->features().data(), request->features_size());
  query.top_k = request->top_k();
  query.exclude_item_ids.assign(request->exclude_item_ids().begin(), request->exclude_item_ids().end());
  query.model_name = request->model_name();
  query.model_version = request->model_version();
  query.deadline = SteadyDeadline(*context);
  query.is_cancelled = [context] { return context->IsCancelled(); };

  Status status = recommender_->Recommend(std::move(query), [reactor, response, inflight](Status status, Recommendation result) {
    if (status.ok()) {
      response->mutable_item_ids()->Reserve(result.item_ids.size());
      for (auto& id : result.item_ids) response->add_item_ids(std::move(id));
      response->mutable_scores()->Add(result.scores.begin(), result.scores.end());
      response->set_model_name(result.model_name);
      response->set_model_version(result.model_version);
    }
    reactor->Finish(ToGrpcStatus(status));
  });
  if (!status.ok()) reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace protoserve
