// KServe v2 metadata messages built from the core: server and model
// metadata, statistics and the repository index. Shared by every front-end
// that speaks KServe v2 (gRPC natively, REST and gRPC-Web as JSON or
// protobuf), so all of them say the same. Protobuf messages only: this layer
// links no gRPC and no HTTP library.
#pragma once

#include <string>

#include "core/model_repository.h"
#include "inference.pb.h"

namespace protoserve {

// Name, version and the KServe extensions this server implements.
void FillServerMetadata(inference::ServerMetadataResponse* response);
Status FillModelMetadata(const ModelRepository& repository, const std::string& name, int64_t version,
                         inference::ModelMetadataResponse* response);
Status FillModelStatistics(const ModelRepository& repository, const std::string& name, int64_t version,
                           inference::ModelStatisticsResponse* response);
void FillRepositoryIndex(const ModelRepository& repository, bool ready_only, inference::RepositoryIndexResponse* response);

}  // namespace protoserve
