// protoserve-cli proto MODEL: prints the typed contract a model declares
// (docs/typed-apis.md), as .proto text, for stub generation. Over the wire
// only: the model's config (KServe ModelConfig) names the service, server
// reflection hands over its file descriptors.
#pragma once

#include <string>

#include "cli/cli_common.h"

namespace protoserve::cli {

int PrintProto(const ConnectionOptions& connection, const std::string& model);

}  // namespace protoserve::cli
