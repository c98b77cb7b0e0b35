#include "core/request_observer.h"

namespace protoserve {

const char* ApiName(Api api) {
  switch (api) {
    case Api::kGrpc: return "grpc";
    case Api::kHttp: return "http";
    case Api::kShadow: return "shadow";
  }
  return "unknown";
}

}  // namespace protoserve
