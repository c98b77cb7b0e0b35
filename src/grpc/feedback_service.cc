#include "grpc/feedback_service.h"

#include "core/feedback_loop.h"
#include "grpc/grpc_status.h"

namespace protoserve {

namespace v1 = protoserve::feedback::v1;

namespace {

const Status kNoFeedbackLoop(StatusCode::kUnimplemented, "feedback is not enabled on this server");

Status SendFeedback(FeedbackLoop* loop, const v1::FeedbackRequest* request, v1::FeedbackResponse* response) {
  if (!loop) return kNoFeedbackLoop;
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
  return result.status();
}

Status GetEvaluation(FeedbackLoop* loop, const v1::EvaluationRequest* request, v1::EvaluationResponse* response) {
  if (!loop) return kNoFeedbackLoop;
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
  return versions.status();
}

}  // namespace

void FeedbackService::Register(CqEngine* engine) {
  const InferenceServer* server = server_;
  engine->AddUnary<v1::FeedbackRequest, v1::FeedbackResponse>(
      "/protoserve.feedback.v1.Feedback/SendFeedback",
      [server](UnaryCall<v1::FeedbackRequest, v1::FeedbackResponse>* call) {
        call->Finish(ToGrpcStatus(SendFeedback(server->feedback_loop(), &call->request(), call->response())));
      });
  engine->AddUnary<v1::EvaluationRequest, v1::EvaluationResponse>(
      "/protoserve.feedback.v1.Feedback/GetEvaluation",
      [server](UnaryCall<v1::EvaluationRequest, v1::EvaluationResponse>* call) {
        call->Finish(ToGrpcStatus(GetEvaluation(server->feedback_loop(), &call->request(), call->response())));
      });
}

}  // namespace protoserve
