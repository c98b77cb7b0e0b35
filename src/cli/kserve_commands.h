// protoserve-cli commands over the KServe v2 gRPC API: `models` and `infer`.
#pragma once

#include <string>
#include <vector>

#include "cli/cli_common.h"

namespace protoserve::cli {

int ListModels(const ConnectionOptions& connection);

struct InferArgs {
  std::string model;
  std::string version;
  // Each "name:DTYPE:d1,d2,...:DATA" with DATA a JSON array, @file.json or @file.npy.
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;  // "name" or "name:classification=K"
  bool raw = true;                   // raw_input_contents (else typed contents)
};

int Infer(const ConnectionOptions& connection, const InferArgs& args);

}  // namespace protoserve::cli
