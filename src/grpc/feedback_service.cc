#include "grpc/feedback_service.h"

#include "core/feedback_loop.h"
#include "grpc/grpc_status.h"

namespace protoserve {

namespace v1 = protoserve::feedback::v1;

namespace {

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, const Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

const Status kNoFeedbackLoop(StatusCode::kUnimplemented, "feedback is not enabled on this server");

}  // namespace

grpc::ServerUnaryReactor* FeedbackService::SendFeedback(grpc::CallbackServerContext* context,
                                                        const v1::FeedbackRequest* request,
                                                        v1::FeedbackResponse* response) {
  FeedbackLoop* loop = server_->feedback_loop();
  if (!loop) return Finish(context, kNoFeedbackLoop);
  ModelFeedbackQuery query;
  query.model = request->model_name();
  query.request_id = request->request_id();
  query.has_label = request->ground_truth_case() == v1::FeedbackRequest::kLabel;
  query.label = request->label();
  query.has_value = request->ground_truth_case() == v1::FeedbackRequest::kValue;
  query.value = request->value();
  query.time_unix_ms = request->time_unix_ms();
  auto result = loop->ModelFeedback(query);
  if (result.ok()) {
    response->set_request_id(result->request_id);
    response->set_model_name(result->model);
    response->set_model_version(result->version);
    response->set_correct(result->correct);
  }
  return Finish(context, result.status());
}

grpc::ServerUnaryReactor* FeedbackService::GetEvaluation(grpc::CallbackServerContext* context,
                                                         const v1::EvaluationRequest* request,
                                                         v1::EvaluationResponse* response) {
  FeedbackLoop* loop = server_->feedback_loop();
  if (!loop) return Finish(context, kNoFeedbackLoop);
  auto versions = loop->Evaluation(request->model_name());
  if (versions.ok()) {
    response->set_model_name(request->model_name());
    for (const VersionEvaluation& v : *versions) {
      const EvaluationCounts& c = v.counts;
      v1::VersionEvaluation* out = response->add_versions();
      out->set_model_version(v.version);
      out->set_predictions(c.predictions);
      out->set_feedback(c.feedback);
      out->set_impressions(c.impressions);
      out->set_clicks(c.clicks);
      out->set_hits(c.hits);
      out->set_ctr(c.ctr());
      out->set_hit_rate(c.hit_rate());
      out->set_labelled(c.labelled);
      out->set_correct(c.correct);
      out->set_accuracy(c.accuracy());
      out->set_log_loss(c.log_loss());
      out->set_valued(c.valued);
      out->set_mae(c.mae());
    }
  }
  return Finish(context, versions.status());
}

}  // namespace protoserve
