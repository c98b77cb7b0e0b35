#include "cli/proto_command.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>

#include <iostream>

#include "inference.grpc.pb.h"
#include "reflection.grpc.pb.h"

namespace protoserve::cli {

namespace rv = grpc::reflection::v1alpha;

int PrintProto(const ConnectionOptions& connection, const std::string& model) {
  auto channel = MakeChannel(connection);
  std::string method;
  {
    auto stub = inference::GRPCInferenceService::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(&context, connection);
    inference::ModelConfigRequest request;
    request.set_name(model);
    inference::ModelConfigResponse response;
    grpc::Status status = stub->ModelConfig(&context, request, &response);
    if (!status.ok()) return PrintRpcError(status);
    auto it = response.config().parameters().find("typed.method");
    if (it == response.config().parameters().end()) {
      std::cerr << "model '" << model << "' declares no typed API (no typed.method parameter)" << std::endl;
      return 1;
    }
    method = it->second.string_value();
  }
  const std::string service = method.substr(0, method.find('/'));
  auto stub = rv::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context, connection);
  auto stream = stub->ServerReflectionInfo(&context);
  rv::ServerReflectionRequest request;
  request.set_file_containing_symbol(service);
  rv::ServerReflectionResponse response;
  if (!stream->Write(request) || !stream->Read(&response)) return PrintRpcError(stream->Finish());
  stream->WritesDone();
  if (response.has_error_response()) {
    std::cerr << "reflection: " << response.error_response().error_message() << std::endl;
    return 1;
  }
  google::protobuf::SimpleDescriptorDatabase database;
  for (const std::string& raw : response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    if (!file.ParseFromString(raw) || !database.Add(file)) {
      std::cerr << "reflection: an unreadable file descriptor" << std::endl;
      return 1;
    }
  }
  google::protobuf::DescriptorPool pool(&database);
  const google::protobuf::ServiceDescriptor* descriptor = pool.FindServiceByName(service);
  if (!descriptor) {
    std::cerr << "reflection: the server did not describe " << service << std::endl;
    return 1;
  }
  // The service's file, then the files it imports (well-known types aside).
  std::cout << "// " << descriptor->file()->name() << " (model '" << model << "', method " << method << ")\n"
            << descriptor->file()->DebugString();
  for (int i = 0; i < descriptor->file()->dependency_count(); ++i) {
    const auto* dep = descriptor->file()->dependency(i);
    if (dep->name().rfind("google/protobuf/", 0) == 0) continue;
    std::cout << "\n// " << dep->name() << "\n" << dep->DebugString();
  }
  return 0;
}

}  // namespace protoserve::cli
