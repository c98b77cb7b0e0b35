// Protobuf messages as JSON, the way Triton's REST API shows them: fields
// by their proto names, 64-bit integers as JSON numbers (protobuf's own
// JSON printer quotes them), enums by name, maps as objects, bytes as
// base64, wrapper types (google.protobuf.*Value) as their value. Scalars
// are always written (proto3 has no presence); message fields and oneof
// members only when set. Used for the REST twins of
// ModelMetadata, ModelConfig, ModelStatistics and RepositoryIndex, whose
// content the gRPC service's Fill* functions produce.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "http/json.h"

namespace protoserve {

void WriteProtoJson(const google::protobuf::Message& message, json::Writer& writer);
std::string ProtoToJson(const google::protobuf::Message& message);

}  // namespace protoserve
