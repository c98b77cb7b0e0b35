// Helpers shared by protoserve-cli commands: channels, deadlines, errors.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace protoserve::cli {

struct ConnectionOptions {
  // HOST:PORT; or several, comma-separated ("10.0.0.1:8001,10.0.0.2:8001");
  // or a gRPC target URI ("dns:///protoserve-headless:8001", "ipv4:...").
  std::string target = "127.0.0.1:8001";
  double timeout_secs = 10;
};

// How MakeChannel dials a --target: the gRPC target URI and whether calls
// are spread per call over every address (round_robin) or go to one
// (gRPC's default, pick_first).
struct ChannelTarget {
  std::string uri;
  bool round_robin = false;
};

// A single HOST:PORT is passed through unchanged (pick_first, as before).
// Several comma-separated HOST:PORT become one `ipv4:` (or `ipv6:`) URI;
// host names among them are resolved once, here. A `dns:`, `ipv4:` or
// `ipv6:` URI is used as is. In the last two cases the channel balances
// each call round-robin over all addresses, e.g. over the pods behind a
// Kubernetes headless Service (`dns:///protoserve-headless:8001`).
// Throws std::invalid_argument for an entry without a port, a name that
// does not resolve, or a list mixing IPv4 and IPv6 addresses.
ChannelTarget ParseChannelTarget(const std::string& target);

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options);
void SetDeadline(grpc::ClientContext* context, const ConnectionOptions& options);

// Prints {"error": {"code": ..., "message": ...}} to stderr and returns the
// process exit code for a failed call (1).
int PrintRpcError(const grpc::Status& status);
void PrintJson(const nlohmann::json& value);

// Parses "0.1,0.2,..." or "@file" (the file holds the same list, or a JSON array).
std::vector<float> ParseFloatList(const std::string& text);

}  // namespace protoserve::cli
