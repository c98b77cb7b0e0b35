#include "cli/cli_common.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace protoserve::cli {

namespace {

std::string Trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

bool StartsWith(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// One "HOST:PORT" or "[V6]:PORT" of a comma-separated list, as an address
// literal of the ipv4: or ipv6: scheme.
struct Endpoint {
  bool v6 = false;
  std::string address;  // "1.2.3.4:80" or "[::1]:80"
};

Endpoint ResolveEndpoint(const std::string& entry) {
  std::string host, port;
  if (StartsWith(entry, "[")) {
    const auto close = entry.find(']');
    if (close == std::string::npos || close + 1 >= entry.size() || entry[close + 1] != ':') {
      throw std::invalid_argument("--target: expected [V6]:PORT, got '" + entry + "'");
    }
    host = entry.substr(1, close - 1);
    port = entry.substr(close + 2);
  } else {
    const auto colon = entry.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      throw std::invalid_argument("--target: expected HOST:PORT, got '" + entry + "'");
    }
    host = entry.substr(0, colon);
    port = entry.substr(colon + 1);
  }
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
    throw std::invalid_argument("--target: expected HOST:PORT, got '" + entry + "'");
  }
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return {false, host + ":" + port};
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return {true, "[" + host + "]:" + port};
  // A name: resolve it once (the first address, IPv4 preferred). For names
  // that should be re-resolved as pods come and go, use dns:///NAME:PORT.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    throw std::invalid_argument("--target: cannot resolve '" + host + "'");
  }
  Endpoint endpoint;
  bool have = false;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, text, sizeof text);
      endpoint = {false, std::string(text) + ":" + port};
      have = true;
      break;
    }
    if (a->ai_family == AF_INET6 && !have) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, text, sizeof text);
      endpoint = {true, "[" + std::string(text) + "]:" + port};
      have = true;
    }
  }
  freeaddrinfo(found);
  if (!have) throw std::invalid_argument("--target: cannot resolve '" + host + "'");
  return endpoint;
}

}  // namespace

ChannelTarget ParseChannelTarget(const std::string& target) {
  const std::string trimmed = Trim(target);
  for (const char* scheme : {"dns:", "ipv4:", "ipv6:"}) {
    // ...but "dns:8001" is the host "dns", port 8001.
    const std::string rest = trimmed.substr(std::min(trimmed.size(), std::string(scheme).size()));
    if (StartsWith(trimmed, scheme) && rest.find_first_not_of("0123456789") != std::string::npos) {
      return {trimmed, true};
    }
  }
  if (trimmed.find(',') == std::string::npos) return {trimmed, false};
  std::vector<Endpoint> endpoints;
  std::stringstream list(trimmed);
  std::string entry;
  while (std::getline(list, entry, ',')) {
    entry = Trim(entry);
    if (!entry.empty()) endpoints.push_back(ResolveEndpoint(entry));
  }
  if (endpoints.empty()) throw std::invalid_argument("--target: no address in '" + target + "'");
  // gRPC's ipv4: and ipv6: schemes take one family each.
  const bool v6 = endpoints.front().v6;
  std::string uri = v6 ? "ipv6:" : "ipv4:";
  for (size_t i = 0; i < endpoints.size(); ++i) {
    if (endpoints[i].v6 != v6) {
      throw std::invalid_argument("--target: mixes IPv4 and IPv6 addresses; list one family");
    }
    uri += (i ? "," : "") + endpoints[i].address;
  }
  return {uri, true};
}

void AddConnectionFlags(CLI::App* app, ConnectionOptions* options) {
  app->add_flag("--tls", options->tls, "Use TLS, verifying the server with the system's root certificates");
  app->add_option("--tls-ca", options->tls_ca, "PEM root certificates to verify the server (implies TLS)");
  app->add_option("--tls-cert", options->tls_cert, "PEM client certificate, for mutual TLS (with --tls-key)");
  app->add_option("--tls-key", options->tls_key, "PEM client private key, for mutual TLS (with --tls-cert)");
  app->add_option("--tls-server-name", options->tls_server_name, "Name to verify in the server certificate");
  app->add_option("--auth-token-file", options->auth_token_file,
                  "File with the bearer token to send (default: $PROTOSERVE_AUTH_TOKEN)");
}

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options) {
  const ChannelTarget target = ParseChannelTarget(options.target);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  if (target.round_robin) args.SetLoadBalancingPolicyName("round_robin");
  const bool tls = options.tls || !options.tls_ca.empty() || !options.tls_cert.empty() || !options.tls_key.empty();
  if (!tls) return grpc::CreateCustomChannel(target.uri, grpc::InsecureChannelCredentials(), args);
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    throw std::runtime_error("--tls-cert and --tls-key go together");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca.empty()) ssl.pem_root_certs = ReadFile(options.tls_ca);
  if (!options.tls_cert.empty()) {
    ssl.pem_cert_chain = ReadFile(options.tls_cert);
    ssl.pem_private_key = ReadFile(options.tls_key);
  }
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  return grpc::CreateCustomChannel(target.uri, grpc::SslCredentials(ssl), args);
}

void SetDeadline(grpc::ClientContext* context, const ConnectionOptions& options) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(options.timeout_secs * 1000)));
  std::string token;
  if (!options.auth_token_file.empty()) {
    token = ReadFile(options.auth_token_file);
    const auto begin = token.find_first_not_of(" \t\r\n");
    token = begin == std::string::npos ? "" : token.substr(begin, token.find_last_not_of(" \t\r\n") - begin + 1);
  } else if (const char* env = std::getenv("PROTOSERVE_AUTH_TOKEN")) {
    token = env;
  }
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
}

int PrintRpcError(const grpc::Status& status) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                 "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                 "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  const int code = status.error_code();
  nlohmann::json error = {{"error", {{"code", code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN"},
                                     {"message", status.error_message()}}}};
  std::cerr << error.dump(2) << std::endl;
  return 1;
}

void PrintJson(const nlohmann::json& value) { std::cout << value.dump(2) << std::endl; }

std::vector<float> ParseFloatList(const std::string& text) {
  const std::string list = !text.empty() && text[0] == '@' ? ReadFile(text.substr(1)) : text;
  const auto first = list.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && list[first] == '[') return nlohmann::json::parse(list).get<std::vector<float>>();
  std::vector<float> values;
  std::stringstream stream(list);
  std::string item;
  while (std::getline(stream, item, ',')) {
    const auto begin = item.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) continue;
    size_t used = 0;
    values.push_back(std::stof(item.substr(begin), &used));
  }
  return values;
}

}  // namespace protoserve::cli
