#include "http/typed_rest.h"

#include <google/protobuf/util/json_util.h>

#include "http/http_response.h"
#include "typed/typed_call.h"

namespace protoserve {

void TypedRest::Call(const std::string& model, const std::string& method, const HttpRequest& request,
                     Responder responder) const {
  RequestContext context = HttpRequestContext(request, Api::kHttp);
  context.is_cancelled = responder.CancellationProbe();
  server_->Prepare(&context);
  const std::string& body = request.body();
  auto parse = [&body](google::protobuf::Message* message) -> Status {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(body, message, options);
    if (!status.ok()) {
      return InvalidArgument("invalid JSON for " + message->GetDescriptor()->full_name() + ": " +
                             std::string(status.message()));
    }
    return Status::Ok();
  };
  const std::string id = context.id;
  typed::InferTyped(*server_, model, method, std::move(context), parse,
                    [responder, id](Status status, std::shared_ptr<typed::TypedCall> call, InferResult result) {
                      std::string json;
                      if (status.ok()) {
                        google::protobuf::util::JsonPrintOptions options;
                        options.always_print_primitive_fields = true;
                        options.preserve_proto_field_names = true;
                        auto printed = google::protobuf::util::MessageToJsonString(*call->response, &json, options);
                        if (!printed.ok()) status = Internal("cannot print the response: " + std::string(printed.message()));
                      }
                      HttpResponse response = status.ok() ? JsonResponse(200, std::move(json)) : ErrorResponse(status);
                      response.set(kRequestIdHeader, result.id.empty() ? id : result.id);
                      if (result.scope.traced() && status.ok()) {
                        result.scope.set_response_bytes(static_cast<int64_t>(response.body().size()));
                      }
                      AddTraceResponse(result.scope, response);
                      result.scope.Release();
                      call.reset();
                      responder.Send(std::move(response));
                    });
}

}  // namespace protoserve
