// Helpers shared by protoserve-cli commands: channels, deadlines, errors.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/read_file.h"

namespace CLI {
class App;
}

namespace protoserve::cli {

struct ConnectionOptions {
  // HOST:PORT; or several, comma-separated ("10.0.0.1:8001,10.0.0.2:8001");
  // or a gRPC target URI ("dns:///protoserve-headless:8001", "ipv4:...").
  std::string target = "127.0.0.1:8001";
  double timeout_secs = 10;
  // TLS when `tls` or any file is set: the server is verified against
  // tls_ca (else the system roots); tls_cert/tls_key are the client
  // certificate for mutual TLS; tls_server_name overrides the name checked
  // in the server certificate (e.g. when dialling an IP address).
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  // File holding the bearer token sent as `authorization: Bearer ...` on
  // every call; when empty, $PROTOSERVE_AUTH_TOKEN (if set). Never a flag
  // value: command lines are visible to other users in `ps`.
  std::string auth_token_file;
};

// Adds --tls, --tls-ca, --tls-cert, --tls-key, --tls-server-name and
// --auth-token-file to `app`, stored in `options`.
void AddConnectionFlags(CLI::App* app, ConnectionOptions* options);

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

// Throws std::runtime_error for unreadable TLS files or a cert without key.
std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options);
// Sets the call's deadline and, when a token is configured, its
// authorization metadata. Throws std::runtime_error for an unreadable token file.
void SetDeadline(grpc::ClientContext* context, const ConnectionOptions& options);

// Prints {"error": {"code": ..., "message": ...}} to stderr and returns the
// process exit code for a failed call (1).
int PrintRpcError(const grpc::Status& status);
void PrintJson(const nlohmann::json& value);


// Parses "0.1,0.2,..." or "@file" (the file holds the same list, or a JSON array).
std::vector<float> ParseFloatList(const std::string& text);

}  // namespace protoserve::cli
