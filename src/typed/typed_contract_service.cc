// What a TypedContract declares around its tensor mapping: whether its
// service is compiled into the server (then it works on the generated
// messages), the request fields that choose the model, the response fields
// that tell who answered, and a stream's error field. The mapping itself is
// planned in typed_contract.cc.
#include "typed/parameter_text.h"
#include "typed/typed_contract.h"

namespace protoserve::typed {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

void TypedContract::UseCompiledService() {
  const pb::ServiceDescriptor* service = method_->service();
  const pb::ServiceDescriptor* generated =
      pb::DescriptorPool::generated_pool()->FindServiceByName(service->full_name());
  if (!generated) return;
  // The same file but for its name (the model folder's path): same
  // messages, fields, numbers, types and options.
  pb::FileDescriptorProto loaded, compiled;
  service->file()->CopyTo(&loaded);
  generated->file()->CopyTo(&compiled);
  loaded.clear_name();
  compiled.clear_name();
  if (loaded.SerializeAsString() != compiled.SerializeAsString()) return;
  compiled_ = true;
  method_ = generated->FindMethodByName(method_->name());
  if (stream_method_) stream_method_ = generated->FindMethodByName(stream_method_->name());
}

Status TypedContract::PlanSelectionAndReplies(const ModelConfig& config) {
  const pb::Descriptor* request = method_->input_type();
  const pb::Descriptor* response = method_->output_type();
  auto top_level = [&](const char* parameter, const pb::Descriptor* type, bool want_string,
                       const FD** out) -> Status {
    auto name = ConfigParameter(config, parameter);
    if (!name) return Status::Ok();
    const std::string where = std::string("typed API: ") + parameter;
    const FD* field = type->FindFieldByName(Trim(*name));
    if (!field) {
      return InvalidArgument(where + ": message " + type->full_name() + " has no field '" + Trim(*name) + "'");
    }
    const bool is_string = field->cpp_type() == FD::CPPTYPE_STRING;
    const bool is_integer = field->cpp_type() == FD::CPPTYPE_INT32 || field->cpp_type() == FD::CPPTYPE_INT64 ||
                            field->cpp_type() == FD::CPPTYPE_UINT32 || field->cpp_type() == FD::CPPTYPE_UINT64;
    if (field->is_repeated() || (want_string ? !is_string : !is_integer)) {
      return InvalidArgument(where + ": field '" + field->name() + "' must be a singular " +
                             (want_string ? "string" : "integer") + " field");
    }
    *out = field;
    return Status::Ok();
  };
  RETURN_IF_ERROR(top_level(kModelNameParameter, request, true, &model_name_field_));
  RETURN_IF_ERROR(top_level(kModelVersionParameter, request, false, &model_version_field_));
  const std::string reply = kReplyPrefix;
  RETURN_IF_ERROR(top_level((reply + "model_name").c_str(), response, true, &reply_model_name_));
  RETURN_IF_ERROR(top_level((reply + "model_version").c_str(), response, false, &reply_model_version_));
  RETURN_IF_ERROR(top_level((reply + "request_id").c_str(), response, true, &reply_request_id_));
  RETURN_IF_ERROR(top_level(kErrorFieldParameter, response, true, &error_field_));
  for (const auto& [key, value] : config.parameters()) {
    if (key.starts_with(reply) && key != reply + "model_name" && key != reply + "model_version" &&
        key != reply + "request_id") {
      return InvalidArgument("typed API: unknown parameter '" + key + "' (" + reply + "model_name, " + reply +
                             "model_version or " + reply + "request_id)");
    }
  }
  if (auto style = ConfigParameter(config, kErrorStyleParameter)) {
    if (*style != "field" && *style != "prefix") {
      return InvalidArgument(std::string("typed API: ") + kErrorStyleParameter + " is '" + *style +
                             "' (field or prefix)");
    }
    prefix_errors_ = *style == "prefix";
  }
  return Status::Ok();
}

bool TypedContract::SetError(const Status& status, pb::Message* out) const {
  if (!error_field_) return false;
  out->GetReflection()->SetString(out, error_field_, status.ToString());
  return true;
}

}  // namespace protoserve::typed
