// Helpers shared by protoserve-cli commands: channels, deadlines, errors.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace protoserve::cli {

struct ConnectionOptions {
  std::string target = "127.0.0.1:8001";
  double timeout_secs = 10;
};

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options);
void SetDeadline(grpc::ClientContext* context, const ConnectionOptions& options);

// Prints {"error": {"code": ..., "message": ...}} to stderr and returns the
// process exit code for a failed call (1).
int PrintRpcError(const grpc::Status& status);
void PrintJson(const nlohmann::json& value);

// Parses "0.1,0.2,..." or "@file" (the file holds the same list, or a JSON array).
std::vector<float> ParseFloatList(const std::string& text);

}  // namespace protoserve::cli
