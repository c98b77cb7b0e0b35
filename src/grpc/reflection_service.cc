#include "grpc/reflection_service.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <set>

namespace protoserve {

namespace pb = google::protobuf;
namespace rv = grpc::reflection::v1alpha;

namespace {

void AddFileWithDeps(const pb::FileDescriptor* file, std::set<std::string>* sent, rv::FileDescriptorResponse* out) {
  if (!sent->insert(file->name()).second) return;
  pb::FileDescriptorProto proto;
  file->CopyTo(&proto);
  file->CopySourceCodeInfoTo(&proto);  // comments, when the file was parsed from source (typed APIs)
  proto.SerializeToString(out->add_file_descriptor_proto());
  for (int i = 0; i < file->dependency_count(); ++i) AddFileWithDeps(file->dependency(i), sent, out);
}

void Error(rv::ServerReflectionResponse* response, grpc::StatusCode code, const std::string& message) {
  response->mutable_error_response()->set_error_code(code);
  response->mutable_error_response()->set_error_message(message);
}

}  // namespace

void ReflectionService::Register(CqEngine* engine) {
  engine->AddBidiStream<rv::ServerReflectionRequest, rv::ServerReflectionResponse>(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      [this](grpc::ServerContext*, std::unique_ptr<rv::ServerReflectionRequest> request,
             std::function<void(rv::ServerReflectionResponse)> done) { done(Answer(*request)); });
}

rv::ServerReflectionResponse ReflectionService::Answer(const rv::ServerReflectionRequest& request) const {
  rv::ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  // The typed contracts stay alive (their pools with them) while we read them.
  std::map<std::string, std::shared_ptr<const typed::TypedContract>> contracts;
  if (typed_) contracts = typed_->Contracts();
  std::vector<const pb::DescriptorPool*> pools{pb::DescriptorPool::generated_pool()};
  for (const auto& [model, contract] : contracts) pools.push_back(contract->pool());
  std::set<std::string> sent;
  switch (request.message_request_case()) {
    case rv::ServerReflectionRequest::kListServices: {
      std::set<std::string> names(compiled_services_.begin(), compiled_services_.end());
      for (const auto& [model, contract] : contracts) names.insert(contract->method()->service()->full_name());
      for (const std::string& name : names) response.mutable_list_services_response()->add_service()->set_name(name);
      break;
    }
    case rv::ServerReflectionRequest::kFileByFilename:
      for (const pb::DescriptorPool* pool : pools) {
        if (const pb::FileDescriptor* file = pool->FindFileByName(request.file_by_filename())) {
          AddFileWithDeps(file, &sent, response.mutable_file_descriptor_response());
          return response;
        }
      }
      Error(&response, grpc::StatusCode::NOT_FOUND, "file not found: " + request.file_by_filename());
      break;
    case rv::ServerReflectionRequest::kFileContainingSymbol:
      for (const pb::DescriptorPool* pool : pools) {
        if (const pb::FileDescriptor* file = pool->FindFileContainingSymbol(request.file_containing_symbol())) {
          AddFileWithDeps(file, &sent, response.mutable_file_descriptor_response());
          return response;
        }
      }
      Error(&response, grpc::StatusCode::NOT_FOUND, "symbol not found: " + request.file_containing_symbol());
      break;
    case rv::ServerReflectionRequest::kFileContainingExtension: {
      const auto& ext = request.file_containing_extension();
      for (const pb::DescriptorPool* pool : pools) {
        const pb::Descriptor* type = pool->FindMessageTypeByName(ext.containing_type());
        const pb::FieldDescriptor* field = type ? pool->FindExtensionByNumber(type, ext.extension_number()) : nullptr;
        if (field) {
          AddFileWithDeps(field->file(), &sent, response.mutable_file_descriptor_response());
          return response;
        }
      }
      Error(&response, grpc::StatusCode::NOT_FOUND, "extension not found");
      break;
    }
    case rv::ServerReflectionRequest::kAllExtensionNumbersOfType:
      for (const pb::DescriptorPool* pool : pools) {
        if (const pb::Descriptor* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type())) {
          std::vector<const pb::FieldDescriptor*> extensions;
          pool->FindAllExtensions(type, &extensions);
          auto* out = response.mutable_all_extension_numbers_response();
          out->set_base_type_name(type->full_name());
          for (const auto* e : extensions) out->add_extension_number(e->number());
          return response;
        }
      }
      Error(&response, grpc::StatusCode::NOT_FOUND, "type not found: " + request.all_extension_numbers_of_type());
      break;
    default:
      Error(&response, grpc::StatusCode::INVALID_ARGUMENT, "empty reflection request");
  }
  return response;
}

}  // namespace protoserve
