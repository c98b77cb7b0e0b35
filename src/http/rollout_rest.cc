#include "http/rollout_rest.h"

#include <google/protobuf/util/json_util.h>

#include "http/http_response.h"
#include "http/proto_json.h"
#include "kserve/rollout_codec.h"

namespace protoserve {

namespace v1 = protoserve::rollout::v1;

namespace {

// The body as `message` (protobuf's JSON mapping; unknown fields refused).
Status ParseBody(std::string_view body, google::protobuf::Message* message) {
  if (body.empty()) return Status::Ok();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(std::string(body), message, options);
  if (!status.ok()) return InvalidArgument("invalid JSON body: " + std::string(status.message()));
  return Status::Ok();
}

HttpResponse Answer(const Status& status, const v1::RolloutStatus& response) {
  if (!status.ok()) return ErrorResponse(status);
  return JsonResponse(200, ProtoToJson(response));
}

}  // namespace

HttpResponse RolloutRest::Get(const std::string& model) const {
  v1::GetRolloutRequest request;
  request.set_model_name(model);
  v1::RolloutStatus response;
  return Answer(GetRolloutCall(*server_, request, &response), response);
}

HttpResponse RolloutRest::Start(const std::string& model, const HttpRequest& http_request) const {
  v1::StartRolloutRequest request;
  v1::RolloutStatus response;
  if (Status s = ParseBody(http_request.body(), request.mutable_policy()); !s.ok()) return ErrorResponse(s);
  request.set_model_name(model);
  if (http_request.body().empty()) request.clear_policy();
  return Answer(StartRolloutCall(*server_, request, &response), response);
}

HttpResponse RolloutRest::Abort(const std::string& model, const HttpRequest& http_request) const {
  v1::AbortRolloutRequest request;
  v1::RolloutStatus response;
  if (Status s = ParseBody(http_request.body(), &request); !s.ok()) return ErrorResponse(s);
  if (!request.model_name().empty() && request.model_name() != model) {
    return ErrorResponse(InvalidArgument("model_name in the body differs from the path's"));
  }
  request.set_model_name(model);
  return Answer(AbortRolloutCall(*server_, request, &response), response);
}

}  // namespace protoserve
